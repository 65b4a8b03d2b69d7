//! A node's pulse: when the controller last saw its heartbeat move (the Lease's
//! `renewTime` or the `Ready` condition's `lastHeartbeatTime`), by the controller's
//! own clock, and the conditions of a node whose pulse stopped.
//!
//! Like Kubernetes' `probeTimestamp`, the time is when the *controller observed* a
//! change, never the node's own clock, so clock skew between machines does not
//! matter.
//!
//! ```
//! use k8s_openapi::api::core::v1::Node;
//! use skiff_controllers::node_lifecycle::health::HealthTracker;
//! let mut tracker = HealthTracker::default();
//! let node: Node = serde_json::from_value(serde_json::json!({"metadata": {"name": "n1"},
//!     "status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-01-01T00:00:00Z"}]}})).unwrap();
//! let t0 = skiff_core::runtime::now();
//! assert_eq!(tracker.observe(&node, None, t0), t0);
//! // Nothing moved: still the first sighting.
//! assert_eq!(tracker.observe(&node, None, t0 + std::time::Duration::from_secs(5)), t0);
//! ```

use std::collections::HashMap;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// The reason of conditions set `Unknown` because heartbeats stopped.
pub const REASON_UNKNOWN: &str = "NodeStatusUnknown";
/// The message of those conditions.
pub const MESSAGE_UNKNOWN: &str = "Kubelet stopped posting node status.";
/// The reason of a `Ready` condition added for a node that never posted one.
pub const REASON_NEVER_UPDATED: &str = "NodeStatusNeverUpdated";
/// Its message.
pub const MESSAGE_NEVER_UPDATED: &str = "Kubelet never posted node status.";
/// The conditions a node agent reports, set `Unknown` together.
pub const NODE_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

#[derive(Clone, Debug)]
struct Probe {
    /// The heartbeat as last seen: lease renew time and Ready heartbeat.
    pulse: String,
    /// When the controller saw it change.
    seen: Timestamp,
}

/// The last observed pulse of every node.
#[derive(Debug, Default)]
pub struct HealthTracker {
    probes: HashMap<String, Probe>,
}

/// The node's `Ready` condition.
pub fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

fn pulse(node: &Node, lease: Option<&Lease>) -> String {
    let renew = lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.renew_time.as_ref())
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    let ready = ready_condition(node);
    let heartbeat = ready
        .and_then(|c| c.last_heartbeat_time.as_ref())
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    // Not the condition's status: the controller writes that itself.
    format!("{renew}|{heartbeat}")
}

impl HealthTracker {
    /// Records the node's current heartbeat at `now` and returns when it last moved
    /// (a node seen for the first time moved now).
    pub fn observe(&mut self, node: &Node, lease: Option<&Lease>, now: Timestamp) -> Timestamp {
        let name = node.metadata.name.clone().unwrap_or_default();
        let pulse = pulse(node, lease);
        let probe = self.probes.entry(name).or_insert_with(|| Probe {
            pulse: pulse.clone(),
            seen: now,
        });
        if probe.pulse != pulse {
            probe.pulse = pulse;
            probe.seen = now;
        }
        probe.seen
    }

    /// Forgets every node not in `names` (deleted nodes).
    pub fn retain(&mut self, names: &std::collections::HashSet<String>) {
        self.probes.retain(|n, _| names.contains(n));
    }
}

/// The node's conditions once its heartbeats have stopped: every node-agent condition
/// `Unknown` (reason [`REASON_UNKNOWN`]), and a `Ready: Unknown` added if the node
/// never reported one. `None` when they already are.
pub fn conditions_when_silent(node: &Node, now: Timestamp) -> Option<Vec<NodeCondition>> {
    let current = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let mut next = current.clone();
    for c in next.iter_mut() {
        if NODE_CONDITIONS.contains(&c.type_.as_str()) && c.status != "Unknown" {
            c.status = "Unknown".into();
            c.reason = Some(REASON_UNKNOWN.into());
            c.message = Some(MESSAGE_UNKNOWN.into());
            c.last_transition_time = Some(Time(now));
        }
    }
    if !next.iter().any(|c| c.type_ == "Ready") {
        next.push(NodeCondition {
            type_: "Ready".into(),
            status: "Unknown".into(),
            reason: Some(REASON_NEVER_UPDATED.into()),
            message: Some(MESSAGE_NEVER_UPDATED.into()),
            last_heartbeat_time: node.metadata.creation_timestamp.clone(),
            last_transition_time: Some(Time(now)),
        });
    }
    (next != current).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn a_renewed_lease_moves_the_pulse() {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap();
        let lease = |t: &str| -> Lease {
            serde_json::from_value(json!({"metadata": {"name": "n1"}, "spec": {"renewTime": t}}))
                .unwrap()
        };
        let mut tracker = HealthTracker::default();
        let t0 = skiff_core::runtime::now();
        let t1 = t0 + Duration::from_secs(10);
        tracker.observe(&node, Some(&lease("2026-01-01T00:00:00.000000Z")), t0);
        assert_eq!(
            tracker.observe(&node, Some(&lease("2026-01-01T00:00:00.000000Z")), t1),
            t0
        );
        assert_eq!(
            tracker.observe(&node, Some(&lease("2026-01-01T00:00:10.000000Z")), t1),
            t1
        );
        tracker.retain(&Default::default());
        let t2 = t1 + Duration::from_secs(1);
        assert_eq!(tracker.observe(&node, None, t2), t2);
    }

    #[test]
    fn silent_nodes_go_unknown_once() {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"},
            "status": {"conditions": [
                {"type": "Ready", "status": "True", "reason": "KubeletReady"},
                {"type": "MemoryPressure", "status": "False"},
                {"type": "NetworkUnavailable", "status": "False"}]}}))
        .unwrap();
        let now = skiff_core::runtime::now();
        let next = conditions_when_silent(&node, now).unwrap();
        let by_type = |t: &str| next.iter().find(|c| c.type_ == t).unwrap().clone();
        assert_eq!(by_type("Ready").status, "Unknown");
        assert_eq!(by_type("Ready").reason.as_deref(), Some(REASON_UNKNOWN));
        assert_eq!(by_type("Ready").message.as_deref(), Some(MESSAGE_UNKNOWN));
        assert_eq!(by_type("MemoryPressure").status, "Unknown");
        assert_eq!(by_type("NetworkUnavailable").status, "False");
        let mut silent = node.clone();
        silent.status.as_mut().unwrap().conditions = Some(next);
        assert!(conditions_when_silent(&silent, now).is_none());

        let bare: Node = serde_json::from_value(json!({"metadata": {"name": "n2"}})).unwrap();
        let added = conditions_when_silent(&bare, now).unwrap();
        assert_eq!(added[0].reason.as_deref(), Some(REASON_NEVER_UPDATED));
    }
}
