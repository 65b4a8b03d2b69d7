//! [`PodCounts`]: how many pods of a [`PodSelection`] run on each node and in each
//! topology domain, kept incrementally as the snapshot's nodes change, so
//! PodTopologySpread and InterPodAffinity do not count every pod in every cycle.
//!
//! A selection is registered the first time a plugin asks about it: its per-node
//! counts come from one walk over the snapshot's pods, and from then on every pod
//! added to or removed from a node of the snapshot updates them (assumed pods
//! included, since they are on their node in the cache). The per-domain sums of a
//! topology key are built on first request from the per-node counts and kept the same
//! way. Selections nobody asked about for [`IDLE_LOOKUPS`] lookups are dropped, and at
//! most [`MAX_SELECTIONS`] are kept (plus those one cycle asks about beyond that), so
//! memory stays bounded.
//!
//! ```
//! use skiff_core::selector::LabelSelector;
//! use skiff_sched::cache::{NodeInfo, PodSelection, Snapshot};
//! let node = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "n1", "labels": {"zone": "z1"}}})).unwrap();
//! let pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "p", "namespace": "default", "uid": "p", "labels": {"app": "web"}},
//!     "spec": {"containers": []}})).unwrap();
//! let mut info = NodeInfo::new(node);
//! info.add_pod(std::sync::Arc::new(pod));
//! let snapshot = Snapshot::from_nodes([info]);
//! let web = PodSelection::new(["default".to_owned()], vec![LabelSelector::parse("app=web").unwrap()], false);
//! assert_eq!(snapshot.matching_pods_per_domain(&web, "zone").get("z1"), Some(&1));
//! assert_eq!(snapshot.matching_pods_per_node(&web).get("n1"), Some(&1));
//! ```

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use skiff_core::selector::LabelSelector;

use super::{NodeInfo, PodInfo};

/// Lookups after which a selection nobody asked about again is dropped.
pub const IDLE_LOOKUPS: u64 = 20_000;
/// The most selections kept at once (the least recently used goes first).
pub const MAX_SELECTIONS: usize = 128;

/// Matching pods per node name (only nodes with at least one).
pub type NodeCounts = HashMap<Arc<str>, i64>;
/// Matching pods per value of one topology key (only domains with at least one).
pub type DomainCounts = HashMap<String, i64>;

/// Which pods to count: those in one of `namespaces` whose labels match every
/// selector, optionally leaving out pods being deleted.
#[derive(Clone, Debug, PartialEq)]
pub struct PodSelection {
    /// Sorted, without duplicates.
    namespaces: Vec<String>,
    selectors: Vec<LabelSelector>,
    count_terminating: bool,
    /// The canonical form, the registry's key.
    key: String,
}

impl PodSelection {
    /// The pods in `namespaces` matching all `selectors` (none: every pod); pods with
    /// a deletion timestamp count only when `count_terminating`.
    pub fn new(
        namespaces: impl IntoIterator<Item = String>,
        selectors: Vec<LabelSelector>,
        count_terminating: bool,
    ) -> PodSelection {
        let mut namespaces: Vec<String> = namespaces.into_iter().collect();
        namespaces.sort();
        namespaces.dedup();
        let mut key = String::new();
        for ns in &namespaces {
            key.push_str(ns);
            key.push('\u{1f}');
        }
        key.push('\u{1e}');
        for s in &selectors {
            // `nothing` and `everything` both print empty: mark the first.
            let _ = write!(key, "{}{s}\u{1f}", if s.is_nothing() { "!" } else { "" });
        }
        key.push(if count_terminating { 'T' } else { 'L' });
        PodSelection {
            namespaces,
            selectors,
            count_terminating,
            key,
        }
    }

    /// Whether `pod` is one of the selection.
    pub fn matches(&self, pod: &PodInfo) -> bool {
        (self.count_terminating || pod.pod.metadata.deletion_timestamp.is_none())
            && self
                .namespaces
                .binary_search_by(|n| n.as_str().cmp(pod.namespace()))
                .is_ok()
            && self.selectors.iter().all(|s| s.matches(pod.labels()))
    }

    /// Whether no pod can match (no namespace).
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty()
    }
}

#[derive(Clone, Debug)]
struct Registration {
    selection: PodSelection,
    per_node: Arc<NodeCounts>,
    /// The sum of `per_node`.
    total: i64,
    /// Topology key → per-domain sums of `per_node`.
    by_key: HashMap<String, Arc<DomainCounts>>,
    last_used: u64,
    /// The snapshot version it was last asked about in.
    version_used: u64,
}

#[derive(Clone, Debug, Default)]
struct Registry {
    selections: HashMap<String, Registration>,
    /// Counts lookups; a registration's `last_used` is the clock of its last one.
    clock: u64,
    /// Counts snapshot changes. A selection asked about since the last change is
    /// never dropped: a cycle may still read what it was given.
    version: u64,
}

/// The registered selections and their counts. Lookups take `&self` (a plugin asks
/// during a cycle); updates take `&mut self` (the snapshot changes between cycles).
#[derive(Debug, Default)]
pub struct PodCounts {
    registry: Mutex<Registry>,
}

impl Clone for PodCounts {
    fn clone(&self) -> Self {
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        PodCounts {
            registry: Mutex::new(registry),
        }
    }
}

/// Adds `by` to `map[key]`, dropping the entry when it reaches 0.
pub(crate) fn bump<K, Q>(map: &mut HashMap<K, i64>, key: &Q, owned: impl FnOnce() -> K, by: i64)
where
    K: Borrow<Q> + Hash + Eq,
    Q: Hash + Eq + ?Sized,
{
    match map.get_mut(key) {
        Some(e) => {
            *e += by;
            if *e == 0 {
                map.remove(key);
            }
        }
        None => {
            map.insert(owned(), by);
        }
    }
}

impl Registration {
    fn count(selection: PodSelection, nodes: &[Arc<NodeInfo>]) -> Registration {
        let mut per_node = NodeCounts::new();
        let mut total = 0;
        // Pods of entries without a node object (a node gone, its pods not yet)
        // are in no domain: not counted.
        for info in nodes.iter().filter(|n| n.node().is_some()) {
            let n = info.pods().iter().filter(|p| selection.matches(p)).count() as i64;
            if n > 0 {
                per_node.insert(info.name_arc(), n);
                total += n;
            }
        }
        Registration {
            selection,
            per_node: Arc::new(per_node),
            total,
            by_key: HashMap::new(),
            last_used: 0,
            version_used: 0,
        }
    }

    fn domains(&mut self, key: &str, nodes: &[Arc<NodeInfo>]) -> Arc<DomainCounts> {
        if let Some(d) = self.by_key.get(key) {
            return d.clone();
        }
        let mut sums = DomainCounts::new();
        for info in nodes {
            let Some(&n) = self.per_node.get(info.name()) else {
                continue;
            };
            if let Some(v) = info.labels().and_then(|l| l.get(key)) {
                *sums.entry(v.clone()).or_insert(0) += n;
            }
        }
        let sums = Arc::new(sums);
        self.by_key.insert(key.to_owned(), sums.clone());
        sums
    }

    fn update(&mut self, node: &NodeInfo, pod: &PodInfo, by: i64) {
        if node.node().is_none() || !self.selection.matches(pod) {
            return;
        }
        self.total += by;
        let name = node.name();
        bump(
            Arc::make_mut(&mut self.per_node),
            name,
            || node.name_arc(),
            by,
        );
        let Some(labels) = node.labels() else {
            return;
        };
        for (key, sums) in &mut self.by_key {
            if let Some(v) = labels.get(key) {
                bump(Arc::make_mut(sums), v.as_str(), || v.clone(), by);
            }
        }
    }
}

impl Registry {
    /// Drops idle selections, then the least recently used ones while full; never
    /// those asked about since the snapshot last changed (then the limit is
    /// exceeded for as long as one cycle needs them).
    fn make_room(&mut self, now: u64) {
        let version = self.version;
        self.selections.retain(|_, r| {
            r.version_used == version || now.saturating_sub(r.last_used) <= IDLE_LOOKUPS
        });
        while self.selections.len() >= MAX_SELECTIONS {
            let Some(oldest) = self
                .selections
                .iter()
                .filter(|(_, r)| r.version_used != version)
                .min_by_key(|(_, r)| r.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.selections.remove(&oldest);
        }
    }

    fn lookup(&mut self, selection: &PodSelection, nodes: &[Arc<NodeInfo>]) -> &mut Registration {
        self.clock += 1;
        let (now, version) = (self.clock, self.version);
        if !self.selections.contains_key(&selection.key) {
            self.make_room(now);
        }
        let reg = self
            .selections
            .entry(selection.key.clone())
            .or_insert_with(|| Registration::count(selection.clone(), nodes));
        reg.last_used = now;
        reg.version_used = version;
        reg
    }
}

impl PodCounts {
    /// Whether any selection is registered (else pod changes need no bookkeeping).
    pub fn any_registered(&mut self) -> bool {
        !self
            .registry
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .selections
            .is_empty()
    }

    /// The number of registered selections.
    pub fn registered(&self) -> usize {
        self.registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .selections
            .len()
    }

    /// Matching pods per node of `nodes` (registering `selection` on first use).
    pub fn per_node(&self, selection: &PodSelection, nodes: &[Arc<NodeInfo>]) -> Arc<NodeCounts> {
        let mut r = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        r.lookup(selection, nodes).per_node.clone()
    }

    /// Matching pods per value of `key` over `nodes` (nodes without the label are
    /// left out).
    pub fn per_domain(
        &self,
        selection: &PodSelection,
        key: &str,
        nodes: &[Arc<NodeInfo>],
    ) -> Arc<DomainCounts> {
        let mut r = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        r.lookup(selection, nodes).domains(key, nodes)
    }

    /// How many pods of `selection` run on `nodes` in all.
    pub fn total(&self, selection: &PodSelection, nodes: &[Arc<NodeInfo>]) -> i64 {
        let mut r = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        r.lookup(selection, nodes).total
    }

    /// Notes that the snapshot changed (what earlier cycles were given may go).
    pub fn snapshot_changed(&mut self) {
        self.registry
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .version += 1;
    }

    /// Counts (`by` = 1) or uncounts (-1) `pod` on `node`, as it appears on or leaves
    /// the snapshot.
    pub fn update(&mut self, node: &NodeInfo, pod: &PodInfo, by: i64) {
        let r = self
            .registry
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for reg in r.selections.values_mut() {
            reg.update(node, pod, by);
        }
    }
}
