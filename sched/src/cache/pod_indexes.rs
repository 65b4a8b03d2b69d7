//! [`PodIndexes`]: the pod counts a [`Snapshot`] keeps beside its nodes (registered
//! selections per node and domain, existing pods' affinity terms per domain), and how
//! a node's change in the snapshot updates them: by the pods that left and came, or,
//! when the node's labels changed (or it came or went), by all of its pods.
//!
//! ```
//! use skiff_core::selector::LabelSelector;
//! use skiff_sched::cache::{Cache, PodSelection, Snapshot};
//! let mut cache = Cache::default();
//! cache.add_node(serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "n1", "labels": {"zone": "z1"}}})).unwrap());
//! let mut snapshot = Snapshot::default();
//! cache.update_snapshot(&mut snapshot);
//! let all = PodSelection::new(["default".to_owned()], vec![LabelSelector::everything()], true);
//! assert!(snapshot.matching_pods_per_domain(&all, "zone").is_empty());
//! cache.assume_pod(serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "p", "namespace": "default", "uid": "p"},
//!     "spec": {"nodeName": "n1", "containers": []}})).unwrap()).unwrap();
//! cache.update_snapshot(&mut snapshot);
//! assert_eq!(snapshot.matching_pods_per_domain(&all, "zone").get("z1"), Some(&1));
//! ```

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::affinity_index::ExistingTerms;
use super::topology_counts::{DomainCounts, NodeCounts, PodCounts, PodSelection};
use super::{NodeInfo, PodInfo, Snapshot};

/// The snapshot's incremental pod counts.
#[derive(Clone, Debug, Default)]
pub struct PodIndexes {
    counts: PodCounts,
    terms: ExistingTerms,
}

/// Whether two infos of a node have the same labels (same node object, or equal)
/// and both have a node object or neither has.
fn same_labels(old: &NodeInfo, new: &NodeInfo) -> bool {
    match (old.node(), new.node()) {
        (Some(a), Some(b)) => std::ptr::eq(a, b) || a.metadata.labels == b.metadata.labels,
        (None, None) => true,
        _ => false,
    }
}

/// The pods of `from` that are not in `other` (by identity of the pod object: an
/// updated pod is a different one).
fn missing<'a>(from: &'a [PodInfo], other: &[PodInfo]) -> Vec<&'a PodInfo> {
    if other.len() <= 16 {
        return from
            .iter()
            .filter(|p| !other.iter().any(|o| Arc::ptr_eq(&o.pod, &p.pod)))
            .collect();
    }
    let present: HashSet<*const Pod> = other.iter().map(|o| Arc::as_ptr(&o.pod)).collect();
    from.iter()
        .filter(|p| !present.contains(&Arc::as_ptr(&p.pod)))
        .collect()
}

impl PodIndexes {
    fn update(&mut self, node: &NodeInfo, pod: &PodInfo, by: i64, counting: bool) {
        if counting {
            self.counts.update(node, pod, by);
        }
        self.terms.update(node, pod, by);
    }

    /// Follows the snapshot's node `old` becoming `new` (`None`: absent).
    pub(crate) fn node_changed(&mut self, old: Option<&NodeInfo>, new: Option<&NodeInfo>) {
        self.counts.snapshot_changed();
        let counting = self.counts.any_registered();
        let with_terms = |n: Option<&NodeInfo>| n.is_some_and(|n| n.pods_with_affinity() > 0);
        if !counting && !with_terms(old) && !with_terms(new) {
            return;
        }
        match (old, new) {
            (Some(o), Some(n)) if same_labels(o, n) => {
                for p in missing(o.pods(), n.pods()) {
                    self.update(o, p, -1, counting);
                }
                for p in missing(n.pods(), o.pods()) {
                    self.update(n, p, 1, counting);
                }
            }
            _ => {
                if let Some(o) = old {
                    for p in o.pods() {
                        self.update(o, p, -1, counting);
                    }
                }
                if let Some(n) = new {
                    for p in n.pods() {
                        self.update(n, p, 1, counting);
                    }
                }
            }
        }
    }
}

impl Snapshot {
    /// How many pods of `selection` run on each node (registered on first use, then
    /// kept as the snapshot changes).
    pub fn matching_pods_per_node(&self, selection: &PodSelection) -> Arc<NodeCounts> {
        self.pod_indexes().counts.per_node(selection, self.nodes())
    }

    /// How many pods of `selection` run in each domain of the node label `key`
    /// (nodes without the label are left out).
    pub fn matching_pods_per_domain(
        &self,
        selection: &PodSelection,
        key: &str,
    ) -> Arc<DomainCounts> {
        self.pod_indexes()
            .counts
            .per_domain(selection, key, self.nodes())
    }

    /// How many pods of `selection` run on the snapshot's nodes in all.
    pub fn matching_pods_total(&self, selection: &PodSelection) -> i64 {
        self.pod_indexes().counts.total(selection, self.nodes())
    }

    /// How many pod selections the snapshot keeps counts for.
    pub fn registered_pod_selections(&self) -> usize {
        self.pod_indexes().counts.registered()
    }

    /// The affinity terms of the pods on the snapshot's nodes, per domain.
    pub fn existing_affinity_terms(&self) -> &ExistingTerms {
        &self.pod_indexes().terms
    }
}

#[cfg(test)]
#[path = "pod_indexes_tests.rs"]
mod tests;
