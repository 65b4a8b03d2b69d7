//! InterPodAffinity's PreFilter (counting matching pods per topology domain, once per
//! cycle), its AddPod/RemovePod extensions and its Filter (comparing a node's domains
//! against those counts), as kube-scheduler's `interpodaffinity/filtering.go`.

use k8s_openapi::api::core::v1::Pod;

use super::{
    count, has_pod_affinity, node_labels, IncomingPod, InterPodAffinity, TopologyCounts, NAME,
};
use crate::cache::{AffinityTerm, NodeInfo, PodInfo, Snapshot};
use crate::framework::{CycleState, FilterPlugin, PreFilterPlugin, PreFilterResult, Status};

/// The rejection when the pod's required affinity is not met.
pub const REASON_AFFINITY_RULES_NOT_MATCH: &str = "node(s) didn't match pod affinity rules";
/// The rejection when the pod's required anti-affinity is not met.
pub const REASON_ANTI_AFFINITY_RULES_NOT_MATCH: &str =
    "node(s) didn't match pod anti-affinity rules";
/// The rejection when an existing pod's required anti-affinity forbids the pod.
pub const REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

const STATE_KEY: &str = "PreFilterInterPodAffinity";

/// What PreFilter computed for the cycle.
#[derive(Clone, Debug, Default)]
pub(crate) struct PreFilterState {
    pub(crate) incoming: IncomingPod,
    /// Domains holding existing pods whose required anti-affinity matches the pod.
    pub(crate) existing_anti_affinity_counts: TopologyCounts,
    /// Domains holding pods matching all of the pod's required affinity terms.
    pub(crate) affinity_counts: TopologyCounts,
    /// Domains holding pods matching one of the pod's required anti-affinity terms.
    pub(crate) anti_affinity_counts: TopologyCounts,
    /// Whether the pod matches all of its own required affinity terms.
    pub(crate) self_matches: bool,
}

fn bump(counts: &mut TopologyCounts, node: &NodeInfo, key: &str, by: i64) {
    let Some(v) = node_labels(node).get(key) else {
        return;
    };
    let values = counts.entry(key.to_owned()).or_default();
    let e = values.entry(v.clone()).or_insert(0);
    *e += by;
    if *e == 0 {
        values.remove(v);
        if values.is_empty() {
            counts.remove(key);
        }
    }
}

/// Whether `existing` matches every term (and there is at least one).
fn matches_all(terms: &[AffinityTerm], existing: &PodInfo) -> bool {
    !terms.is_empty()
        && terms
            .iter()
            .all(|t| t.matches(existing.namespace(), existing.labels(), None))
}

impl PreFilterState {
    /// Counts (`by` = 1) or uncounts (-1) `existing` on `node`.
    pub(crate) fn update_with_pod(
        &mut self,
        pod: &Pod,
        existing: &PodInfo,
        node: &NodeInfo,
        by: i64,
    ) {
        if let Some(terms) = &existing.affinity {
            for t in &terms.required_anti_affinity {
                if t.matches_pod(pod, Some(&self.incoming.namespace_labels)) {
                    bump(
                        &mut self.existing_anti_affinity_counts,
                        node,
                        &t.topology_key,
                        by,
                    );
                }
            }
        }
        let mine = &self.incoming.terms;
        if matches_all(&mine.required_affinity, existing) {
            for t in &mine.required_affinity {
                bump(&mut self.affinity_counts, node, &t.topology_key, by);
            }
        }
        for t in &mine.required_anti_affinity {
            if t.matches(existing.namespace(), existing.labels(), None) {
                bump(&mut self.anti_affinity_counts, node, &t.topology_key, by);
            }
        }
    }
}

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        snapshot: &Snapshot,
    ) -> (PreFilterResult, Status) {
        let any_existing_anti = snapshot.have_pods_with_required_anti_affinity();
        if !any_existing_anti && !has_pod_affinity(pod) {
            // Nothing to check, without parsing or walking anything.
            return (PreFilterResult::default(), Status::skip());
        }
        let incoming = match IncomingPod::new(pod, snapshot) {
            Ok(i) => i,
            Err(e) => {
                return (
                    PreFilterResult::default(),
                    Status::error(format!("parsing pod: {e}")),
                )
            }
        };
        let has_required = !incoming.terms.required_affinity.is_empty()
            || !incoming.terms.required_anti_affinity.is_empty();
        let nodes = snapshot.nodes();
        if !has_required && !any_existing_anti {
            return (PreFilterResult::default(), Status::skip());
        }
        let own = &incoming.terms.required_affinity;
        let self_matches = !own.is_empty() && own.iter().all(|t| t.matches_pod(pod, None));
        let mut s = PreFilterState {
            incoming,
            self_matches,
            ..PreFilterState::default()
        };
        for node in nodes.iter().filter(|n| n.node().is_some()) {
            if has_required {
                for existing in node.pods() {
                    s.update_with_pod(pod, existing, node, 1);
                }
            } else if node.pods_with_required_anti_affinity() > 0 {
                for existing in node
                    .pods()
                    .iter()
                    .filter(|p| p.has_required_anti_affinity())
                {
                    s.update_with_pod(pod, existing, node, 1);
                }
            }
        }
        state.write(STATE_KEY, s);
        (PreFilterResult::default(), Status::success())
    }

    fn add_pod(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        added: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        match state.read_mut::<PreFilterState>(STATE_KEY) {
            Some(s) => {
                s.update_with_pod(pod, added, node, 1);
                Status::success()
            }
            None => Status::error(format!("{NAME}: no PreFilter state")),
        }
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        removed: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        match state.read_mut::<PreFilterState>(STATE_KEY) {
            Some(s) => {
                s.update_with_pod(pod, removed, node, -1);
                Status::success()
            }
            None => Status::error(format!("{NAME}: no PreFilter state")),
        }
    }
}

/// Whether the node's domains hold pods matching all required affinity terms (or
/// the pod is the first of a self-affine group).
fn satisfies_affinity(s: &PreFilterState, node: &NodeInfo) -> bool {
    let labels = node_labels(node);
    let mut pods_exist = true;
    for t in &s.incoming.terms.required_affinity {
        let Some(v) = labels.get(&t.topology_key) else {
            // Every topology key must be on the node.
            return false;
        };
        if count(&s.affinity_counts, &t.topology_key, v) <= 0 {
            pods_exist = false;
        }
    }
    if pods_exist {
        return true;
    }
    // No pod anywhere matches: let the pod in if it matches its own terms, so a
    // group of pods with affinity to each other can start.
    s.affinity_counts.is_empty() && s.self_matches
}

fn satisfies_anti_affinity(s: &PreFilterState, node: &NodeInfo) -> bool {
    let labels = node_labels(node);
    s.incoming.terms.required_anti_affinity.iter().all(|t| {
        labels
            .get(&t.topology_key)
            .is_none_or(|v| count(&s.anti_affinity_counts, &t.topology_key, v) <= 0)
    })
}

fn satisfies_existing_anti_affinity(s: &PreFilterState, node: &NodeInfo) -> bool {
    if s.existing_anti_affinity_counts.is_empty() {
        return true;
    }
    // Only the keys some term uses matter; look those up on the node.
    let labels = node_labels(node);
    s.existing_anti_affinity_counts.iter().all(|(k, values)| {
        labels
            .get(k)
            .is_none_or(|v| values.get(v).copied().unwrap_or(0) <= 0)
    })
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, _pod: &Pod, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>(STATE_KEY) else {
            return Status::error(format!("{NAME}: no PreFilter state"));
        };
        if !satisfies_affinity(s, node) {
            return Status::unresolvable(REASON_AFFINITY_RULES_NOT_MATCH);
        }
        if !satisfies_anti_affinity(s, node) {
            return Status::unschedulable(REASON_ANTI_AFFINITY_RULES_NOT_MATCH);
        }
        if !satisfies_existing_anti_affinity(s, node) {
            return Status::unschedulable(REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH);
        }
        Status::success()
    }
}
