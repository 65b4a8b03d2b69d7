//! PodTopologySpread's PreFilter (matching pods per domain of each hard constraint),
//! AddPod/RemovePod extensions and Filter (the skew check), as kube-scheduler's
//! `podtopologyspread/filtering.go`. The PreFilter reads the snapshot's incremental
//! counts ([`Snapshot::matching_pods_per_domain`]) instead of walking every pod.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::{
    has_all_keys, keys_never_missing_apart, Action, PodTopologySpread, SpreadConstraint, NAME,
};
use crate::cache::{NodeCounts, NodeInfo, PodInfo, PodSelection, Snapshot, TopologyIndex};
use crate::framework::{CycleState, FilterPlugin, PreFilterPlugin, PreFilterResult, Status};

/// The rejection when placing the pod would exceed a constraint's `maxSkew`.
pub const REASON_CONSTRAINTS_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints";
/// The rejection of a node without a constraint's topology label.
pub const REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

const STATE_KEY: &str = "PreFilterPodTopologySpread";

#[derive(Clone, Debug, Default)]
struct PreFilterState {
    constraints: Vec<SpreadConstraint>,
    /// Per constraint: domain value → matching pods.
    counts: Vec<HashMap<String, i64>>,
    /// Per constraint: the smallest count over its domains.
    min: Vec<i64>,
    /// Per constraint: 1 when the incoming pod matches its selector (it would count
    /// itself), else 0; computed once instead of per node.
    self_match: Vec<i64>,
}

impl PreFilterState {
    fn recompute_min(&mut self, i: usize) {
        self.min[i] = self.counts[i].values().copied().min().unwrap_or(i64::MAX);
    }

    fn update_with_pod(&mut self, pod: &Pod, other: &PodInfo, node: &NodeInfo, delta: i64) {
        let Some(n) = node.node() else { return };
        if other.namespace() != crate::pod::namespace(pod) || !has_all_keys(n, &self.constraints) {
            return;
        }
        for i in 0..self.constraints.len() {
            let c = &self.constraints[i];
            if !c.selector.matches(other.labels()) || !c.includes_node(pod, n) {
                continue;
            }
            let Some(v) = n
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(&c.topology_key))
            else {
                continue;
            };
            *self.counts[i].entry(v.clone()).or_insert(0) += delta;
            self.recompute_min(i);
        }
    }
}

/// The pod's labels (empty when it has none).
fn own_labels(pod: &Pod) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    pod.metadata.labels.as_ref().unwrap_or(&EMPTY)
}

/// Whether the pod restricts nodes by `nodeSelector` or required node affinity
/// (else every node passes `nodeAffinityPolicy: Honor`).
pub(super) fn has_node_constraints(pod: &Pod) -> bool {
    pod.spec.as_ref().is_some_and(|s| {
        s.node_selector.as_ref().is_some_and(|m| !m.is_empty())
            || s.affinity
                .as_ref()
                .and_then(|a| a.node_affinity.as_ref())
                .is_some_and(|na| {
                    na.required_during_scheduling_ignored_during_execution
                        .is_some()
                })
    })
}

/// Sums the constraints given `per_node` counts over the nodes that have every
/// constraint's key and pass the constraint's inclusion policies.
fn count_per_node(
    s: &mut PreFilterState,
    pod: &Pod,
    snapshot: &Snapshot,
    indexes: &[Arc<TopologyIndex>],
    per_node: &[Option<Arc<NodeCounts>>],
) {
    let node_constraints = has_node_constraints(pod);
    let mut per_domain: Vec<Vec<Option<i64>>> = indexes
        .iter()
        .map(|ix| vec![None; ix.values.len()])
        .collect();
    for (n, info) in snapshot.nodes().iter().enumerate() {
        // Nodes without every constraint's key are not counted.
        if indexes
            .iter()
            .any(|ix| ix.node_domain.get(n).copied().flatten().is_none())
        {
            continue;
        }
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(counts) = &per_node[i] else { continue };
            let check = c.honor_node_taints || (c.honor_node_affinity && node_constraints);
            if check && !info.node().is_some_and(|node| c.includes_node(pod, node)) {
                continue;
            }
            let Some(d) = indexes[i].node_domain.get(n).copied().flatten() else {
                continue;
            };
            let count = counts.get(info.name()).copied().unwrap_or(0);
            let slot = &mut per_domain[i][d];
            *slot = Some(slot.unwrap_or(0) + count);
        }
    }
    for (i, domains) in per_domain.into_iter().enumerate() {
        if per_node[i].is_none() {
            continue;
        }
        for (d, count) in domains.into_iter().enumerate() {
            if let Some(count) = count {
                s.counts[i].insert(indexes[i].values[d].clone(), count);
            }
        }
    }
}

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        snapshot: &Snapshot,
    ) -> (PreFilterResult, Status) {
        let cs = match self.pod_constraints(pod, Action::DoNotSchedule, snapshot) {
            Ok((c, _)) => c,
            Err(e) => {
                return (
                    PreFilterResult::default(),
                    Status::error(format!("parsing pod: {e}")),
                )
            }
        };
        if cs.is_empty() {
            return (PreFilterResult::default(), Status::skip());
        }
        let ns = crate::pod::namespace(pod);
        let mut s = PreFilterState {
            counts: vec![HashMap::new(); cs.len()],
            min: vec![i64::MAX; cs.len()],
            self_match: cs
                .iter()
                .map(|c| i64::from(c.selector.matches(own_labels(pod))))
                .collect(),
            constraints: cs,
        };
        // Each node's domain per constraint from the snapshot's topology indexes
        // (no label lookups); matching pods from the snapshot's incremental counts
        // (no pod walks).
        let indexes: Vec<_> = s
            .constraints
            .iter()
            .map(|c| snapshot.topology_index(&c.topology_key))
            .collect();
        let node_constraints = has_node_constraints(pod);
        let keys_together = keys_never_missing_apart(&s.constraints, snapshot);
        let mut per_node: Vec<Option<Arc<NodeCounts>>> = vec![None; s.constraints.len()];
        for (i, c) in s.constraints.iter().enumerate() {
            let selection = PodSelection::new([ns.to_owned()], vec![c.selector.clone()], false);
            let check = c.honor_node_taints || (c.honor_node_affinity && node_constraints);
            if keys_together && !check {
                // Every node with the key counts (and has the other constraints'
                // keys): the registered sums per domain are the counts.
                let sums = snapshot.matching_pods_per_domain(&selection, &c.topology_key);
                s.counts[i] = indexes[i]
                    .values
                    .iter()
                    .map(|v| (v.clone(), sums.get(v).copied().unwrap_or(0)))
                    .collect();
            } else {
                per_node[i] = Some(snapshot.matching_pods_per_node(&selection));
            }
        }
        if per_node.iter().any(Option::is_some) {
            count_per_node(&mut s, pod, snapshot, &indexes, &per_node);
        }
        for i in 0..s.constraints.len() {
            s.recompute_min(i);
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

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, _pod: &Pod, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>(STATE_KEY) else {
            return Status::error(format!("{NAME}: no PreFilter state"));
        };
        let empty = BTreeMap::new();
        let labels = node.labels().unwrap_or(&empty);
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(v) = labels.get(&c.topology_key) else {
                return Status::unresolvable(REASON_NODE_LABEL_NOT_MATCH);
            };
            let domains = s.counts[i].len() as i64;
            let min = if domains < c.min_domains { 0 } else { s.min[i] };
            let count = s.counts[i].get(v).copied().unwrap_or(0);
            if count.saturating_add(s.self_match[i]).saturating_sub(min) > c.max_skew {
                return Status::unschedulable(REASON_CONSTRAINTS_NOT_MATCH);
            }
        }
        Status::success()
    }
}
