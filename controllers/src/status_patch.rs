//! Writing a controller's view of an object's status: a merge patch of the `status`
//! subresource, sent only when the status changed (the status is all the controller's,
//! so a merge patch needs no resourceVersion).
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
use serde::Serialize;
use serde_json::json;
use skiff_core::client::{Client, ClientError, ObjectTarget, Patch, PatchParams, ResourceRef};

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
