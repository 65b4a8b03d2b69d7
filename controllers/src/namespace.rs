//! The namespace controller: when a namespace is deleted (phase `Terminating`, the
//! `kubernetes` finalizer in `spec.finalizers`), it deletes every namespaced object of
//! every resource in it, then removes its finalizer through `namespaces/{name}/finalize`
//! so the API server removes the namespace.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use futures::StreamExt;
//! skiff_controllers::namespace::run(client).for_each(|_| async {}).await;
//! # }
//! ```
//!
//! Objects that linger (finalizers, pods in their grace period) keep the namespace
//! `Terminating`; the controller checks again every [`RECHECK`] until they are gone.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::Namespace;
use serde_json::Value;
use skiff_core::client::{
    Client, ClientError, DeleteParams, ListParams, ObjectTarget, PostParams, ResourceRef,
};
use skiff_core::runtime::controller::{self, Action};
use skiff_core::runtime::{watcher, Controller, ObjectRef};

/// The finalizer this controller owns.
pub const FINALIZER: &str = "kubernetes";
/// How often a terminating namespace with objects left is checked again.
pub const RECHECK: Duration = Duration::from_millis(500);

/// What a reconcile of a namespace failed with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Listing or deleting the namespace's objects failed.
    #[error("emptying namespace {namespace}: {resource}: {source}")]
    Content {
        /// The namespace.
        namespace: String,
        /// The resource being emptied.
        resource: String,
        /// The client error.
        #[source]
        source: ClientError,
    },
    /// Removing the finalizer failed.
    #[error("finalizing namespace {0}: {1}")]
    Finalize(String, #[source] ClientError),
}

/// What the reconciles share.
pub struct Context {
    client: Arc<dyn Client>,
    resources: Vec<ResourceRef>,
}

/// Runs the namespace controller; dropping the stream stops it.
pub fn run(
    client: Arc<dyn Client>,
) -> BoxStream<'static, Result<(ObjectRef, Action), controller::Error<Error>>> {
    let resources = crate::resources::deletable()
        .iter()
        .filter(|r| r.namespaced)
        .map(crate::resources::reference)
        .collect();
    let ctx = Arc::new(Context {
        client: client.clone(),
        resources,
    });
    Controller::<Namespace>::new(client, None, watcher::Config::default())
        .concurrency(2)
        .run(reconcile, |_, _, _| Action::requeue_rate_limited(), ctx)
}

fn has_finalizer(ns: &Namespace) -> bool {
    ns.spec
        .as_ref()
        .and_then(|s| s.finalizers.as_ref())
        .is_some_and(|f| f.iter().any(|f| f == FINALIZER))
}

/// Empties a terminating namespace, then finalizes it.
pub async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    if ns.metadata.deletion_timestamp.is_none() || !has_finalizer(&ns) {
        return Ok(Action::await_change());
    }
    let name = ns.metadata.name.clone().unwrap_or_default();
    let mut remaining = 0usize;
    for resource in &ctx.resources {
        let collection = ObjectTarget::collection(resource, Some(&name));
        let err = |source| Error::Content {
            namespace: name.clone(),
            resource: resource.plural.clone(),
            source,
        };
        let list = match ctx.client.list(&collection, &ListParams::default()).await {
            Ok(l) => l,
            // A resource the server does not serve has nothing to delete.
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(err(e)),
        };
        for item in list["items"].as_array().into_iter().flatten() {
            remaining += 1;
            if item.pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            let Some(obj_name) = item.pointer("/metadata/name").and_then(Value::as_str) else {
                continue;
            };
            let target = ObjectTarget::object(resource, Some(&name), obj_name);
            match ctx
                .client
                .delete(&target, &DeleteParams::background())
                .await
            {
                Ok(v) if v.get("kind").and_then(Value::as_str) == Some("Status") => remaining -= 1,
                Ok(_) => {}
                Err(e) if e.is_not_found() => remaining -= 1,
                Err(e) => return Err(err(e)),
            }
        }
    }
    if remaining > 0 {
        tracing::debug!(namespace = %name, remaining, "namespace not empty yet");
        return Ok(Action::requeue(RECHECK));
    }
    let mut finalized = (*ns).clone();
    if let Some(spec) = finalized.spec.as_mut() {
        if let Some(f) = spec.finalizers.as_mut() {
            f.retain(|f| f != FINALIZER);
        }
    }
    let mut body = serde_json::to_value(&finalized)
        .map_err(|e| Error::Finalize(name.clone(), ClientError::InvalidRequest(e.to_string())))?;
    body["apiVersion"] = "v1".into();
    body["kind"] = "Namespace".into();
    let target = ObjectTarget::object(
        &ResourceRef::new("", "v1", "namespaces", false),
        None,
        &name,
    )
    .with_subresource("finalize");
    match ctx
        .client
        .replace(&target, body, &PostParams::default())
        .await
    {
        Ok(_) => Ok(Action::await_change()),
        Err(e) if e.is_not_found() => Ok(Action::await_change()),
        Err(e) => Err(Error::Finalize(name, e)),
    }
}
