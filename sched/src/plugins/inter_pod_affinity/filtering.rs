//! InterPodAffinity's PreFilter (counting matching pods per topology domain, once per
//! cycle), its AddPod/RemovePod extensions and its Filter (comparing a node's domains
//! against those counts), as kube-scheduler's `interpodaffinity/filtering.go`. The
//! PreFilter reads the snapshot's indexes (existing pods' terms per domain, matching
//! pods per domain) instead of walking every pod.

use k8s_openapi::api::core::v1::Pod;

use super::cycle_counts::{CycleCounts, Stale};
use super::{has_pod_affinity, node_labels, IncomingPod, InterPodAffinity, NAME};
use crate::cache::{AffinityTerm, NodeInfo, PodInfo, PodSelection, Snapshot, TermKind};
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
    pub(crate) existing_anti_affinity_counts: CycleCounts,
    /// Domains holding pods matching all of the pod's required affinity terms.
    pub(crate) affinity_counts: CycleCounts,
    /// Domains holding pods matching one of the pod's required anti-affinity terms.
    pub(crate) anti_affinity_counts: CycleCounts,
    /// Whether the pod matches all of its own required affinity terms.
    pub(crate) self_matches: bool,
}

fn bump(counts: &mut CycleCounts, node: &NodeInfo, key: &str, by: i64) {
    if let Some(v) = node_labels(node).get(key) {
        counts.bump(key, v, by);
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

/// The pods one of the incoming pod's terms is about (its namespace selector is
/// already folded into its namespaces; terminating pods count).
pub(crate) fn term_selection(t: &AffinityTerm) -> PodSelection {
    PodSelection::new(t.namespaces.iter().cloned(), vec![t.selector.clone()], true)
}

/// The pods matching every one of `terms`.
fn all_terms_selection(terms: &[AffinityTerm]) -> PodSelection {
    let namespaces = terms.iter().skip(1).fold(
        terms
            .first()
            .map(|t| t.namespaces.clone())
            .unwrap_or_default(),
        |acc, t| acc.intersection(&t.namespaces).cloned().collect(),
    );
    PodSelection::new(
        namespaces,
        terms.iter().map(|t| t.selector.clone()).collect(),
        true,
    )
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
        // Existing pods' required anti-affinity terms about the pod: one check per
        // distinct term, its domains from the snapshot's index.
        if any_existing_anti {
            for t in snapshot
                .existing_affinity_terms()
                .of_kind(TermKind::RequiredAntiAffinity)
            {
                if t.term.matches_pod(pod, Some(&s.incoming.namespace_labels)) {
                    s.existing_anti_affinity_counts
                        .add_shared(&t.term.topology_key, &t.domains);
                }
            }
        }
        // The pod's own terms: pods matching them per domain, from the snapshot's
        // incremental counts.
        let mine = &s.incoming.terms;
        if !mine.required_affinity.is_empty() {
            let all = all_terms_selection(&mine.required_affinity);
            if !all.is_empty() {
                for t in &mine.required_affinity {
                    let sums = snapshot.matching_pods_per_domain(&all, &t.topology_key);
                    s.affinity_counts.add_shared(&t.topology_key, &sums);
                }
            }
        }
        for t in &mine.required_anti_affinity {
            let selection = term_selection(t);
            if !selection.is_empty() {
                let sums = snapshot.matching_pods_per_domain(&selection, &t.topology_key);
                s.anti_affinity_counts.add_shared(&t.topology_key, &sums);
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
fn satisfies_affinity(s: &PreFilterState, node: &NodeInfo) -> Result<bool, Stale> {
    let labels = node_labels(node);
    let mut pods_exist = true;
    for t in &s.incoming.terms.required_affinity {
        let Some(v) = labels.get(&t.topology_key) else {
            // Every topology key must be on the node.
            return Ok(false);
        };
        if s.affinity_counts.count(&t.topology_key, v)? <= 0 {
            pods_exist = false;
        }
    }
    if pods_exist {
        return Ok(true);
    }
    // No pod anywhere matches: let the pod in if it matches its own terms, so a
    // group of pods with affinity to each other can start.
    Ok(s.affinity_counts.is_empty() && s.self_matches)
}

fn satisfies_anti_affinity(s: &PreFilterState, node: &NodeInfo) -> Result<bool, Stale> {
    let labels = node_labels(node);
    for t in &s.incoming.terms.required_anti_affinity {
        if let Some(v) = labels.get(&t.topology_key) {
            if s.anti_affinity_counts.count(&t.topology_key, v)? > 0 {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn satisfies_existing_anti_affinity(s: &PreFilterState, node: &NodeInfo) -> Result<bool, Stale> {
    let counts = &s.existing_anti_affinity_counts;
    if counts.is_empty() {
        return Ok(true);
    }
    // Only the keys some term uses matter; look those up on the node.
    let labels = node_labels(node);
    for k in counts.keys() {
        if let Some(v) = labels.get(k) {
            if counts.count(k, v)? > 0 {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Runs the three checks in kube-scheduler's order.
fn check_node(s: &PreFilterState, node: &NodeInfo) -> Result<Status, Stale> {
    if !satisfies_affinity(s, node)? {
        return Ok(Status::unresolvable(REASON_AFFINITY_RULES_NOT_MATCH));
    }
    if !satisfies_anti_affinity(s, node)? {
        return Ok(Status::unschedulable(REASON_ANTI_AFFINITY_RULES_NOT_MATCH));
    }
    if !satisfies_existing_anti_affinity(s, node)? {
        return Ok(Status::unschedulable(
            REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH,
        ));
    }
    Ok(Status::success())
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, _pod: &Pod, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>(STATE_KEY) else {
            return Status::error(format!("{NAME}: no PreFilter state"));
        };
        check_node(s, node).unwrap_or_else(|e| Status::error(format!("{NAME}: {e}")))
    }
}
