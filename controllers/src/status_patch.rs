//! Writing a controller's view of an object's status, only when it changed: a merge
//! patch of the `status` subresource ([`merge_status`]; the status is all the
//! controller's, so a merge patch needs no resourceVersion), or a replace of it as a
//! compare-and-swap on the resourceVersion the controller read ([`replace_status`]).
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>,
//! #              ds: k8s_openapi::api::apps::v1::DaemonSet,
//! #              next: k8s_openapi::api::apps::v1::DaemonSetStatus) {
//! skiff_controllers::status_patch::merge_status(&client, &ds, ds.status.as_ref(), &next)
//!     .await
//!     .expect("status written");
//! # }
//! ```

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use skiff_core::client::{
    Api, Client, ClientError, ObjectTarget, Patch, PatchParams, PostParams, ResourceRef,
};

/// Patches `object`'s status to `next` unless `current` already equals it. An object
/// deleted meanwhile is not an error.
pub async fn merge_status<K, S>(
    client: &Arc<dyn Client>,
    object: &K,
    current: Option<&S>,
    next: &S,
) -> Result<(), ClientError>
where
    K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
    K::Scope: 'static,
    S: Serialize + PartialEq,
{
    if current == Some(next) {
        return Ok(());
    }
    let meta = object.metadata();
    let target = ObjectTarget::object(
        &ResourceRef::of::<K>(),
        meta.namespace.as_deref(),
        meta.name.as_deref().unwrap_or_default(),
    )
    .with_subresource("status");
    match client
        .patch(
            &target,
            &Patch::Merge(json!({ "status": next })),
            &PatchParams::default(),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Replaces the status of `updated` (the object as read, with its new status) as a
/// compare-and-swap on its resourceVersion. A conflict is not an error (a newer version
/// is on its way, whose event reconciles again), nor is an object deleted meanwhile.
pub async fn replace_status<K>(client: &Arc<dyn Client>, updated: &K) -> Result<(), ClientError>
where
    K: k8s_openapi::Resource
        + k8s_openapi::Metadata<Ty = ObjectMeta>
        + Serialize
        + DeserializeOwned
        + Send
        + 'static,
    K::Scope: 'static,
{
    let meta = updated.metadata();
    let api: Api<K> = match meta.namespace.as_deref() {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    match api
        .replace_status(
            meta.name.as_deref().unwrap_or_default(),
            updated,
            &PostParams::default(),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_conflict() || e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}
