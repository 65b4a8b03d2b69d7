//! The garbage collector: deletes objects whose owners are gone, and carries out the
//! `Foreground` and `Orphan` propagation policies of deleted owners.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! skiff_controllers::gc::GarbageCollector::new(client).run().await;
//! # }
//! ```
//!
//! It caches every built-in resource (a reflector per resource, indexed by owner uid)
//! and queues an object whenever it, one of its owners or one of its dependents
//! changes. Processing an object:
//! - **Orphan**: an owner being deleted with the `orphan` finalizer has its
//!   `ownerReferences` removed from every dependent, then loses the finalizer.
//! - **Foreground**: an owner being deleted with the `foregroundDeletion` finalizer has
//!   its dependents deleted (in the foreground too); once no dependent with
//!   `blockOwnerDeletion: true` remains, it loses the finalizer and is gone.
//! - **Background** (dangling references): a dependent none of whose owners exists any
//!   more (checked with a live read, not only the cache, before anything is deleted) is
//!   deleted; one whose owners are partly gone loses the dangling references. A
//!   dependent whose remaining owners are all waiting for their dependents' deletion
//!   (foreground) is deleted in the foreground.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::{json, Value};
use skiff_core::client::{
    Client, ClientError, DeleteParams, ObjectTarget, Patch, PatchParams, ResourceRef,
};
use skiff_core::resource::ApiResource;
use skiff_core::runtime::reflector::{self, index, Store, Writer};
use skiff_core::runtime::{watcher, DynamicObject, ObjectRef, WorkQueue};
use tokio::task::JoinSet;

/// The finalizer of `Orphan` deletions.
pub const ORPHAN: &str = "orphan";
/// The finalizer of `Foreground` deletions.
pub const FOREGROUND: &str = "foregroundDeletion";

/// What processing one object failed with (it is retried with back-off).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A read, patch or delete failed.
    #[error("{action} {object}: {source}")]
    Client {
        /// What was being done.
        action: &'static str,
        /// The object.
        object: String,
        /// The client error.
        #[source]
        source: ClientError,
    },
}

/// A queued object: its resource (an index into the collector's resources) and key.
type Key = (usize, ObjectRef);

/// The shared state of the collector's tasks.
struct Graph {
    client: Arc<dyn Client>,
    resources: Vec<ApiResource>,
    refs: Vec<ResourceRef>,
    stores: Vec<Store<DynamicObject>>,
    queue: WorkQueue<Key>,
}

/// The garbage collector.
pub struct GarbageCollector {
    client: Arc<dyn Client>,
    resources: Vec<ApiResource>,
    workers: usize,
}

/// The relation of a dependent to one of its owners.
#[derive(Debug, PartialEq, Eq)]
enum OwnerState {
    Present,
    Absent,
    /// Being deleted in the foreground: waiting for its dependents.
    WaitingForDependents,
}

impl GarbageCollector {
    /// A collector over every built-in deletable resource.
    pub fn new(client: Arc<dyn Client>) -> Self {
        GarbageCollector {
            client,
            resources: crate::resources::deletable(),
            workers: 4,
        }
    }

    /// Runs until dropped.
    pub async fn run(self) {
        let mut tasks = JoinSet::new();
        let mut writers = Vec::new();
        let mut stores = Vec::new();
        for _ in &self.resources {
            let w = Writer::<DynamicObject>::default().with_index(index::OWNER, index::owner_uid);
            stores.push(w.as_reader());
            writers.push(w);
        }
        let refs: Vec<ResourceRef> = self
            .resources
            .iter()
            .map(crate::resources::reference)
            .collect();
        let graph = Arc::new(Graph {
            client: self.client.clone(),
            resources: self.resources.clone(),
            refs: refs.clone(),
            stores,
            queue: WorkQueue::default(),
        });
        for (i, writer) in writers.into_iter().enumerate() {
            let target = ObjectTarget::collection(&refs[i], None);
            let stream = reflector::reflector(
                writer,
                watcher::watcher(self.client.clone(), target, watcher::Config::default()),
            );
            let graph = graph.clone();
            tasks.spawn(async move {
                let mut events = watcher::ignore_errors(stream);
                while let Some(event) = events.next().await {
                    if let Some(obj) = event.object() {
                        graph.enqueue_related(i, obj);
                    }
                }
            });
        }
        for _ in 0..self.workers {
            let graph = graph.clone();
            tasks.spawn(async move {
                for store in &graph.stores {
                    if store.wait_until_ready().await.is_err() {
                        return;
                    }
                }
                while let Some(key) = graph.queue.next().await {
                    match graph.process(&key).await {
                        Ok(()) => graph.queue.forget(&key),
                        Err(e) => {
                            tracing::warn!(error = %e, "garbage collection failed; retrying");
                            graph.queue.done(&key);
                            graph.queue.add_rate_limited(key);
                            continue;
                        }
                    }
                    graph.queue.done(&key);
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    }
}

fn finalizers(obj: &DynamicObject) -> &[String] {
    obj.metadata.finalizers.as_deref().unwrap_or_default()
}

fn owner_refs(obj: &DynamicObject) -> &[OwnerReference] {
    obj.metadata.owner_references.as_deref().unwrap_or_default()
}

impl Graph {
    /// Queues `obj`, its owners and its dependents.
    fn enqueue_related(&self, resource: usize, obj: &DynamicObject) {
        let key = ObjectRef::from_obj(obj);
        self.queue.add((resource, key.clone()));
        for owner in owner_refs(obj) {
            if let Some(k) = self.owner_key(resource, &key, owner) {
                self.queue.add(k);
            }
        }
        if let Some(uid) = obj.metadata.uid.as_deref() {
            for (i, dependent) in self.dependents(uid) {
                self.queue.add((i, ObjectRef::from_obj(dependent.as_ref())));
            }
        }
    }

    /// Where an owner lives: its resource and key (an owner of a namespaced
    /// dependent is in the dependent's namespace, or cluster-scoped).
    fn owner_key(
        &self,
        _resource: usize,
        dependent: &ObjectRef,
        owner: &OwnerReference,
    ) -> Option<Key> {
        let (i, r) = crate::resources::by_kind(&self.resources, &owner.api_version, &owner.kind)?;
        let mut key = ObjectRef::new(&owner.name);
        if r.namespaced {
            key.namespace = dependent.namespace.clone();
        }
        Some((i, key))
    }

    /// Every cached object with an owner reference to `uid`.
    fn dependents(&self, uid: &str) -> Vec<(usize, Arc<DynamicObject>)> {
        self.stores
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                s.by_index(index::OWNER, uid)
                    .into_iter()
                    .map(move |o| (i, o))
            })
            .collect()
    }

    fn target(&self, (i, key): &Key) -> ObjectTarget {
        ObjectTarget::object(&self.refs[*i], key.namespace.as_deref(), &key.name)
    }

    fn client_err(action: &'static str, key: &Key) -> impl FnOnce(ClientError) -> Error {
        let object = key.1.to_string();
        move |source| Error::Client {
            action,
            object,
            source,
        }
    }

    async fn process(&self, key: &Key) -> Result<(), Error> {
        let Some(obj) = self.stores[key.0].get(&key.1) else {
            return Ok(());
        };
        if obj.metadata.deletion_timestamp.is_some() {
            if finalizers(&obj).iter().any(|f| f == ORPHAN) {
                return self.orphan_dependents(key, &obj).await;
            }
            if finalizers(&obj).iter().any(|f| f == FOREGROUND) {
                return self.delete_dependents(key, &obj).await;
            }
        }
        if owner_refs(&obj).is_empty() {
            return Ok(());
        }
        self.check_owners(key, &obj).await
    }

    /// Orphan: strip the owner's references from its dependents, then its finalizer.
    async fn orphan_dependents(&self, key: &Key, owner: &DynamicObject) -> Result<(), Error> {
        let uid = owner.metadata.uid.clone().unwrap_or_default();
        for (i, dependent) in self.dependents(&uid) {
            let dkey = (i, ObjectRef::from_obj(dependent.as_ref()));
            self.remove_owner_refs(&dkey, &dependent, &HashSet::from([uid.clone()]))
                .await?;
        }
        self.remove_finalizer(key, owner, ORPHAN).await
    }

    /// Foreground: delete the dependents; once no blocking one is left, finalize.
    async fn delete_dependents(&self, key: &Key, owner: &DynamicObject) -> Result<(), Error> {
        let uid = owner.metadata.uid.clone().unwrap_or_default();
        let mut blocking = 0;
        for (i, dependent) in self.dependents(&uid) {
            let blocks = owner_refs(&dependent)
                .iter()
                .any(|r| r.uid == uid && r.block_owner_deletion == Some(true));
            if blocks {
                blocking += 1;
            }
            if dependent.metadata.deletion_timestamp.is_none() {
                let dkey = (i, ObjectRef::from_obj(dependent.as_ref()));
                let mut params = DeleteParams::foreground();
                params.precondition_uid = dependent.metadata.uid.clone();
                match self.client.delete(&self.target(&dkey), &params).await {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() || e.is_conflict() => {}
                    Err(e) => return Err(Self::client_err("deleting dependent", &dkey)(e)),
                }
            }
        }
        if blocking > 0 {
            // Their deletions queue this owner again.
            return Ok(());
        }
        self.remove_finalizer(key, owner, FOREGROUND).await
    }

    /// Background: collect a dependent whose owners are gone.
    async fn check_owners(&self, key: &Key, obj: &DynamicObject) -> Result<(), Error> {
        let mut states = Vec::new();
        for owner in owner_refs(obj) {
            states.push((owner.uid.clone(), self.owner_state(key, owner).await?));
        }
        let present = states
            .iter()
            .filter(|(_, s)| *s == OwnerState::Present)
            .count();
        if present == states.len() {
            return Ok(());
        }
        if present > 0 {
            let gone: HashSet<String> = states
                .into_iter()
                .filter(|(_, s)| *s != OwnerState::Present)
                .map(|(u, _)| u)
                .collect();
            return self.remove_owner_refs(key, obj, &gone).await;
        }
        if obj.metadata.deletion_timestamp.is_some() {
            return Ok(());
        }
        let waiting = states
            .iter()
            .any(|(_, s)| *s == OwnerState::WaitingForDependents);
        let mut params = if waiting {
            DeleteParams::foreground()
        } else {
            DeleteParams::default()
        };
        params.precondition_uid = obj.metadata.uid.clone();
        tracing::info!(object = %key.1, resource = %self.refs[key.0].plural, "deleting an object whose owners are gone");
        match self.client.delete(&self.target(key), &params).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() || e.is_conflict() => Ok(()),
            Err(e) => Err(Self::client_err("deleting", key)(e)),
        }
    }

    /// Whether `owner` of the object at `key` exists; the cache answers "present",
    /// and a live read confirms "absent" (the cache may lag behind a creation).
    async fn owner_state(&self, key: &Key, owner: &OwnerReference) -> Result<OwnerState, Error> {
        let Some(okey) = self.owner_key(key.0, &key.1, owner) else {
            // An owner of a kind this collector does not know: leave it be.
            return Ok(OwnerState::Present);
        };
        let classify = |uid: Option<&str>, deleting: bool, fins: &[String]| {
            if uid != Some(owner.uid.as_str()) {
                OwnerState::Absent
            } else if deleting && fins.iter().any(|f| f == FOREGROUND) {
                OwnerState::WaitingForDependents
            } else {
                OwnerState::Present
            }
        };
        if let Some(cached) = self.stores[okey.0].get(&okey.1) {
            let state = classify(
                cached.metadata.uid.as_deref(),
                cached.metadata.deletion_timestamp.is_some(),
                finalizers(&cached),
            );
            if state != OwnerState::Absent {
                return Ok(state);
            }
        }
        match self.client.get(&self.target(&okey)).await {
            Ok(v) => {
                let live: DynamicObject = serde_json::from_value(v).map_err(|e| Error::Client {
                    action: "decoding owner",
                    object: okey.1.to_string(),
                    source: ClientError::Decode(e.to_string()),
                })?;
                Ok(classify(
                    live.metadata.uid.as_deref(),
                    live.metadata.deletion_timestamp.is_some(),
                    finalizers(&live),
                ))
            }
            Err(e) if e.is_not_found() => Ok(OwnerState::Absent),
            Err(e) => Err(Self::client_err("reading owner", &okey)(e)),
        }
    }

    /// Removes the owner references with uids in `uids` (a compare-and-swap patch).
    async fn remove_owner_refs(
        &self,
        key: &Key,
        obj: &DynamicObject,
        uids: &HashSet<String>,
    ) -> Result<(), Error> {
        let kept: Vec<&OwnerReference> = owner_refs(obj)
            .iter()
            .filter(|r| !uids.contains(&r.uid))
            .collect();
        if kept.len() == owner_refs(obj).len() {
            return Ok(());
        }
        let patch = json!({"metadata": {
            "ownerReferences": if kept.is_empty() { Value::Null } else { json!(kept) },
            "resourceVersion": obj.metadata.resource_version,
        }});
        self.patch(key, patch, "removing owner references").await
    }

    async fn remove_finalizer(
        &self,
        key: &Key,
        obj: &DynamicObject,
        finalizer: &str,
    ) -> Result<(), Error> {
        let kept: Vec<&String> = finalizers(obj).iter().filter(|f| *f != finalizer).collect();
        let patch = json!({"metadata": {
            "finalizers": if kept.is_empty() { Value::Null } else { json!(kept) },
            "resourceVersion": obj.metadata.resource_version,
        }});
        self.patch(key, patch, "removing a finalizer").await
    }

    async fn patch(&self, key: &Key, patch: Value, action: &'static str) -> Result<(), Error> {
        match self
            .client
            .patch(
                &self.target(key),
                &Patch::Merge(patch),
                &PatchParams::default(),
            )
            .await
        {
            Ok(_) => Ok(()),
            // Gone: nothing left to do. A conflict: the cache is behind; the newer
            // version's event queues the object again.
            Err(e) if e.is_not_found() || e.is_conflict() => Ok(()),
            Err(e) => Err(Self::client_err(action, key)(e)),
        }
    }
}

/// `DynamicObject` is what the collector caches (kept public for embedding).
pub fn is_dependent_of(obj: &DynamicObject, owner_uid: &str) -> bool {
    owner_refs(obj).iter().any(|r| r.uid == owner_uid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_core::runtime::Object;

    #[test]
    fn dependents_are_found_by_owner_uid() {
        let obj: DynamicObject = serde_json::from_value(json!({"metadata": {"name": "a",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u1"}]}}))
        .unwrap();
        assert!(is_dependent_of(&obj, "u1"));
        assert!(!is_dependent_of(&obj, "u2"));
        assert_eq!(obj.meta().name.as_deref(), Some("a"));
    }
}
