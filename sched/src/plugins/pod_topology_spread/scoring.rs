//! PodTopologySpread's PreScore (matching pods per domain of each soft constraint,
//! over all nodes) and Score/NormalizeScore, as kube-scheduler's
//! `podtopologyspread/scoring.go`: a node scores `sum(count * log(domains + 2) +
//! maxSkew - 1)` over constraints, then `100 * (max + min - score) / max`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::filtering::has_node_constraints;
use super::{
    has_all_keys, keys_never_missing_apart, Action, PodTopologySpread, SpreadConstraint,
    LABEL_HOSTNAME, NAME,
};
use crate::cache::{NodeCounts, NodeInfo, PodSelection, Snapshot};
use crate::framework::{
    CycleState, NodeScore, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE,
};

const STATE_KEY: &str = "PreScorePodTopologySpread";

/// The node's value of `key`, `""` when it has none.
fn label_value<'a>(node: &'a k8s_openapi::api::core::v1::Node, key: &str) -> &'a str {
    node.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map_or("", String::as_str)
}

#[derive(Clone, Debug, Default)]
struct PreScoreState {
    constraints: Vec<SpreadConstraint>,
    /// Feasible nodes without every topology label: scored 0.
    ignored: HashSet<String>,
    /// Per constraint (hostname ones stay empty): domain → matching pods.
    counts: Vec<HashMap<String, i64>>,
    /// Per constraint: `ln(domains + 2)`.
    weights: Vec<f64>,
}

/// Adds, for the constraints with `per_node` counts, the matching pods of every
/// node that has all keys (when required) and passes the inclusion policies.
fn count_per_node(
    s: &mut PreScoreState,
    pod: &Pod,
    snapshot: &Snapshot,
    require_all: bool,
    per_node: &[Option<Arc<NodeCounts>>],
) {
    for info in snapshot.nodes() {
        let Some(node) = info.node() else { continue };
        if require_all && !has_all_keys(node, &s.constraints) {
            continue;
        }
        for (i, counts) in per_node.iter().enumerate() {
            let Some(counts) = counts else { continue };
            let c = &s.constraints[i];
            if !c.includes_node(pod, node) {
                continue;
            }
            let v = label_value(node, &c.topology_key);
            if let Some(e) = s.counts[i].get_mut(v) {
                *e += counts.get(info.name()).copied().unwrap_or(0);
            }
        }
    }
}

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
    ) -> Status {
        if nodes.is_empty() || snapshot.is_empty() {
            return Status::skip();
        }
        let (cs, defaulted) = match self.pod_constraints(pod, Action::ScheduleAnyway, snapshot) {
            Ok(c) => c,
            Err(e) => return Status::error(format!("parsing pod: {e}")),
        };
        if cs.is_empty() {
            return Status::skip();
        }
        // Nodes lacking a topology key are left out, except under the system
        // defaults (kube-scheduler's requireAllTopologies); their missing value then
        // counts as the domain "", as in kube-scheduler.
        let require_all = self.require_all_topologies(defaulted);
        let mut s = PreScoreState {
            counts: vec![HashMap::new(); cs.len()],
            weights: vec![0.0; cs.len()],
            constraints: cs,
            ignored: HashSet::new(),
        };
        let mut sizes = vec![0usize; s.constraints.len()];
        for info in nodes {
            let Some(node) = info.node() else { continue };
            if require_all && !has_all_keys(node, &s.constraints) {
                s.ignored.insert(info.name().to_owned());
                continue;
            }
            for (i, c) in s.constraints.iter().enumerate() {
                if c.topology_key == LABEL_HOSTNAME {
                    continue;
                }
                let v = label_value(node, &c.topology_key);
                if !s.counts[i].contains_key(v) {
                    s.counts[i].insert(v.to_owned(), 0);
                    sizes[i] += 1;
                }
            }
        }
        for (i, c) in s.constraints.iter().enumerate() {
            let size = if c.topology_key == LABEL_HOSTNAME {
                nodes.len() - s.ignored.len()
            } else {
                sizes[i]
            };
            s.weights[i] = ((size + 2) as f64).ln();
        }
        // Matching pods from the snapshot's incremental counts: per domain when every
        // node with the key is counted, else per node over a walk of the nodes.
        // Hostname constraints are counted on the scored node itself.
        let ns = crate::pod::namespace(pod);
        let node_constraints = has_node_constraints(pod);
        // Only nodes with all keys count when all are required; per domain works when
        // no node has one key but lacks another.
        let per_domain_ok = !require_all || keys_never_missing_apart(&s.constraints, snapshot);
        let mut per_node: Vec<Option<Arc<NodeCounts>>> = vec![None; s.constraints.len()];
        for (i, c) in s.constraints.iter().enumerate() {
            if c.topology_key == LABEL_HOSTNAME {
                continue;
            }
            let selection = PodSelection::new([ns.to_owned()], vec![c.selector.clone()], false);
            let check = c.honor_node_taints || (c.honor_node_affinity && node_constraints);
            if check || !per_domain_ok {
                per_node[i] = Some(snapshot.matching_pods_per_node(&selection));
                continue;
            }
            let sums = snapshot.matching_pods_per_domain(&selection, &c.topology_key);
            for (v, e) in s.counts[i].iter_mut() {
                *e += sums.get(v).copied().unwrap_or(0);
            }
            if !require_all {
                if let Some(e) = s.counts[i].get_mut("") {
                    // Nodes without the key count as the domain "".
                    let keyed: i64 = sums.values().sum();
                    *e += snapshot.matching_pods_total(&selection) - keyed;
                }
            }
        }
        if per_node.iter().any(Option::is_some) {
            count_per_node(&mut s, pod, snapshot, require_all, &per_node);
        }
        state.write(STATE_KEY, s);
        Status::success()
    }
}

impl ScorePlugin for PodTopologySpread {
    fn score(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let s = state
            .read::<PreScoreState>(STATE_KEY)
            .ok_or_else(|| Status::error(format!("{NAME}: no PreScore state")))?;
        if s.ignored.contains(node.name()) {
            return Ok(0);
        }
        let ns = crate::pod::namespace(pod);
        let empty = std::collections::BTreeMap::new();
        let labels = node.labels().unwrap_or(&empty);
        let mut score = 0.0;
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(v) = labels.get(&c.topology_key) else {
                continue;
            };
            let count = if c.topology_key == LABEL_HOSTNAME {
                node.pods().iter().filter(|p| c.counts(p, ns)).count() as i64
            } else {
                s.counts[i].get(v).copied().unwrap_or(0)
            };
            score += count as f64 * s.weights[i] + (c.max_skew - 1) as f64;
        }
        Ok(score.round() as i64)
    }

    fn normalize_score(&self, state: &CycleState, _pod: &Pod, scores: &mut [NodeScore]) -> Status {
        let Some(s) = state.read::<PreScoreState>(STATE_KEY) else {
            return Status::success();
        };
        let counted = scores.iter().filter(|n| !s.ignored.contains(n.name));
        let min = counted.clone().map(|n| n.score).min().unwrap_or(i64::MAX);
        let max = counted.map(|n| n.score).max().unwrap_or(0).max(0);
        for n in scores.iter_mut() {
            if s.ignored.contains(n.name) {
                n.score = 0;
            } else if max == 0 {
                n.score = MAX_NODE_SCORE;
            } else {
                n.score = MAX_NODE_SCORE * (max + min - n.score) / max;
            }
        }
        Status::success()
    }
}
