//! NodeName: a pod with `spec.nodeName` fits only that node.
//!
//! ```
//! use skiff_sched::plugins::node_name::fits;
//! assert!(fits(None, "n1"));
//! assert!(!fits(Some("n2"), "n1"));
//! ```

use k8s_openapi::api::core::v1::Pod;

use crate::cache::NodeInfo;
use crate::framework::{ClusterEvent, CycleState, FilterPlugin, Plugin, Status};

/// The plugin's name.
pub const NAME: &str = "NodeName";
/// The rejection reason.
pub const REASON: &str = "node(s) didn't match the requested node name";

/// Whether a pod asking for `wanted` fits `node`.
pub fn fits(wanted: Option<&str>, node: &str) -> bool {
    wanted.is_none_or(|w| w.is_empty() || w == node)
}

/// The NodeName filter.
#[derive(Debug, Default)]
pub struct NodeName;

impl Plugin for NodeName {
    fn name(&self) -> &str {
        NAME
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![ClusterEvent::NodeAdd]
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
}

impl FilterPlugin for NodeName {
    fn filter(&self, _: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let wanted = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        if fits(wanted, node.name()) {
            Status::success()
        } else {
            Status::unresolvable(REASON)
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
        let n = info(sized_node("n1", "1", "1Gi"), vec![]);
        let cases = [
            (json!({"containers": []}), Code::Success),
            (json!({"containers": [], "nodeName": "n1"}), Code::Success),
            (
                json!({"containers": [], "nodeName": "n2"}),
                Code::UnschedulableAndUnresolvable,
            ),
        ];
        for (spec, code) in cases {
            let s = NodeName.filter(&CycleState::new(), &pod(spec.clone()), &n);
            assert_eq!(s.code(), code, "{spec}");
            if !s.is_success() {
                assert_eq!(s.message(), REASON);
            }
        }
    }
}
