//! What the scheduler writes back besides bindings: the `PodScheduled=False`
//! condition on pods it could not place, and Events (`Scheduled`,
//! `FailedScheduling`) as `kubectl describe pod` shows them.
//!
//! ```
//! let c = skiff_sched::scheduler::unschedulable_condition("Unschedulable", "0/1 nodes are available: 1 Insufficient cpu.", "2024-01-01T00:00:00Z");
//! assert_eq!(c["type"], "PodScheduled");
//! assert_eq!(c["status"], "False");
//! ```

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};
use skiff_core::client::{
    Client, ClientError, ObjectTarget, Patch, PatchParams, PostParams, ResourceRef,
};

use crate::pod::{name, namespace};

/// The component name in events.
pub const COMPONENT: &str = "default-scheduler";

/// A `PodScheduled=False` condition.
pub fn unschedulable_condition(reason: &str, message: &str, now: &str) -> Value {
    json!({
        "type": "PodScheduled",
        "status": "False",
        "reason": reason,
        "message": message,
        "lastProbeTime": null,
        "lastTransitionTime": now,
    })
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Whether the pod already carries this exact condition (then it is not rewritten).
fn has_condition(pod: &Pod, reason: &str, message: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some(reason)
                && c.message.as_deref() == Some(message)
        })
}

/// Writes back results through the client.
#[derive(Clone)]
pub struct Reporter {
    client: Arc<dyn Client>,
    pods: ResourceRef,
    events: ResourceRef,
    /// Whether to create Events (benchmarks may turn them off).
    pub record_events: bool,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("record_events", &self.record_events)
            .finish()
    }
}

impl Reporter {
    /// A reporter over `client`.
    pub fn new(client: Arc<dyn Client>, record_events: bool) -> Self {
        Reporter {
            client,
            pods: ResourceRef::new("", "v1", "pods", true),
            events: ResourceRef::new("", "v1", "events", true),
            record_events,
        }
    }

    /// Sets `PodScheduled=False` with `reason` and `message` (and
    /// `status.nominatedNodeName` when given), unless the pod already says so.
    pub async fn pod_unschedulable(
        &self,
        pod: &Pod,
        reason: &str,
        message: &str,
        nominated_node: Option<&str>,
    ) -> Result<(), ClientError> {
        if has_condition(pod, reason, message) && nominated_node.is_none() {
            return Ok(());
        }
        let mut status =
            json!({"conditions": [unschedulable_condition(reason, message, &now_rfc3339())]});
        if let Some(n) = nominated_node {
            status["nominatedNodeName"] = n.into();
        }
        let target = ObjectTarget::object(&self.pods, Some(namespace(pod)), name(pod))
            .with_subresource("status");
        self.client
            .patch(
                &target,
                &Patch::Strategic(json!({ "status": status })),
                &PatchParams::default(),
            )
            .await
            .map(|_| ())
    }

    /// Records an Event about `pod` (`Normal`/`Warning`, reason, message).
    pub async fn event(
        &self,
        pod: &Pod,
        kind: &str,
        reason: &str,
        message: &str,
    ) -> Result<(), ClientError> {
        if !self.record_events {
            return Ok(());
        }
        let now = chrono::Utc::now();
        let ts = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let micro = now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let nanos = now.timestamp_nanos_opt().unwrap_or_default();
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": format!("{}.{:x}", name(pod), nanos), "namespace": namespace(pod)},
            "involvedObject": {
                "apiVersion": "v1", "kind": "Pod",
                "name": name(pod), "namespace": namespace(pod),
                "uid": pod.metadata.uid.clone().unwrap_or_default(),
                "resourceVersion": pod.metadata.resource_version.clone().unwrap_or_default(),
            },
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": COMPONENT},
            "firstTimestamp": ts,
            "lastTimestamp": ts,
            "eventTime": micro,
            "count": 1,
            "action": match reason {
                "Scheduled" => "Binding",
                "Preempted" => "Preempting",
                _ => "Scheduling",
            },
            "reportingComponent": COMPONENT,
            "reportingInstance": COMPONENT,
        });
        let target = ObjectTarget::collection(&self.events, Some(namespace(pod)));
        self.client
            .create(&target, event, &PostParams::default())
            .await
            .map(|_| ())
    }
}
