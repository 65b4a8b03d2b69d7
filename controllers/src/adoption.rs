//! Adopting and releasing pods, as Kubernetes' `ControllerRefManager` does for every
//! workload controller: an orphan pod that matches an owner's selector gets the
//! owner's controller reference (after the owner is read again, so an owner being
//! deleted adopts nothing); an owned pod that stops matching loses it. Both are
//! compare-and-swap patches on the pod's resourceVersion.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>,
//! #              rs: k8s_openapi::api::apps::v1::ReplicaSet,
//! #              pod: k8s_openapi::api::core::v1::Pod) {
//! let adopted = skiff_controllers::adoption::adopt(&client, &rs, &pod).await;
//! # }
//! ```

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector as MetaSelector, ObjectMeta};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use skiff_core::client::{Api, Client, ClientError, Patch, PatchParams};
use skiff_core::runtime::controller::owner_key;
use skiff_core::runtime::reflector::Store;
use skiff_core::runtime::{controller_of, Object, ObjectRef};
use skiff_core::selector::LabelSelector;

use crate::pods;

/// Takes an orphan pod for `owner`: re-reads the owner to make sure it still exists
/// and is not being deleted (the cache may be behind), then adds its controller
/// reference. Returns whether it adopted.
pub async fn adopt<K>(client: &Arc<dyn Client>, owner: &K, pod: &Pod) -> Result<bool, ClientError>
where
    K: k8s_openapi::Resource
        + k8s_openapi::Metadata<Ty = ObjectMeta>
        + Serialize
        + DeserializeOwned
        + Send
        + 'static,
    K::Scope: 'static,
{
    let meta = owner.metadata();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let owners: Api<K> = Api::namespaced(client.clone(), &ns);
    let fresh = owners
        .get_opt(meta.name.as_deref().unwrap_or_default())
        .await?;
    match fresh {
        Some(f) if f.metadata().uid == meta.uid && f.metadata().deletion_timestamp.is_none() => {}
        _ => return Ok(false),
    }
    let mut refs = pod.metadata.owner_references.clone().unwrap_or_default();
    refs.push(pods::controller_ref(owner));
    let patch = json!({"metadata": {"ownerReferences": refs,
        "resourceVersion": pod.metadata.resource_version}});
    patch_pod(client, pod, patch).await
}

/// Lets go of an owned pod that no longer matches the selector of the owner with
/// `owner_uid`. Returns whether it released.
pub async fn release(
    client: &Arc<dyn Client>,
    owner_uid: &str,
    pod: &Pod,
) -> Result<bool, ClientError> {
    let refs: Vec<_> = pod
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.uid != owner_uid)
        .collect();
    let refs = if refs.is_empty() {
        serde_json::Value::Null
    } else {
        json!(refs)
    };
    let patch = json!({"metadata": {"ownerReferences": refs,
        "resourceVersion": pod.metadata.resource_version}});
    patch_pod(client, pod, patch).await
}

async fn patch_pod(
    client: &Arc<dyn Client>,
    pod: &Pod,
    patch: serde_json::Value,
) -> Result<bool, ClientError> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let name = pod.metadata.name.clone().unwrap_or_default();
    match api
        .patch(&name, &Patch::Merge(patch), &PatchParams::default())
        .await
    {
        Ok(_) => Ok(true),
        // Gone, or changed since the cache saw it: its next event brings us back.
        Err(e) if e.is_not_found() || e.is_conflict() => Ok(false),
        Err(e) => Err(e),
    }
}

/// The owners (of kind `K`, found in `owners`) a pod change concerns: its controller
/// when it has one of that kind, or, for an orphan, every owner of its namespace whose
/// selector (`selector_of`) matches it: they may adopt it.
pub fn owners_to_sync<K>(
    pod: &Pod,
    owners: &Store<K>,
    selector_of: impl Fn(&K) -> Option<&MetaSelector>,
) -> Vec<ObjectRef>
where
    K: Object + k8s_openapi::Resource,
{
    if controller_of(&pod.metadata).is_some() {
        return owner_key(pod, K::KIND, K::GROUP).into_iter().collect();
    }
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    owners
        .list()
        .into_iter()
        .filter(|o| o.meta().namespace.as_deref() == Some(ns.as_str()))
        .filter(|o| {
            selector_of(o)
                .and_then(|s| LabelSelector::from_label_selector(s).ok())
                .is_some_and(|sel| !sel.is_everything() && sel.matches(&labels))
        })
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
}

/// The pods of `candidates` that `owner` controls once orphans are adopted and
/// non-matching pods released: those it controls that match `selector`, plus the
/// active orphans that match and that `member` accepts (a StatefulSet takes only
/// pods named for it). An owner being deleted adopts and releases nothing.
pub async fn claim_pods<K>(
    client: &Arc<dyn Client>,
    owner: &K,
    candidates: &[Arc<Pod>],
    selector: &LabelSelector,
    member: impl Fn(&Pod) -> bool,
) -> Result<Vec<Arc<Pod>>, ClientError>
where
    K: k8s_openapi::Resource
        + k8s_openapi::Metadata<Ty = ObjectMeta>
        + Serialize
        + DeserializeOwned
        + Send
        + 'static,
    K::Scope: 'static,
{
    let meta = owner.metadata();
    let uid = meta.uid.clone().unwrap_or_default();
    let deleting = meta.deletion_timestamp.is_some();
    let mut owned = Vec::new();
    let no_labels = std::collections::BTreeMap::new();
    for pod in candidates {
        let labels = pod.metadata.labels.as_ref().unwrap_or(&no_labels);
        let matches = !selector.is_everything() && selector.matches(labels);
        match controller_of(&pod.metadata) {
            Some(c) if c.uid == uid => {
                if matches {
                    owned.push(pod.clone());
                } else if !deleting {
                    release(client, &uid, pod).await?;
                }
            }
            None if matches && !deleting && pods::is_active(pod) && member(pod) => {
                let adopted = adopt(client, owner, pod).await?;
                if adopted {
                    owned.push(pod.clone());
                }
            }
            _ => {}
        }
    }
    Ok(owned)
}
