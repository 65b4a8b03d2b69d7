//! The PersistentVolumeClaims of a StatefulSet's pods: created before the pod, kept
//! when it goes unless `persistentVolumeClaimRetentionPolicy` says `Delete`. Deletion
//! is left to the garbage collector through owner references, as in Kubernetes:
//! `whenDeleted: Delete` makes the set an owner of every claim, `whenScaled: Delete`
//! makes a condemned pod the owner of its claims before it is deleted.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::json;
use skiff_core::client::{Api, Client, ClientError, Patch, PatchParams, PostParams};

use super::identity;

/// What the retention policy asks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Delete claims with the set.
    pub delete_with_set: bool,
    /// Delete the claims of pods removed by scaling down.
    pub delete_on_scale_down: bool,
}

impl Retention {
    /// The set's policy (`Retain` for both when unset).
    pub fn of(set: &StatefulSet) -> Retention {
        let policy = set
            .spec
            .as_ref()
            .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
        let is_delete = |v: Option<&String>| v.is_some_and(|v| v == "Delete");
        Retention {
            delete_with_set: is_delete(policy.and_then(|p| p.when_deleted.as_ref())),
            delete_on_scale_down: is_delete(policy.and_then(|p| p.when_scaled.as_ref())),
        }
    }
}

fn owner_of(owner_api_version: &str, kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: owner_api_version.to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
        uid: uid.to_owned(),
        controller: None,
        block_owner_deletion: Some(true),
    }
}

/// Creates the claims of the pod with `ordinal` that do not exist yet.
pub async fn ensure(
    client: &Arc<dyn Client>,
    set: &StatefulSet,
    ordinal: usize,
) -> Result<Vec<String>, ClientError> {
    let ns = set.metadata.namespace.clone().unwrap_or_default();
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
    let retention = Retention::of(set);
    let mut created = Vec::new();
    for mut claim in identity::claims(set, ordinal) {
        if retention.delete_with_set {
            claim.metadata.owner_references = Some(vec![owner_of(
                "apps/v1",
                "StatefulSet",
                set.metadata.name.as_deref().unwrap_or_default(),
                set.metadata.uid.as_deref().unwrap_or_default(),
            )]);
        }
        match api.create(&claim, &PostParams::default()).await {
            Ok(c) => created.push(c.metadata.name.unwrap_or_default()),
            // Kept from an earlier pod of this ordinal: reused, as Kubernetes does.
            Err(e) if e.is_conflict() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(created)
}

/// Makes `pod` the owner of its claims in place of the set, so they go when it goes
/// (scale down with `whenScaled: Delete`).
pub async fn hand_to_pod(
    client: &Arc<dyn Client>,
    set: &StatefulSet,
    pod: &Pod,
    ordinal: usize,
) -> Result<(), ClientError> {
    let ns = set.metadata.namespace.clone().unwrap_or_default();
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
    for claim in identity::claims(set, ordinal) {
        let name = claim.metadata.name.clone().unwrap_or_default();
        let Some(existing) = api.get_opt(&name).await? else {
            continue;
        };
        let mut refs = existing
            .metadata
            .owner_references
            .clone()
            .unwrap_or_default();
        if refs.iter().any(|r| r.uid == pod_uid) {
            continue;
        }
        // The collector deletes a dependent once all its owners are gone: the pod
        // alone must own the claim.
        refs.retain(|r| Some(&r.uid) != set.metadata.uid.as_ref());
        refs.push(owner_of("v1", "Pod", &pod_name, &pod_uid));
        let patch = json!({"metadata": {"ownerReferences": refs,
            "resourceVersion": existing.metadata.resource_version}});
        match api
            .patch(&name, &Patch::Merge(patch), &PatchParams::default())
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_defaults_to_retain() {
        let mut set: StatefulSet = serde_json::from_value(
            json!({"metadata": {"name": "s"}, "spec": {"selector": {}, "template": {}}}),
        )
        .unwrap();
        assert_eq!(Retention::of(&set), Retention::default());
        set.spec
            .as_mut()
            .unwrap()
            .persistent_volume_claim_retention_policy =
            serde_json::from_value(json!({"whenDeleted": "Delete", "whenScaled": "Retain"}))
                .unwrap();
        assert_eq!(
            Retention::of(&set),
            Retention {
                delete_with_set: true,
                delete_on_scale_down: false
            }
        );
    }
}
