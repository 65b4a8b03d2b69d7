//! TaintToleration: a pod must tolerate the node's `NoSchedule` and `NoExecute`
//! taints (filter), and prefers nodes with fewer untolerated `PreferNoSchedule` taints
//! (score, reversed so the fewest scores 100).
//!
//! ```
//! use k8s_openapi::api::core::v1::Taint;
//! use skiff_sched::plugins::taint_toleration::{untolerated_hard_taint, count_intolerable_preferred};
//! let taints = vec![Taint { key: "dedicated".into(), value: Some("db".into()), effect: "NoSchedule".into(), ..Default::default() }];
//! assert_eq!(untolerated_hard_taint(&taints, &[]).map(|t| t.key.as_str()), Some("dedicated"));
//! assert_eq!(count_intolerable_preferred(&taints, &[]), 0);
//! ```

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Taint, Toleration};

use super::helpers::{default_normalize_score, find_untolerated, tolerates};
use crate::cache::{NodeInfo, Snapshot};
use crate::framework::{
    ClusterEvent, CycleState, FilterPlugin, NodeScore, Plugin, PreScorePlugin, ScorePlugin, Status,
};

/// The plugin's name.
pub const NAME: &str = "TaintToleration";

/// The first `NoSchedule`/`NoExecute` taint no toleration tolerates.
pub fn untolerated_hard_taint<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
) -> Option<&'a Taint> {
    find_untolerated(taints, tolerations, |t| {
        t.effect == "NoSchedule" || t.effect == "NoExecute"
    })
}

/// The number of `PreferNoSchedule` taints not tolerated by the tolerations whose
/// effect is empty or `PreferNoSchedule`.
pub fn count_intolerable_preferred(taints: &[Taint], tolerations: &[Toleration]) -> i64 {
    let relevant: Vec<&Toleration> = tolerations
        .iter()
        .filter(|t| {
            matches!(
                t.effect.as_deref(),
                None | Some("") | Some("PreferNoSchedule")
            )
        })
        .collect();
    taints
        .iter()
        .filter(|t| t.effect == "PreferNoSchedule")
        .filter(|t| !relevant.iter().any(|tol| tolerates(tol, t)))
        .count() as i64
}

/// The rejection reason for an untolerated taint, as kube-scheduler prints it.
pub fn reason(taint: &Taint) -> String {
    format!(
        "node(s) had untolerated taint {{{}: {}}}",
        taint.key,
        taint.value.as_deref().unwrap_or("")
    )
}

fn taints(node: &NodeInfo) -> &[Taint] {
    node.node()
        .and_then(|n| n.spec.as_ref())
        .and_then(|s| s.taints.as_deref())
        .unwrap_or(&[])
}

fn tolerations(pod: &Pod) -> &[Toleration] {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[])
}

/// The TaintToleration filter and score.
#[derive(Debug, Default)]
pub struct TaintToleration;

impl Plugin for TaintToleration {
    fn name(&self) -> &str {
        NAME
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![ClusterEvent::NodeAdd, ClusterEvent::NodeUpdate]
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

impl FilterPlugin for TaintToleration {
    fn filter(&self, _: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        if !node.has_hard_taints() {
            return Status::success();
        }
        match untolerated_hard_taint(taints(node), tolerations(pod)) {
            None => Status::success(),
            Some(t) => Status::unresolvable(reason(t)),
        }
    }
}

impl PreScorePlugin for TaintToleration {
    fn pre_score(
        &self,
        _: &mut CycleState,
        _: &Pod,
        nodes: &[Arc<NodeInfo>],
        _: &Snapshot,
    ) -> Status {
        // Nothing to precompute; skip scoring when no node has a soft taint.
        if nodes.iter().any(|n| n.has_soft_taints()) {
            Status::success()
        } else {
            Status::skip()
        }
    }
}

impl ScorePlugin for TaintToleration {
    fn score(&self, _: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        Ok(count_intolerable_preferred(taints(node), tolerations(pod)))
    }
    fn normalize_score(&self, _: &CycleState, _: &Pod, scores: &mut [NodeScore]) -> Status {
        default_normalize_score(true, scores);
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::*;
    use serde_json::{json, Value};

    fn tainted(taints: Value) -> NodeInfo {
        info(
            node("n1", json!({}), json!({"taints": taints}), json!({})),
            vec![],
        )
    }

    #[test]
    fn filter() {
        let cases = [
            ("no taints", json!([]), json!([]), Code::Success, ""),
            (
                "untolerated NoSchedule",
                json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]),
                json!([]),
                Code::UnschedulableAndUnresolvable,
                "node(s) had untolerated taint {dedicated: user1}",
            ),
            (
                "tolerated",
                json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]),
                json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]),
                Code::Success,
                "",
            ),
            (
                "wrong value",
                json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]),
                json!([{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"}]),
                Code::UnschedulableAndUnresolvable,
                "node(s) had untolerated taint {dedicated: user1}",
            ),
            (
                "NoExecute counts",
                json!([{"key": "k", "effect": "NoExecute"}]),
                json!([]),
                Code::UnschedulableAndUnresolvable,
                "node(s) had untolerated taint {k: }",
            ),
            (
                "PreferNoSchedule ignored by filter",
                json!([{"key": "k", "value": "v", "effect": "PreferNoSchedule"}]),
                json!([]),
                Code::Success,
                "",
            ),
        ];
        for (name, t, tol, code, msg) in cases {
            let s = TaintToleration.filter(
                &CycleState::new(),
                &pod(json!({"containers": [], "tolerations": tol})),
                &tainted(t),
            );
            assert_eq!((s.code(), s.message().as_str()), (code, msg), "{name}");
        }
    }

    #[test]
    fn score_prefers_fewer_untolerated_soft_taints() {
        // From kube-scheduler's taint_toleration_test.go: the node with no intolerable
        // taints scores 100, one with 2 of 2 scores 0, one with 1 of 2 scores 50.
        let nodes = [
            tainted(json!([])),
            tainted(
                json!([{"key": "a", "value": "1", "effect": "PreferNoSchedule"}, {"key": "b", "value": "2", "effect": "PreferNoSchedule"}]),
            ),
            tainted(
                json!([{"key": "a", "value": "1", "effect": "PreferNoSchedule"}, {"key": "c", "value": "3", "effect": "PreferNoSchedule"}]),
            ),
        ];
        let p = pod(
            json!({"containers": [], "tolerations": [{"key": "c", "operator": "Equal", "value": "3", "effect": "PreferNoSchedule"}]}),
        );
        let state = CycleState::new();
        let mut scores: Vec<NodeScore> = nodes
            .iter()
            .map(|n| NodeScore {
                name: "",
                score: TaintToleration.score(&state, &p, n).unwrap(),
            })
            .collect();
        TaintToleration.normalize_score(&state, &p, &mut scores);
        assert_eq!(
            scores.iter().map(|s| s.score).collect::<Vec<_>>(),
            vec![100, 0, 50]
        );
        // A NoSchedule toleration does not count for soft taints.
        let p = pod(
            json!({"containers": [], "tolerations": [{"key": "a", "operator": "Exists", "effect": "NoSchedule"}]}),
        );
        assert_eq!(TaintToleration.score(&state, &p, &nodes[1]).unwrap(), 2);
    }
}
