//! NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes only pods that
//! tolerate the `node.kubernetes.io/unschedulable:NoSchedule` taint.
//!
//! ```
//! use k8s_openapi::api::core::v1::Toleration;
//! use skiff_sched::plugins::node_unschedulable::fits;
//! assert!(fits(false, &[]));
//! assert!(!fits(true, &[]));
//! let tol = Toleration { key: Some("node.kubernetes.io/unschedulable".into()), operator: Some("Exists".into()), ..Default::default() };
//! assert!(fits(true, &[tol]));
//! ```

use k8s_openapi::api::core::v1::{Pod, Taint, Toleration};

use super::helpers::tolerates;
use crate::cache::NodeInfo;
use crate::framework::{ClusterEvent, CycleState, FilterPlugin, Plugin, Status};

/// The plugin's name.
pub const NAME: &str = "NodeUnschedulable";
/// The rejection reason for a cordoned node.
pub const REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// The rejection reason when the node object is missing.
pub const REASON_UNKNOWN: &str = "node(s) had unknown conditions";

/// Whether a pod with `tolerations` fits a node with `unschedulable`.
pub fn fits(unschedulable: bool, tolerations: &[Toleration]) -> bool {
    if !unschedulable {
        return true;
    }
    let taint = Taint {
        key: "node.kubernetes.io/unschedulable".into(),
        effect: "NoSchedule".into(),
        ..Default::default()
    };
    tolerations.iter().any(|t| tolerates(t, &taint))
}

/// The NodeUnschedulable filter.
#[derive(Debug, Default)]
pub struct NodeUnschedulable;

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &str {
        NAME
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![ClusterEvent::NodeAdd, ClusterEvent::NodeUpdate]
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
}

impl FilterPlugin for NodeUnschedulable {
    fn filter(&self, _: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        if !node.has_node() {
            return Status::unresolvable(REASON_UNKNOWN);
        }
        let unschedulable = node.unschedulable();
        let tolerations = pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or(&[]);
        if fits(unschedulable, tolerations) {
            Status::success()
        } else {
            Status::unresolvable(REASON_UNSCHEDULABLE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::*;
    use serde_json::json;

    #[test]
    fn filter() {
        let cases = [
            (json!({}), json!({"containers": []}), Code::Success),
            (
                json!({"unschedulable": false}),
                json!({"containers": []}),
                Code::Success,
            ),
            (
                json!({"unschedulable": true}),
                json!({"containers": []}),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                json!({"unschedulable": true}),
                json!({"containers": [], "tolerations": [
                {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}),
                Code::Success,
            ),
            (
                json!({"unschedulable": true}),
                json!({"containers": [], "tolerations": [
                {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoExecute"}]}),
                Code::UnschedulableAndUnresolvable,
            ),
        ];
        for (spec, pspec, code) in cases {
            let n = info(node("n1", json!({}), spec.clone(), json!({})), vec![]);
            let s = NodeUnschedulable.filter(&CycleState::new(), &pod(pspec), &n);
            assert_eq!(s.code(), code, "{spec}");
        }
        let s = NodeUnschedulable.filter(
            &CycleState::new(),
            &pod(json!({"containers": []})),
            &NodeInfo::placeholder("gone"),
        );
        assert_eq!(s.message(), REASON_UNKNOWN);
    }
}
