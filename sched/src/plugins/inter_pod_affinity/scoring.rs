//! InterPodAffinity's PreScore (weights of matching pods summed per topology domain)
//! and Score/NormalizeScore (a node's sum over its domains, min-max scaled to
//! 0..=100), as kube-scheduler's `interpodaffinity/scoring.go`. The PreScore reads
//! the snapshot's indexes (matching pods per domain, existing pods' terms per domain)
//! instead of walking every pod.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::filtering::term_selection;
use super::{has_pod_affinity, node_labels, IncomingPod, InterPodAffinity, NAME};
use crate::cache::{DomainCounts, NodeInfo, Snapshot, TermKind};
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

/// Adds `weight` times per-domain counts of `key` into `counts`; an entry is made for
/// every domain with pods, whatever the sum.
fn add_weighted(counts: &mut ScoreMap, key: &str, domains: &DomainCounts, weight: i64) {
    if domains.is_empty() {
        return;
    }
    let values = counts.entry(key.to_owned()).or_default();
    values.reserve(domains.len());
    for (v, n) in domains {
        *values.entry(v.clone()).or_insert(0) += n * weight;
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
        // The incoming pod's preferred terms: matching pods per domain from the
        // snapshot's incremental counts.
        for (terms, sign) in [
            (&incoming.terms.preferred_affinity, 1),
            (&incoming.terms.preferred_anti_affinity, -1),
        ] {
            for t in terms {
                let selection = term_selection(&t.term);
                if !selection.is_empty() {
                    let sums = snapshot.matching_pods_per_domain(&selection, &t.term.topology_key);
                    add_weighted(&mut m, &t.term.topology_key, &sums, sign * t.weight);
                }
            }
        }
        // Existing pods' terms about the incoming pod: one check per distinct term.
        if snapshot.have_pods_with_affinity() {
            let pns = crate::pod::namespace(pod);
            let plabels = pod.metadata.labels.clone().unwrap_or_default();
            let nsl = Some(&incoming.namespace_labels);
            let index = snapshot.existing_affinity_terms();
            let mut theirs = |kind: TermKind, weight: Option<i64>, sign: i64| {
                for t in index.of_kind(kind) {
                    if t.term.matches(pns, &plabels, nsl) {
                        let w = weight.unwrap_or(t.weight) * sign;
                        add_weighted(&mut m, &t.term.topology_key, &t.domains, w);
                    }
                }
            };
            if self.hard_pod_affinity_weight > 0 {
                theirs(
                    TermKind::RequiredAffinity,
                    Some(self.hard_pod_affinity_weight),
                    1,
                );
            }
            theirs(TermKind::PreferredAffinity, None, 1);
            theirs(TermKind::PreferredAntiAffinity, None, -1);
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
