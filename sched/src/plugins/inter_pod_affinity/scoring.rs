//! InterPodAffinity's PreScore (weights of matching pods summed per topology domain)
//! and Score/NormalizeScore (a node's sum over its domains, min-max scaled to
//! 0..=100), as kube-scheduler's `interpodaffinity/scoring.go`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::{has_pod_affinity, node_labels, IncomingPod, InterPodAffinity, NAME};
use crate::cache::{AffinityTerm, NodeInfo, PodInfo, Snapshot, WeightedAffinityTerm};
use crate::framework::{
    CycleState, NodeScore, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE,
};

const STATE_KEY: &str = "PreScoreInterPodAffinity";

/// topologyKey → value → summed weight.
type ScoreMap = HashMap<String, HashMap<String, i64>>;

#[derive(Clone, Debug, Default)]
struct PreScoreState {
    topology_score: ScoreMap,
}

fn add_term(
    m: &mut ScoreMap,
    term: &AffinityTerm,
    weight: i64,
    ns: &str,
    labels: &BTreeMap<String, String>,
    ns_labels: Option<&BTreeMap<String, String>>,
    node_labels: &BTreeMap<String, String>,
) {
    if term.matches(ns, labels, ns_labels) {
        if let Some(v) = node_labels.get(&term.topology_key) {
            *m.entry(term.topology_key.clone())
                .or_default()
                .entry(v.clone())
                .or_insert(0) += weight;
        }
    }
}

impl InterPodAffinity {
    /// Adds what one existing pod on `node` contributes, in both directions.
    fn process_existing_pod(
        &self,
        m: &mut ScoreMap,
        incoming: &IncomingPod,
        pod: &Pod,
        existing: &PodInfo,
        node: &NodeInfo,
    ) {
        let nl = node_labels(node);
        if nl.is_empty() {
            return;
        }
        let (ens, elabels) = (existing.namespace(), existing.labels());
        let weighted = |m: &mut ScoreMap, terms: &[WeightedAffinityTerm], sign: i64| {
            for t in terms {
                add_term(m, &t.term, t.weight * sign, ens, elabels, None, nl);
            }
        };
        // The incoming pod's preferred terms about the existing pod.
        weighted(m, &incoming.terms.preferred_affinity, 1);
        weighted(m, &incoming.terms.preferred_anti_affinity, -1);
        // The existing pod's terms about the incoming pod.
        let Some(theirs) = &existing.affinity else {
            return;
        };
        let pns = crate::pod::namespace(pod);
        let plabels = pod.metadata.labels.clone().unwrap_or_default();
        let nsl = Some(&incoming.namespace_labels);
        if self.hard_pod_affinity_weight > 0 {
            for t in &theirs.required_affinity {
                add_term(m, t, self.hard_pod_affinity_weight, pns, &plabels, nsl, nl);
            }
        }
        for t in &theirs.preferred_affinity {
            add_term(m, &t.term, t.weight, pns, &plabels, nsl, nl);
        }
        for t in &theirs.preferred_anti_affinity {
            add_term(m, &t.term, -t.weight, pns, &plabels, nsl, nl);
        }
    }
}

impl PreScorePlugin for InterPodAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
    ) -> Status {
        if nodes.is_empty() || (!snapshot.have_pods_with_affinity() && !has_pod_affinity(pod)) {
            return Status::skip();
        }
        let incoming = match IncomingPod::new(pod, snapshot) {
            Ok(i) => i,
            Err(e) => return Status::error(format!("parsing pod: {e}")),
        };
        let has_constraints = !incoming.terms.preferred_affinity.is_empty()
            || !incoming.terms.preferred_anti_affinity.is_empty();
        if self.ignore_preferred_terms_of_existing_pods && !has_constraints {
            return Status::skip();
        }
        let mut m = ScoreMap::new();
        for node in snapshot.nodes() {
            if node.node().is_none() || (!has_constraints && node.pods_with_affinity() == 0) {
                continue;
            }
            for existing in node.pods() {
                if has_constraints || existing.affinity.is_some() {
                    self.process_existing_pod(&mut m, &incoming, pod, existing, node);
                }
            }
        }
        if m.is_empty() {
            return Status::skip();
        }
        state.write(STATE_KEY, PreScoreState { topology_score: m });
        Status::success()
    }
}

impl ScorePlugin for InterPodAffinity {
    fn score(&self, state: &CycleState, _pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let s = state
            .read::<PreScoreState>(STATE_KEY)
            .ok_or_else(|| Status::error(format!("{NAME}: no PreScore state")))?;
        let labels = node_labels(node);
        Ok(s.topology_score
            .iter()
            .filter_map(|(k, values)| labels.get(k).and_then(|v| values.get(v)))
            .sum())
    }

    fn normalize_score(&self, state: &CycleState, _pod: &Pod, scores: &mut [NodeScore]) -> Status {
        if state
            .read::<PreScoreState>(STATE_KEY)
            .is_none_or(|s| s.topology_score.is_empty())
        {
            return Status::success();
        }
        normalize(scores);
        Status::success()
    }
}

/// Min-max scaling to 0..=100 (all equal: all 0), as kube-scheduler.
pub(crate) fn normalize(scores: &mut [NodeScore]) {
    let min = scores.iter().map(|s| s.score).min().unwrap_or(0);
    let max = scores.iter().map(|s| s.score).max().unwrap_or(0);
    let diff = max - min;
    for s in scores {
        s.score = if diff > 0 {
            (MAX_NODE_SCORE as f64 * ((s.score - min) as f64 / diff as f64)) as i64
        } else {
            0
        };
    }
}
