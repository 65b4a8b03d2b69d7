//! [`Snapshot`]: the nodes one scheduling cycle sees, refreshed incrementally from the
//! [`Cache`](super::Cache) before each cycle.
//!
//! Node infos are shared `Arc`s: refreshing a snapshot copies only the pointers of the
//! nodes that changed since the last refresh, and the cache copies a node's info on
//! write only while a snapshot still holds the old one.
//!
//! ```
//! use skiff_sched::cache::{Cache, Snapshot};
//! let mut cache = Cache::default();
//! cache.add_node(serde_json::from_value(serde_json::json!({"metadata": {"name": "n1"}})).unwrap());
//! let mut snap = Snapshot::default();
//! cache.update_snapshot(&mut snap);
//! assert_eq!(snap.len(), 1);
//! assert!(snap.get("n1").is_some());
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use super::pod_indexes::PodIndexes;
use super::{NodeInfo, Workloads};

/// The nodes of one cycle, in a stable order, with lookups by name and the number of
/// nodes holding each image.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    nodes: Vec<Arc<NodeInfo>>,
    index: HashMap<String, usize>,
    image_nodes: HashMap<String, usize>,
    namespaces: Arc<HashMap<String, BTreeMap<String, String>>>,
    workloads: Arc<Workloads>,
    /// Per topology key, each node's domain; built on first use, dropped when nodes
    /// come, go or change labels (shared by clones until one of them changes).
    topology: Arc<Mutex<HashMap<String, Arc<TopologyIndex>>>>,
    /// Nodes with at least one pod that has pod affinity or anti-affinity terms.
    nodes_with_affinity: usize,
    /// Nodes with at least one pod that has required pod anti-affinity terms.
    nodes_with_required_anti_affinity: usize,
    /// Pod counts per node and topology domain, kept as nodes change.
    pod_indexes: Arc<PodIndexes>,
}

/// The domains of one topology key (a node label) over a snapshot's nodes: what
/// PodTopologySpread counts by, without a label lookup per node and cycle.
#[derive(Debug, Default)]
pub struct TopologyIndex {
    /// The distinct values of the key.
    pub values: Vec<String>,
    /// Per node of [`Snapshot::nodes`], in order: the index of its value in
    /// `values`, or `None` when the node lacks the label.
    pub node_domain: Vec<Option<usize>>,
}

impl Snapshot {
    /// Each node's domain for the label `key` (cached until the nodes or their labels
    /// change).
    pub fn topology_index(&self, key: &str) -> Arc<TopologyIndex> {
        let mut cache = self.topology.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(ix) = cache.get(key) {
            if ix.node_domain.len() == self.nodes.len() {
                return ix.clone();
            }
        }
        let mut ix = TopologyIndex::default();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for info in &self.nodes {
            let v = info.labels().and_then(|l| l.get(key));
            ix.node_domain.push(v.map(|v| {
                *seen.entry(v.as_str()).or_insert_with(|| {
                    ix.values.push(v.clone());
                    ix.values.len() - 1
                })
            }));
        }
        let ix = Arc::new(ix);
        cache.insert(key.to_owned(), ix.clone());
        ix
    }

    /// Drops the topology indexes (nodes came, went or changed labels).
    fn forget_topology(&mut self) {
        self.topology = Arc::default();
    }

    /// A snapshot of these nodes (tests, simulations, custom schedulers).
    pub fn from_nodes(nodes: impl IntoIterator<Item = NodeInfo>) -> Snapshot {
        let mut s = Snapshot::default();
        for n in nodes {
            let name = n.name().to_owned();
            s.set(&name, Some(Arc::new(n)));
        }
        s
    }

    /// The same snapshot with these namespaces and their labels (what namespace
    /// selectors of pod affinity terms match).
    #[must_use]
    pub fn with_namespaces(
        mut self,
        namespaces: HashMap<String, BTreeMap<String, String>>,
    ) -> Self {
        self.namespaces = Arc::new(namespaces);
        self
    }

    /// The same snapshot with these workloads (Services and controllers, for
    /// PodTopologySpread's default constraints).
    #[must_use]
    pub fn with_workloads(mut self, workloads: Workloads) -> Self {
        self.workloads = Arc::new(workloads);
        self
    }

    /// The Services and controllers the scheduler knows.
    pub fn workloads(&self) -> &Workloads {
        &self.workloads
    }

    pub(crate) fn set_workloads(&mut self, workloads: Arc<Workloads>) {
        self.workloads = workloads;
    }

    /// The namespaces the scheduler knows, with their labels.
    pub fn namespaces(&self) -> &HashMap<String, BTreeMap<String, String>> {
        &self.namespaces
    }

    /// The labels of namespace `name`, when known.
    pub fn namespace_labels(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.namespaces.get(name)
    }

    pub(crate) fn set_namespaces(
        &mut self,
        namespaces: Arc<HashMap<String, BTreeMap<String, String>>>,
    ) {
        self.namespaces = namespaces;
    }

    /// The nodes.
    pub fn nodes(&self) -> &[Arc<NodeInfo>] {
        &self.nodes
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// A node by name.
    pub fn get(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        self.index.get(name).map(|i| &self.nodes[*i])
    }

    /// Whether some pod has pod affinity or anti-affinity terms (kube-scheduler's
    /// `HavePodsWithAffinityList` is not empty). Kept as the snapshot changes.
    pub fn have_pods_with_affinity(&self) -> bool {
        self.nodes_with_affinity > 0
    }

    /// Whether some pod has required pod anti-affinity terms.
    pub fn have_pods_with_required_anti_affinity(&self) -> bool {
        self.nodes_with_required_anti_affinity > 0
    }

    fn count_affinity(&mut self, info: &NodeInfo, add: bool) {
        let step = |n: &mut usize| {
            *n = if add { *n + 1 } else { n.saturating_sub(1) };
        };
        if info.pods_with_affinity() > 0 {
            step(&mut self.nodes_with_affinity);
        }
        if info.pods_with_required_anti_affinity() > 0 {
            step(&mut self.nodes_with_required_anti_affinity);
        }
    }

    /// How many nodes hold image `name`.
    pub fn nodes_with_image(&self, name: &str) -> usize {
        self.image_nodes.get(name).copied().unwrap_or(0)
    }

    pub(super) fn pod_indexes(&self) -> &PodIndexes {
        &self.pod_indexes
    }

    /// Replaces (or adds, or with `None` removes) the node `name`.
    pub(crate) fn set(&mut self, name: &str, info: Option<Arc<NodeInfo>>) {
        let old = self.index.get(name).map(|&i| self.nodes[i].clone());
        Arc::make_mut(&mut self.pod_indexes).node_changed(old.as_deref(), info.as_deref());
        if let Some(&i) = self.index.get(name) {
            let old = self.nodes[i].clone();
            self.count_images(&old, -1);
            self.count_affinity(&old, false);
            match info {
                Some(new) => {
                    self.count_images(&new, 1);
                    self.count_affinity(&new, true);
                    let same_node = match (old.node(), new.node()) {
                        (Some(a), Some(b)) => std::ptr::eq(a, b),
                        _ => false,
                    };
                    if !same_node && old.labels() != new.labels() {
                        self.forget_topology();
                    }
                    self.nodes[i] = new;
                }
                None => {
                    self.forget_topology();
                    self.index.remove(name);
                    self.nodes.swap_remove(i);
                    if let Some(moved) = self.nodes.get(i) {
                        self.index.insert(moved.name().to_owned(), i);
                    }
                }
            }
        } else if let Some(new) = info {
            self.count_images(&new, 1);
            self.count_affinity(&new, true);
            self.forget_topology();
            self.index.insert(name.to_owned(), self.nodes.len());
            self.nodes.push(new);
        }
    }

    fn count_images(&mut self, info: &NodeInfo, delta: isize) {
        for name in info.image_names() {
            let e = self.image_nodes.entry(name.to_owned()).or_insert(0);
            *e = e.saturating_add_signed(delta);
            if *e == 0 {
                self.image_nodes.remove(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Node;
    use serde_json::json;

    fn node(name: &str, zone: Option<&str>) -> NodeInfo {
        let mut info = NodeInfo::placeholder(name);
        let labels = zone.map(|z| json!({"zone": z})).unwrap_or(json!({}));
        let n: Node = serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
            .expect("node");
        info.set_node(n);
        info
    }

    #[test]
    fn topology_index_follows_node_and_label_changes() {
        let mut s = Snapshot::from_nodes([
            node("a", Some("z1")),
            node("b", None),
            node("c", Some("z2")),
        ]);
        let ix = s.topology_index("zone");
        assert_eq!(ix.values, ["z1", "z2"]);
        assert_eq!(ix.node_domain, [Some(0), None, Some(1)]);
        // Cached while nothing changes; a copy of a node (new pods) keeps it.
        assert!(Arc::ptr_eq(&ix, &s.topology_index("zone")));
        let a = s.get("a").cloned().expect("a");
        s.set("a", Some(Arc::new((*a).clone())));
        assert!(Arc::ptr_eq(&ix, &s.topology_index("zone")));
        // A label change, an added or a removed node rebuild it.
        s.set("b", Some(Arc::new(node("b", Some("z1")))));
        assert_eq!(
            s.topology_index("zone").node_domain,
            [Some(0), Some(0), Some(1)]
        );
        s.set("d", Some(Arc::new(node("d", Some("z3")))));
        assert_eq!(s.topology_index("zone").values, ["z1", "z2", "z3"]);
        s.set("a", None);
        let ix = s.topology_index("zone");
        assert_eq!(ix.node_domain.len(), 3);
        for (n, d) in s.nodes().iter().zip(&ix.node_domain) {
            let want = n.labels().and_then(|l| l.get("zone")).cloned();
            assert_eq!(d.map(|d| ix.values[d].clone()), want);
        }
        // A clone changed later does not disturb the original's index.
        let mut copy = s.clone();
        copy.set("c", Some(Arc::new(node("c", Some("z9")))));
        assert!(copy
            .topology_index("zone")
            .values
            .contains(&"z9".to_owned()));
        assert!(!s.topology_index("zone").values.contains(&"z9".to_owned()));
    }
}
