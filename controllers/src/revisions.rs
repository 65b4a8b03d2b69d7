//! ControllerRevisions: the history of a workload's pod template, as the StatefulSet
//! and DaemonSet controllers keep it (Kubernetes' `controller_history`).
//!
//! A revision's `data` is a strategic merge patch that restores the template
//! (`{"spec": {"template": {..., "$patch": "replace"}}}`, what `kubectl rollout undo`
//! applies), its name is `{owner}-{hash}` and its `revision` number grows by one each
//! time the template changes (an old template coming back gets the next number again).
//!
//! ```
//! use k8s_openapi::api::core::v1::PodTemplateSpec;
//! use skiff_controllers::revisions::{template_data, template_of_data};
//! let mut t = PodTemplateSpec::default();
//! t.metadata = Some(Default::default());
//! t.metadata.as_mut().unwrap().labels = Some([("app".to_owned(), "web".to_owned())].into());
//! let data = template_data(&t);
//! assert_eq!(data["spec"]["template"]["$patch"], "replace");
//! assert_eq!(template_of_data(&data), Some(t));
//! ```

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::{json, Value};
use skiff_core::client::{Api, Client, ClientError, DeleteParams, Patch, PatchParams, PostParams};
use skiff_core::runtime::controller_of;
use skiff_core::runtime::reflector::{index, Store};

use crate::hash::json_hash;

/// The label on pods (and revisions) naming the revision they were made from.
pub const HASH_LABEL: &str = "controller-revision-hash";

/// What keeping a history failed with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A revision of the wanted name exists with other data or another owner: the
    /// owner's `status.collisionCount` must grow and the name be computed again.
    #[error("controller revision {0} already exists with different data")]
    HashCollision(String),
    /// A client call failed.
    #[error("{action}: {source}")]
    Client {
        /// What was being done.
        action: &'static str,
        /// The client error.
        #[source]
        source: ClientError,
    },
}

fn client_err(action: &'static str) -> impl FnOnce(ClientError) -> Error {
    move |source| Error::Client { action, source }
}

/// The revision data that restores `template`.
pub fn template_data(template: &PodTemplateSpec) -> Value {
    // Serializing a k8s-openapi type cannot fail (no maps with non-string keys).
    let mut t = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut t {
        map.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": t}})
}

/// The template a revision's data restores, if it holds one.
pub fn template_of_data(data: &Value) -> Option<PodTemplateSpec> {
    let mut t = data.pointer("/spec/template")?.clone();
    if let Value::Object(map) = &mut t {
        map.remove("$patch");
    }
    serde_json::from_value(t).ok()
}

/// The template `revision` restores, if it holds one.
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    template_of_data(&revision.data.as_ref()?.0)
}

/// The revisions one owner controls, oldest (lowest number) first.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// The revisions, sorted by `revision` then name.
    pub revisions: Vec<Arc<ControllerRevision>>,
}

impl History {
    /// The revisions in `store` (indexed by namespace) controlled by the object with
    /// `uid` in `namespace`.
    pub fn owned_by(store: &Store<ControllerRevision>, namespace: &str, uid: &str) -> History {
        let mut revisions: Vec<_> = store
            .by_index(index::NAMESPACE, namespace)
            .into_iter()
            .filter(|r| controller_of(&r.metadata).is_some_and(|c| c.uid == uid))
            .filter(|r| r.metadata.deletion_timestamp.is_none())
            .collect();
        revisions
            .sort_by(|a, b| (a.revision, &a.metadata.name).cmp(&(b.revision, &b.metadata.name)));
        History { revisions }
    }

    /// The highest revision number (0 when there is none).
    pub fn max_revision(&self) -> i64 {
        self.revisions.iter().map(|r| r.revision).max().unwrap_or(0)
    }

    /// The newest revision holding `data`.
    pub fn find_equal(&self, data: &Value) -> Option<&Arc<ControllerRevision>> {
        self.revisions
            .iter()
            .rev()
            .find(|r| r.data.as_ref().is_some_and(|d| &d.0 == data))
    }

    /// The revision called `name`.
    pub fn by_name(&self, name: &str) -> Option<&Arc<ControllerRevision>> {
        self.revisions
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
    }
}

/// The owner of a history: where its revisions live and what they carry.
pub struct Owner<'a> {
    /// The owner's name (revisions are called `{name}-{hash}`).
    pub name: &'a str,
    /// The owner's namespace.
    pub namespace: &'a str,
    /// The controller reference revisions get.
    pub reference: OwnerReference,
    /// Labels revisions get (the template's).
    pub labels: BTreeMap<String, String>,
    /// The owner's `status.collisionCount`.
    pub collision_count: Option<i32>,
}

/// The hash of a revision's data for `owner`.
pub fn hash_of(owner: &Owner<'_>, data: &Value) -> String {
    json_hash(data, owner.collision_count)
}

/// Makes the revision holding `data` the newest of `history`: finds it (renumbering
/// it when an older template came back) or creates it. A cache that has not seen a
/// revision this controller created is tolerated (the existing one is read back).
pub async fn ensure_newest(
    client: &Arc<dyn Client>,
    history: &History,
    owner: &Owner<'_>,
    data: Value,
) -> Result<ControllerRevision, Error> {
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), owner.namespace);
    let max = history.max_revision();
    if let Some(existing) = history.find_equal(&data) {
        if existing.revision >= max {
            return Ok(existing.as_ref().clone());
        }
        return renumber(&api, existing, max + 1).await;
    }
    let hash = hash_of(owner, &data);
    let name = format!("{}-{hash}", owner.name);
    let mut labels = owner.labels.clone();
    labels.insert(HASH_LABEL.into(), hash);
    let revision = ControllerRevision {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(owner.namespace.to_owned()),
            labels: Some(labels),
            owner_references: Some(vec![owner.reference.clone()]),
            ..ObjectMeta::default()
        },
        data: Some(RawExtension(data.clone())),
        revision: max + 1,
    };
    match api.create(&revision, &PostParams::default()).await {
        Ok(created) => Ok(created),
        Err(e) if e.is_conflict() => {
            let existing = api
                .get_opt(&name)
                .await
                .map_err(client_err("reading a controller revision"))?
                .ok_or_else(|| Error::HashCollision(name.clone()))?;
            let ours =
                controller_of(&existing.metadata).is_some_and(|c| c.uid == owner.reference.uid);
            if !ours || existing.data.as_ref().map(|d| &d.0) != Some(&data) {
                return Err(Error::HashCollision(name));
            }
            if existing.revision < max {
                return renumber(&api, &existing, max + 1).await;
            }
            Ok(existing)
        }
        Err(e) => Err(client_err("creating a controller revision")(e)),
    }
}

async fn renumber(
    api: &Api<ControllerRevision>,
    revision: &ControllerRevision,
    number: i64,
) -> Result<ControllerRevision, Error> {
    let patch = json!({"revision": number});
    api.patch(
        revision.metadata.name.as_deref().unwrap_or_default(),
        &Patch::Merge(patch),
        &PatchParams::default(),
    )
    .await
    .map_err(client_err("renumbering a controller revision"))
}

/// Deletes the oldest revisions beyond `limit`, never one named in `live` (the
/// current and update revisions and those pods still run).
pub async fn truncate(
    client: &Arc<dyn Client>,
    namespace: &str,
    history: &History,
    live: &HashSet<String>,
    limit: i32,
) -> Result<(), Error> {
    let idle: Vec<&Arc<ControllerRevision>> = history
        .revisions
        .iter()
        .filter(|r| !live.contains(r.metadata.name.as_deref().unwrap_or_default()))
        .collect();
    let limit = usize::try_from(limit.max(0)).unwrap_or(0);
    if idle.len() <= limit {
        return Ok(());
    }
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), namespace);
    for r in &idle[..idle.len() - limit] {
        let params = DeleteParams {
            precondition_uid: r.metadata.uid.clone(),
            ..DeleteParams::default()
        };
        match api
            .delete(r.metadata.name.as_deref().unwrap_or_default(), &params)
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() || e.is_conflict() => {}
            Err(e) => return Err(client_err("deleting an old controller revision")(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(name: &str, number: i64, data: Value) -> Arc<ControllerRevision> {
        Arc::new(ControllerRevision {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            data: Some(RawExtension(data)),
            revision: number,
        })
    }

    #[test]
    fn history_finds_the_newest_equal_revision() {
        let h = History {
            revisions: vec![rev("a", 1, json!({"x": 1})), rev("b", 2, json!({"x": 2}))],
        };
        assert_eq!(h.max_revision(), 2);
        assert_eq!(
            h.find_equal(&json!({"x": 1}))
                .and_then(|r| r.metadata.name.clone()),
            Some("a".into())
        );
        assert!(h.find_equal(&json!({"x": 3})).is_none());
        assert!(h.by_name("b").is_some());
        assert_eq!(History::default().max_revision(), 0);
    }

    #[test]
    fn template_round_trips_and_bad_data_is_none() {
        let t: PodTemplateSpec = serde_json::from_value(
            json!({"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}),
        )
        .unwrap();
        assert_eq!(template_of_data(&template_data(&t)), Some(t));
        assert_eq!(template_of_data(&json!({"spec": 3})), None);
        assert_eq!(
            template_of_data(&json!({"spec": {"template": {"spec": 5}}})),
            None
        );
    }
}
