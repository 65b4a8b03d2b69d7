//! NodeResourcesBalancedAllocation: prefers nodes where, after placing the pod, the
//! fractions of each resource in use are close to each other (score
//! `(1 - stddev) * 100`).
//!
//! ```
//! use skiff_sched::plugins::node_resources::balanced_score;
//! assert_eq!(balanced_score(&[0.5, 0.5]), 100);
//! assert_eq!(balanced_score(&[0.25, 0.75]), 75);
//! ```

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::fit::ScoredResources;
use crate::cache::{pod_requests, NodeInfo, Resource, Snapshot};
use crate::framework::{
    ClusterEvent, CycleState, Plugin, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE,
};

/// The plugin's name.
pub const NAME: &str = "NodeResourcesBalancedAllocation";
const STATE_KEY: &str = "PreScoreNodeResourcesBalancedAllocation";

/// `(1 - standard deviation of the fractions) * 100`; fractions above 1 count as 1.
pub fn balanced_score(fractions: &[f64]) -> i64 {
    let f = |i: usize| fractions[i].min(1.0);
    let std = match fractions.len() {
        0 | 1 => 0.0,
        2 => ((f(0) - f(1)) / 2.0).abs(),
        n => {
            let mean = (0..n).map(f).sum::<f64>() / n as f64;
            ((0..n).map(|i| (f(i) - mean) * (f(i) - mean)).sum::<f64>() / n as f64).sqrt()
        }
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

/// The NodeResourcesBalancedAllocation score.
#[derive(Debug)]
pub struct BalancedAllocation {
    scored: ScoredResources,
}

impl Default for BalancedAllocation {
    fn default() -> Self {
        BalancedAllocation {
            scored: ScoredResources::new(&super::fit::default_resources()),
        }
    }
}

impl BalancedAllocation {
    /// The score of one node for a pod requesting `requests`.
    fn node_score(&self, requests: &Resource, node: &NodeInfo) -> i64 {
        // Up to 8 resources on the stack (the default scores two).
        let mut buf = [0f64; 8];
        let mut more = Vec::new();
        let mut n = 0;
        for (name, _) in self.scored.iter() {
            let alloc = node.allocatable().amount(name);
            if alloc == 0 {
                continue;
            }
            let requested = node.requested().amount(name) + requests.amount(name);
            let fraction = requested as f64 / alloc as f64;
            if n < buf.len() {
                buf[n] = fraction;
            } else {
                if more.is_empty() {
                    more.extend_from_slice(&buf);
                }
                more.push(fraction);
            }
            n += 1;
        }
        if more.is_empty() {
            balanced_score(&buf[..n])
        } else {
            balanced_score(&more)
        }
    }
}

impl Plugin for BalancedAllocation {
    fn name(&self) -> &str {
        NAME
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        Vec::new()
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreScorePlugin for BalancedAllocation {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        _: &[Arc<NodeInfo>],
        _: &Snapshot,
    ) -> Status {
        let requests = pod_requests(pod);
        // A pod that requests none of the scored resources changes no balance.
        if self
            .scored
            .iter()
            .all(|(name, _)| requests.amount(name) == 0)
        {
            return Status::skip();
        }
        state.write(STATE_KEY, requests);
        Status::success()
    }
}

/// The pod's requests from PreScore, or computed into `owned` when PreScore did not run.
fn requests_of<'a>(
    state: &'a CycleState,
    pod: &Pod,
    owned: &'a mut Option<Resource>,
) -> &'a Resource {
    match state.read::<Resource>(STATE_KEY) {
        Some(r) => r,
        None => owned.insert(pod_requests(pod)),
    }
}

impl ScorePlugin for BalancedAllocation {
    fn score(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let mut owned = None;
        let requests = requests_of(state, pod, &mut owned);
        Ok(self.node_score(requests, node))
    }

    fn score_nodes(
        &self,
        state: &CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        out: &mut [i64],
    ) -> Result<(), Status> {
        let mut owned = None;
        let requests = requests_of(state, pod, &mut owned);
        for (node, score) in nodes.iter().zip(out.iter_mut()) {
            *score = self.node_score(requests, node);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;

    #[test]
    fn scores_like_kube_scheduler() {
        // balanced_allocation_test "nothing scheduled, resources requested,
        // differently sized nodes": pod 3000m / 5000; node1 4000m / 10000 -> cpu 0.75,
        // memory 0.5, std 0.125 -> 87; node2 6000m / 10000 -> 0.5, 0.5 -> 100.
        let p = requesting("3", "5000");
        let b = BalancedAllocation::default();
        let mut state = CycleState::new();
        assert!(b
            .pre_score(&mut state, &p, &[], &Snapshot::default())
            .is_success());
        let n1 = info(sized_node("n1", "4", "10000"), vec![]);
        let n2 = info(sized_node("n2", "6", "10000"), vec![]);
        assert_eq!(b.score(&state, &p, &n1).unwrap(), 87);
        assert_eq!(b.score(&state, &p, &n2).unwrap(), 100);
        // Existing pods count with their real requests.
        let n3 = info(
            sized_node("n3", "10", "20000"),
            vec![requesting("3", "0"), requesting("3", "5000")],
        );
        // cpu (6+3)/10 = 0.9, memory (5000+5000)/20000 = 0.5, std 0.2 -> 80
        assert_eq!(b.score(&state, &p, &n3).unwrap(), 80);
        // Best-effort pods skip the plugin.
        assert!(b
            .pre_score(
                &mut CycleState::new(),
                &requesting("", ""),
                &[],
                &Snapshot::default()
            )
            .is_skip());
        assert_eq!(balanced_score(&[0.1, 0.2, 0.9]), 64);
    }
}
