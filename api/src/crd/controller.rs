//! The CRD controller: reconciles CustomResourceDefinition objects into served
//! resources, as kube-apiserver's apiextensions controllers do.
//!
//! For each CRD it:
//! - serves every served version (adding, replacing or removing resources of the
//!   server when the CRD changes);
//! - adds the `customresourcecleanup.apiextensions.k8s.io` finalizer and reports
//!   `NamesAccepted` and `Established` conditions, `acceptedNames` and
//!   `storedVersions` in its status;
//! - once the CRD is deleted (terminating), refuses new objects, deletes every custom
//!   object, then removes the finalizer (so the CRD goes) and stops serving the
//!   resources.
//!
//! [`start`] reconciles every stored CRD before returning (so a restarted server
//! serves its custom resources at once) and then follows the CRDs' watch cache in a
//! task that ends with the server.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use skiff_core::resource::builtin_resources;
use skiff_core::status::ApiError;
use tokio::sync::broadcast::error::RecvError;

use super::definition::{served_versions, CustomResourceVersion, CLEANUP_FINALIZER};
use super::status::{condition, established_status, merge_status, not_accepted_status};
use super::strategy::CustomResourceStrategy;
use crate::registry::{meta, DeleteOptions, ListOptions, UpdateTarget, WriteOptions};
use crate::server::{ApiServer, WeakApiServer};
use crate::watch_cache::{CachedEvent, EventKind};

type EventReceiver = tokio::sync::broadcast::Receiver<Arc<CachedEvent>>;

/// The group, version and plural of the CRD resource.
pub const CRD_GROUP: &str = "apiextensions.k8s.io";
const CRD_VERSION: &str = "v1";
const CRD_PLURAL: &str = "customresourcedefinitions";

/// How often a requeued CRD (objects still going away, names in conflict) is looked at
/// again.
const CLEANUP_RETRY: Duration = Duration::from_millis(500);

/// What one CRD serves now.
type ServedVersions = Vec<CustomResourceVersion>;

/// The controller's state: what each CRD (by name) serves, and CRDs to look at again
/// soon (terminating ones whose objects are still going, ones whose names conflict).
struct Controller {
    server: WeakApiServer,
    served: BTreeMap<String, ServedVersions>,
    requeue: BTreeSet<String>,
}

/// Serves the resources of every stored CRD, then starts the task that follows CRD
/// changes. Does nothing when the server does not serve CRDs.
pub async fn start(server: &ApiServer) -> Result<(), ApiError> {
    let Some(crds) = server.find(CRD_GROUP, CRD_VERSION, CRD_PLURAL) else {
        return Ok(());
    };
    let snapshot = crds.cache.snapshot("");
    drop(crds);
    let mut controller = Controller {
        server: server.downgrade(),
        served: BTreeMap::new(),
        requeue: BTreeSet::new(),
    };
    // CRDs established before keep their names: they are served first.
    let mut crds: Vec<&Arc<Value>> = snapshot.objects.iter().map(|o| &o.value).collect();
    crds.sort_by_key(|crd| {
        (
            !is_established(crd),
            meta::meta_str(crd, "creationTimestamp").to_owned(),
        )
    });
    for crd in crds {
        controller.reconcile(server, crd).await;
    }
    tokio::spawn(controller.run(snapshot.events));
    Ok(())
}

impl Controller {
    async fn run(mut self, mut events: EventReceiver) {
        loop {
            let retry = !self.requeue.is_empty();
            tokio::select! {
                event = events.recv() => {
                    let Some(server) = self.server.upgrade() else { return };
                    match event {
                        Ok(event) => match event.kind {
                            EventKind::Added | EventKind::Modified => {
                                self.reconcile(&server, &event.object).await;
                            }
                            EventKind::Deleted => self.forget(&server, meta::name(&event.object)),
                            EventKind::Progress => {}
                            EventKind::Reset => events = self.resync(&server).await,
                        },
                        Err(RecvError::Lagged(_)) => events = self.resync(&server).await,
                        Err(RecvError::Closed) => return,
                    }
                }
                _ = tokio::time::sleep(CLEANUP_RETRY), if retry => {
                    let Some(server) = self.server.upgrade() else { return };
                    for name in self.requeue.clone() {
                        let Some(crds) = server.find(CRD_GROUP, CRD_VERSION, CRD_PLURAL) else { return };
                        match crds.registry.try_get(None, &name).await {
                            Ok(Some(crd)) => self.reconcile(&server, &crd).await,
                            Ok(None) => self.forget(&server, &name),
                            Err(err) => tracing::warn!(crd = name, %err, "reading a terminating CRD failed"),
                        }
                    }
                }
            }
        }
    }

    /// Reconciles every CRD again from a fresh snapshot (after missed events);
    /// returns the new subscription.
    async fn resync(&mut self, server: &ApiServer) -> EventReceiver {
        let Some(crds) = server.find(CRD_GROUP, CRD_VERSION, CRD_PLURAL) else {
            let (_, rx) = tokio::sync::broadcast::channel(1);
            return rx;
        };
        let snapshot = crds.cache.snapshot("");
        let present: BTreeSet<String> = snapshot
            .objects
            .iter()
            .map(|o| meta::name(&o.value).to_owned())
            .collect();
        for name in self.served.keys().cloned().collect::<Vec<_>>() {
            if !present.contains(&name) {
                self.forget(server, &name);
            }
        }
        for crd in &snapshot.objects {
            self.reconcile(server, &crd.value).await;
        }
        snapshot.events
    }

    /// Stops serving what the CRD `name` served (it is gone from the store).
    fn forget(&mut self, server: &ApiServer, name: &str) {
        self.requeue.remove(name);
        if let Some(versions) = self.served.remove(name) {
            for v in versions {
                let r = &v.resource;
                server.remove_resource(&r.group, &r.version, &r.plural);
            }
        }
    }

    async fn reconcile(&mut self, server: &ApiServer, crd: &Value) {
        let name = meta::name(crd).to_owned();
        if let Err(err) = self.try_reconcile(server, crd).await {
            tracing::warn!(crd = name, %err, "reconciling a CustomResourceDefinition failed");
        }
    }

    async fn try_reconcile(&mut self, server: &ApiServer, crd: &Value) -> Result<(), ApiError> {
        let name = meta::name(crd).to_owned();
        let mut versions = served_versions(crd).map_err(|e| ApiError::internal(&e.to_string()))?;
        let conflict = self.name_conflict(&name, &versions);
        let serving = self.served.contains_key(&name);
        if meta::is_terminating(crd) {
            if conflict.is_some() && !serving {
                // Never served: there are no objects to delete.
                self.requeue.remove(&name);
                return remove_finalizer(server, &name).await;
            }
            // No new objects while the old ones are being deleted (405, as Kubernetes).
            for v in &mut versions {
                v.resource.verbs.retain(|verb| verb != "create");
            }
            self.serve(server, &name, versions).await?;
            return self.clean_up(server, crd).await;
        }
        let status = match &conflict {
            None => {
                self.requeue.remove(&name);
                self.serve(server, &name, versions).await?;
                established_status(crd)
            }
            Some((reason, message)) => {
                // Served before the conflict: keep serving what was accepted.
                self.requeue.insert(name.clone());
                not_accepted_status(reason, message, serving)
            }
        };
        update_crd(server, &name, |current| {
            let mut next = current.clone();
            let mut finalizers = meta::finalizers(&next);
            if !finalizers.iter().any(|f| f == CLEANUP_FINALIZER) && !meta::is_terminating(&next) {
                finalizers.push(CLEANUP_FINALIZER.to_owned());
                meta::set_finalizers(&mut next, &finalizers);
            }
            next["status"] = merge_status(current.get("status"), &status);
            Ok(next)
        })
        .await
    }

    /// A name of the CRD `name` that another served CRD of the same group already
    /// uses: the condition's reason and message.
    fn name_conflict(&self, name: &str, versions: &ServedVersions) -> Option<(String, String)> {
        let ours = &versions.first()?.resource;
        let builtin = builtin_resources();
        if builtin
            .iter()
            .any(|b| b.group == ours.group && b.plural == ours.plural)
        {
            return Some((
                "PluralConflict".into(),
                format!("{:?} is already in use by a built-in resource", ours.plural),
            ));
        }
        for (other_name, other) in &self.served {
            let Some(theirs) = other.first().map(|v| &v.resource) else {
                continue;
            };
            if other_name == name || theirs.group != ours.group {
                continue;
            }
            let their_names: Vec<&str> = [theirs.plural.as_str(), theirs.singular.as_str()]
                .into_iter()
                .chain(theirs.short_names.iter().map(String::as_str))
                .collect();
            if theirs.kind == ours.kind {
                return Some((
                    "KindConflict".into(),
                    format!("{:?} is already in use", ours.kind),
                ));
            }
            if their_names.contains(&ours.plural.as_str()) {
                return Some((
                    "PluralConflict".into(),
                    format!("{:?} is already in use", ours.plural),
                ));
            }
            if their_names.contains(&ours.singular.as_str()) {
                return Some((
                    "SingularConflict".into(),
                    format!("{:?} is already in use", ours.singular),
                ));
            }
            if let Some(short) = ours
                .short_names
                .iter()
                .find(|s| their_names.contains(&s.as_str()))
            {
                return Some((
                    "ShortNamesConflict".into(),
                    format!("{short:?} is already in use"),
                ));
            }
        }
        None
    }

    /// Makes the server serve exactly `versions` for the CRD `name`.
    async fn serve(
        &mut self,
        server: &ApiServer,
        name: &str,
        versions: ServedVersions,
    ) -> Result<(), ApiError> {
        let before = self.served.get(name).cloned().unwrap_or_default();
        let all_served = versions.iter().all(|v| {
            let r = &v.resource;
            server.find(&r.group, &r.version, &r.plural).is_some()
        });
        if before == versions && all_served {
            return Ok(());
        }
        // Each version replaces its old self (no gap in serving), all of them in
        // order, most preferred first: discovery's order is the preference.
        for v in &versions {
            let strategy = Arc::new(CustomResourceStrategy::new(Arc::new(v.clone())));
            server
                .add_resource_with_strategy(v.resource.clone(), strategy)
                .await?;
        }
        for old in &before {
            let r = &old.resource;
            if !versions.iter().any(|v| v.resource.gvr() == r.gvr()) {
                server.remove_resource(&r.group, &r.version, &r.plural);
            }
        }
        self.served.insert(name.to_owned(), versions);
        Ok(())
    }

    /// Deletes the custom objects of a terminating CRD; once none is left, removes the
    /// cleanup finalizer (which lets the CRD go) and stops serving.
    async fn clean_up(&mut self, server: &ApiServer, crd: &Value) -> Result<(), ApiError> {
        let name = meta::name(crd).to_owned();
        let Some(version) = self.served.get(&name).and_then(|v| v.first()).cloned() else {
            return remove_finalizer(server, &name).await;
        };
        let r = &version.resource;
        let Some(served) = server.find(&r.group, &r.version, &r.plural) else {
            return Ok(());
        };
        let registry = &served.registry;
        let remaining = registry
            .delete_collection(None, &ListOptions::default(), &DeleteOptions::default())
            .await?;
        let left = registry.list(None, &ListOptions::default()).await?;
        let any_left = left["items"].as_array().is_some_and(|i| !i.is_empty());
        if any_left {
            tracing::debug!(
                crd = name,
                terminating = remaining["items"].as_array().map_or(0, Vec::len),
                "custom objects still terminating"
            );
            self.requeue.insert(name.clone());
            let message = "CustomResource deletion is in progress";
            return update_crd(server, &name, |current| {
                let mut next = current.clone();
                next["status"] = merge_status(
                    current.get("status"),
                    &json!({"conditions": [condition("Terminating", "True", "InstanceDeletionInProgress", message)]}),
                );
                Ok(next)
            })
            .await;
        }
        self.requeue.remove(&name);
        self.forget(server, &name);
        remove_finalizer(server, &name).await
    }
}

/// Whether a CRD's status says it is established.
fn is_established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        })
}

/// Removes the cleanup finalizer of the CRD `name` (deleting it when terminating).
async fn remove_finalizer(server: &ApiServer, name: &str) -> Result<(), ApiError> {
    update_crd(server, name, |current| {
        let mut next = current.clone();
        let mut finalizers = meta::finalizers(&next);
        finalizers.retain(|f| f != CLEANUP_FINALIZER);
        meta::set_finalizers(&mut next, &finalizers);
        Ok(next)
    })
    .await
}

/// A read-modify-write of a CRD by the server itself; a CRD already gone is fine.
async fn update_crd<F>(server: &ApiServer, name: &str, transform: F) -> Result<(), ApiError>
where
    F: FnMut(&Value) -> Result<Value, ApiError>,
{
    let Some(crds) = server.find(CRD_GROUP, CRD_VERSION, CRD_PLURAL) else {
        return Ok(());
    };
    match crds
        .registry
        .update_with(
            None,
            name,
            UpdateTarget::Internal,
            &WriteOptions::default(),
            transform,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}
