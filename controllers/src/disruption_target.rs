//! The `DisruptionTarget` pod condition: what a controller writes on a pod before it
//! deletes it, so the pod's owner (a Job's `podFailurePolicy`, a user reading `kubectl
//! describe`) can tell a disruption from a failure of the pod's own. Kubernetes' taint
//! manager writes reason `DeletionByTaintManager`, the pod garbage collector
//! `DeletionByPodGC`, the eviction API `EvictionByEvictionAPI`.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>, pod: k8s_openapi::api::core::v1::Pod) {
//! use skiff_controllers::disruption_target::{mark, Mark, TAINT_MANAGER};
//! mark(&client, &pod, &Mark { reason: TAINT_MANAGER, message: "Taint manager: deleting due to NoExecute taint", fail: false })
//!     .await
//!     .expect("condition written");
//! # }
//! ```

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;
use skiff_core::client::{Api, Client, ClientError, Patch, PatchParams};

/// The condition's type.
pub const CONDITION: &str = "DisruptionTarget";
/// The reason the taint manager gives.
pub const TAINT_MANAGER: &str = "DeletionByTaintManager";
/// The reason the pod garbage collector gives.
pub const POD_GC: &str = "DeletionByPodGC";

/// What to write.
#[derive(Clone, Copy, Debug)]
pub struct Mark<'a> {
    /// The condition's reason.
    pub reason: &'a str,
    /// The condition's message.
    pub message: &'a str,
    /// Also set the phase to `Failed` when the pod has not finished (a pod whose node
    /// is gone has no agent left to do it).
    pub fail: bool,
}

/// Whether the pod has finished (`Succeeded` or `Failed`).
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// Whether the pod carries a true `DisruptionTarget` condition.
pub fn is_marked(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == CONDITION && c.status == "True")
        })
}

/// Adds the `DisruptionTarget` condition to `pod`'s status (a strategic merge patch,
/// which merges conditions by type). A pod deleted meanwhile is not an error.
pub async fn mark(client: &Arc<dyn Client>, pod: &Pod, what: &Mark<'_>) -> Result<(), ClientError> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let condition = json!({
        "type": CONDITION,
        "status": "True",
        "reason": what.reason,
        "message": what.message,
        "lastTransitionTime": Time(skiff_core::runtime::now()),
    });
    let mut status = json!({ "conditions": [condition] });
    if what.fail && !is_terminal(pod) {
        status["phase"] = json!("Failed");
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    match api
        .patch_status(
            &name,
            &Patch::Strategic(json!({ "status": status })),
            &PatchParams::default(),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}
