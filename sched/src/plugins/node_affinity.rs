//! NodeAffinity: `spec.nodeSelector` and required node affinity must match the node
//! (filter); preferred node affinity terms add their weights (score, normalized so the
//! best node gets 100).
//!
//! ```
//! use skiff_sched::plugins::node_affinity::required_matches;
//! use skiff_sched::plugins::fixtures::{node_with_labels, pod_from_spec};
//! let pod = pod_from_spec(serde_json::json!({"containers": [], "nodeSelector": {"disk": "ssd"}}));
//! assert!(required_matches(&pod, &node_with_labels("n1", &[("disk", "ssd")])));
//! assert!(!required_matches(&pod, &node_with_labels("n2", &[("disk", "hdd")])));
//! ```

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, NodeAffinity as Affinity, Pod, PreferredSchedulingTerm};

use super::helpers::{default_normalize_score, term_matches};
use crate::cache::{NodeInfo, Snapshot};
use crate::framework::{
    ClusterEvent, CycleState, FilterPlugin, NodeScore, Plugin, PreFilterPlugin, PreFilterResult,
    PreScorePlugin, ScorePlugin, Status,
};

/// The plugin's name.
pub const NAME: &str = "NodeAffinity";
/// The rejection reason.
pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

fn node_affinity(pod: &Pod) -> Option<&Affinity> {
    pod.spec.as_ref()?.affinity.as_ref()?.node_affinity.as_ref()
}

/// Whether the pod's nodeSelector and required node affinity both match `node`.
pub fn required_matches(pod: &Pod, node: &Node) -> bool {
    pod.spec
        .as_ref()
        .is_none_or(|spec| skiff_core::selector::node::required_matches(spec, node))
}

/// The sum of the weights of the preferred terms that match `node`.
pub fn preferred_score(preferred: &[PreferredSchedulingTerm], node: &Node) -> i64 {
    preferred
        .iter()
        .filter(|t| t.weight != 0 && term_matches(&t.preference, node))
        .map(|t| i64::from(t.weight))
        .sum()
}

/// The node names the required terms pin the pod to, when every term pins it with
/// `matchFields: metadata.name In [...]` (then only those nodes are filtered).
fn required_node_names(pod: &Pod) -> Option<HashSet<String>> {
    let terms = &node_affinity(pod)?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    let mut names = HashSet::new();
    for t in terms {
        let pinned = t
            .match_fields
            .iter()
            .flatten()
            .find(|r| r.key == "metadata.name" && r.operator == "In")?;
        names.extend(pinned.values.iter().flatten().cloned());
    }
    (!terms.is_empty()).then_some(names)
}

/// The NodeAffinity pre-filter, filter, pre-score and score.
#[derive(Debug, Default)]
pub struct NodeAffinity;

impl Plugin for NodeAffinity {
    fn name(&self) -> &str {
        NAME
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![ClusterEvent::NodeAdd, ClusterEvent::NodeUpdate]
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for NodeAffinity {
    fn pre_filter(&self, _: &mut CycleState, pod: &Pod, _: &Snapshot) -> (PreFilterResult, Status) {
        let has_selector = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_selector.as_ref())
            .is_some_and(|s| !s.is_empty());
        let has_required = node_affinity(pod)
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .is_some();
        if !has_selector && !has_required {
            return (PreFilterResult::default(), Status::skip());
        }
        let result = PreFilterResult {
            node_names: required_node_names(pod),
        };
        (result, Status::success())
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, _: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        match node.node() {
            Some(n) if required_matches(pod, n) => Status::success(),
            _ => Status::unresolvable(REASON),
        }
    }
}

impl PreScorePlugin for NodeAffinity {
    fn pre_score(
        &self,
        _: &mut CycleState,
        pod: &Pod,
        _: &[Arc<NodeInfo>],
        _: &Snapshot,
    ) -> Status {
        let has_preferred = node_affinity(pod)
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .is_some_and(|p| !p.is_empty());
        if has_preferred {
            Status::success()
        } else {
            Status::skip()
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(&self, _: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let preferred = node_affinity(pod)
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_deref()
            })
            .unwrap_or(&[]);
        Ok(node
            .node()
            .map(|n| preferred_score(preferred, n))
            .unwrap_or(0))
    }
    fn normalize_score(&self, _: &CycleState, _: &Pod, scores: &mut [NodeScore]) -> Status {
        default_normalize_score(false, scores);
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::*;
    use serde_json::{json, Value};

    fn labeled(labels: Value) -> NodeInfo {
        info(node("n1", labels, json!({}), json!({})), vec![])
    }

    #[test]
    fn filter() {
        let req = |terms: Value| json!({"containers": [], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}});
        let cases = [
            (
                "no constraints",
                json!({"containers": []}),
                json!({"foo": "bar"}),
                Code::Success,
            ),
            (
                "selector matches",
                json!({"containers": [], "nodeSelector": {"foo": "bar"}}),
                json!({"foo": "bar"}),
                Code::Success,
            ),
            (
                "selector misses",
                json!({"containers": [], "nodeSelector": {"foo": "bar"}}),
                json!({"foo": "baz"}),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "selector on unlabeled node",
                json!({"containers": [], "nodeSelector": {"foo": "bar"}}),
                json!({}),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "required In",
                req(
                    json!([{"matchExpressions": [{"key": "foo", "operator": "In", "values": ["bar", "value2"]}]}]),
                ),
                json!({"foo": "bar"}),
                Code::Success,
            ),
            (
                "required terms ORed",
                req(json!([
                {"matchExpressions": [{"key": "foo", "operator": "In", "values": ["x"]}]},
                {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}])),
                json!({"foo": "bar"}),
                Code::Success,
            ),
            (
                "empty term list matches nothing",
                req(json!([])),
                json!({"foo": "bar"}),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "empty term matches nothing",
                req(json!([{}])),
                json!({"foo": "bar"}),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "selector and affinity both needed",
                {
                    let mut p =
                        req(json!([{"matchExpressions": [{"key": "foo", "operator": "Exists"}]}]));
                    p["nodeSelector"] = json!({"zone": "a"});
                    p
                },
                json!({"foo": "bar"}),
                Code::UnschedulableAndUnresolvable,
            ),
        ];
        for (name, spec, labels, code) in cases {
            let s = NodeAffinity.filter(&CycleState::new(), &pod(spec), &labeled(labels));
            assert_eq!(s.code(), code, "{name}");
        }
    }

    #[test]
    fn pre_filter_pins_node_names() {
        let p = pod(
            json!({"containers": [], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1", "n2"]}]}]}}}}),
        );
        let (r, s) = NodeAffinity.pre_filter(&mut CycleState::new(), &p, &Snapshot::default());
        assert!(s.is_success());
        assert_eq!(
            r.node_names,
            Some(["n1".to_owned(), "n2".to_owned()].into())
        );
        let (_, s) = NodeAffinity.pre_filter(
            &mut CycleState::new(),
            &pod(json!({"containers": []})),
            &Snapshot::default(),
        );
        assert!(s.is_skip());
    }

    #[test]
    fn preferred_score_normalized() {
        // kube-scheduler's node_affinity_test: weights 2 (foo=bar), 4 (key=value),
        // 5 (az in [az1]); the node with all three gets 100.
        let p = pod(
            json!({"containers": [], "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 2, "preference": {"matchExpressions": [{"key": "foo", "operator": "In", "values": ["bar"]}]}},
            {"weight": 4, "preference": {"matchExpressions": [{"key": "key", "operator": "In", "values": ["value"]}]}},
            {"weight": 5, "preference": {"matchExpressions": [{"key": "az", "operator": "In", "values": ["az1"]}]}}]}}}),
        );
        let nodes = [
            labeled(json!({"foo": "bar"})),
            labeled(json!({"foo": "bar", "key": "value", "az": "az1"})),
            labeled(json!({"key": "value"})),
            labeled(json!({})),
        ];
        let state = CycleState::new();
        let mut scores: Vec<NodeScore> = nodes
            .iter()
            .map(|n| NodeScore {
                name: "",
                score: NodeAffinity.score(&state, &p, n).unwrap(),
            })
            .collect();
        assert_eq!(
            scores.iter().map(|s| s.score).collect::<Vec<_>>(),
            vec![2, 11, 4, 0]
        );
        NodeAffinity.normalize_score(&state, &p, &mut scores);
        assert_eq!(
            scores.iter().map(|s| s.score).collect::<Vec<_>>(),
            vec![18, 100, 36, 0]
        );
    }
}
