//! NodePorts: a pod's host ports must be free on the node.
//!
//! ```
//! use skiff_sched::cache::HostPort;
//! use skiff_sched::plugins::node_ports::fits;
//! let hp = |ip: &str, port| HostPort { ip: ip.into(), protocol: "TCP".into(), port };
//! assert!(!fits(&[hp("0.0.0.0", 80)], &[hp("10.0.0.1", 80)]));
//! assert!(fits(&[hp("10.0.0.2", 80)], &[hp("10.0.0.1", 80)]));
//! ```

use k8s_openapi::api::core::v1::Pod;

use crate::cache::{pod_host_ports, HostPort, NodeInfo, Snapshot};
use crate::framework::{
    ClusterEvent, CycleState, FilterPlugin, Plugin, PreFilterPlugin, PreFilterResult, Status,
};

/// The plugin's name.
pub const NAME: &str = "NodePorts";
/// The rejection reason.
pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";
const STATE_KEY: &str = "PreFilterNodePorts";

/// Whether every wanted host port is free given the ports in use.
pub fn fits(wanted: &[HostPort], used: &[HostPort]) -> bool {
    !wanted.iter().any(|w| used.iter().any(|u| u.conflicts(w)))
}

/// The NodePorts pre-filter and filter.
#[derive(Debug, Default)]
pub struct NodePorts;

impl Plugin for NodePorts {
    fn name(&self) -> &str {
        NAME
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![ClusterEvent::NodeAdd, ClusterEvent::AssignedPodDelete]
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for NodePorts {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        _: &Snapshot,
    ) -> (PreFilterResult, Status) {
        let ports = pod_host_ports(pod);
        if ports.is_empty() {
            return (PreFilterResult::default(), Status::skip());
        }
        state.write(STATE_KEY, ports);
        (PreFilterResult::default(), Status::success())
    }
}

impl FilterPlugin for NodePorts {
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let computed;
        let wanted = match state.read::<Vec<HostPort>>(STATE_KEY) {
            Some(w) => w,
            None => {
                computed = pod_host_ports(pod);
                &computed
            }
        };
        if fits(wanted, node.used_ports()) {
            Status::success()
        } else {
            Status::unschedulable(REASON)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::*;
    use serde_json::{json, Value};

    fn ports(list: Value) -> Value {
        json!({"containers": [{"name": "c", "ports": list}]})
    }

    #[test]
    fn filter() {
        let cases = [
            (
                "no ports",
                json!([]),
                json!([{"containerPort": 80, "hostPort": 8080}]),
                Code::Success,
            ),
            (
                "other port",
                json!([{"containerPort": 80, "hostPort": 8081}]),
                json!([{"containerPort": 80, "hostPort": 8080}]),
                Code::Success,
            ),
            (
                "same port",
                json!([{"containerPort": 80, "hostPort": 8080}]),
                json!([{"containerPort": 80, "hostPort": 8080}]),
                Code::Unschedulable,
            ),
            (
                "other protocol",
                json!([{"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}]),
                json!([{"containerPort": 80, "hostPort": 8080}]),
                Code::Success,
            ),
            (
                "other ips",
                json!([{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}]),
                json!([{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.2"}]),
                Code::Success,
            ),
            (
                "wildcard vs ip",
                json!([{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}]),
                json!([{"containerPort": 80, "hostPort": 8080}]),
                Code::Unschedulable,
            ),
            (
                "container port only",
                json!([{"containerPort": 8080}]),
                json!([{"containerPort": 80, "hostPort": 8080}]),
                Code::Success,
            ),
        ];
        for (name, wanted, used, code) in cases {
            let n = info(sized_node("n1", "1", "1Gi"), vec![pod(ports(used))]);
            let p = pod(ports(wanted));
            let mut state = CycleState::new();
            let (_, pre) = NodePorts.pre_filter(&mut state, &p, &Snapshot::default());
            let s = if pre.is_skip() {
                Status::success()
            } else {
                NodePorts.filter(&state, &p, &n)
            };
            assert_eq!(s.code(), code, "{name}");
        }
    }
}
