//! [`Cache`]: the scheduler's view of nodes and the pods counted on them, including
//! pods it assumed onto a node before their binding landed.
//!
//! # Life of a pod in the cache
//! 1. The scheduler picks a node and calls [`Cache::assume_pod`]: the pod counts
//!    against the node at once, so the next cycle sees the space taken.
//! 2. The bind runs asynchronously. If it fails, [`Cache::forget_pod`] removes the
//!    assumption. If it succeeds, [`Cache::finish_binding`] starts the expiry clock.
//! 3. The pod informer delivers the bound pod; [`Cache::add_pod`] confirms the
//!    assumption (replacing the assumed copy with the real one).
//! 4. An assumption never confirmed expires after the TTL
//!    ([`Cache::cleanup_assumed_pods`]), freeing the space.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use skiff_sched::cache::Cache;
//! let mut cache = Cache::new(Duration::from_secs(30));
//! cache.add_node(serde_json::from_value(serde_json::json!({"metadata": {"name": "n1"}})).unwrap());
//! let pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
//!     "spec": {"nodeName": "n1", "containers": []}})).unwrap();
//! cache.assume_pod(pod).unwrap();
//! assert!(cache.is_assumed("u1"));
//! cache.finish_binding("u1", Instant::now());
//! cache.cleanup_assumed_pods(Instant::now() + Duration::from_secs(31));
//! assert!(!cache.is_assumed("u1"));
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};

use super::{NodeInfo, Snapshot, Workloads};
use crate::pod::{node_name, pod_key};

/// The errors of cache operations.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CacheError {
    /// `assume_pod` with a pod that has no `spec.nodeName`.
    #[error("pod {0} has no node to be assumed on")]
    NoNode(String),
    /// `assume_pod` with a pod the cache already counts.
    #[error("pod {0} is already in the cache")]
    AlreadyPresent(String),
}

#[derive(Debug)]
struct PodState {
    node: String,
    assumed: bool,
    /// When an assumed pod whose bind finished expires.
    deadline: Option<Instant>,
}

/// Nodes and pods as the scheduler counts them. Not synchronized: the scheduler keeps
/// it behind one mutex.
#[derive(Debug)]
pub struct Cache {
    nodes: HashMap<String, Arc<NodeInfo>>,
    pods: HashMap<String, PodState>,
    ttl: Duration,
    /// Nodes changed since the last `update_snapshot`.
    dirty: HashSet<String>,
    /// Namespace name → labels (for namespace selectors of pod affinity terms).
    namespaces: Arc<HashMap<String, BTreeMap<String, String>>>,
    /// Whether `namespaces` changed since the last `update_snapshot`.
    namespaces_dirty: bool,
    /// Services and controllers (for PodTopologySpread's default constraints).
    workloads: Arc<Workloads>,
    /// Whether `workloads` changed since the last `update_snapshot`.
    workloads_dirty: bool,
}

impl Default for Cache {
    fn default() -> Self {
        Cache::new(Duration::from_secs(30))
    }
}

impl Cache {
    /// An empty cache whose bound-but-unconfirmed assumptions expire after `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Cache {
            nodes: HashMap::new(),
            pods: HashMap::new(),
            ttl,
            dirty: HashSet::new(),
            namespaces: Arc::default(),
            namespaces_dirty: false,
            workloads: Arc::default(),
            workloads_dirty: false,
        }
    }

    fn node_mut(&mut self, name: &str) -> &mut NodeInfo {
        self.dirty.insert(name.to_owned());
        let entry = self
            .nodes
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(NodeInfo::placeholder(name)));
        Arc::make_mut(entry)
    }

    /// Adds or replaces a node.
    pub fn add_node(&mut self, node: Node) {
        let name = node.metadata.name.clone().unwrap_or_default();
        if name.is_empty() {
            return;
        }
        self.node_mut(&name).set_node(node);
    }

    /// Removes a node; its pods stay counted under a placeholder until they go.
    pub fn remove_node(&mut self, name: &str) {
        let has_pods = self.nodes.get(name).is_some_and(|n| !n.pods().is_empty());
        if has_pods {
            self.node_mut(name).clear_node();
        } else if self.nodes.remove(name).is_some() {
            self.dirty.insert(name.to_owned());
        }
    }

    /// The names of the nodes the cache knows (with a node object).
    pub fn node_names(&self) -> Vec<String> {
        self.nodes
            .values()
            .filter(|n| n.node().is_some())
            .map(|n| n.name().to_owned())
            .collect()
    }

    /// The number of nodes (with a node object).
    pub fn node_count(&self) -> usize {
        self.nodes.values().filter(|n| n.node().is_some()).count()
    }

    /// The keys of the pods the cache counts, assumed ones included.
    pub fn pod_keys(&self) -> Vec<String> {
        self.pods.keys().cloned().collect()
    }

    fn remove_from_node(&mut self, key: &str, node: &str) {
        let drop_placeholder = {
            let info = self.node_mut(node);
            info.remove_pod(key);
            info.node().is_none() && info.pods().is_empty()
        };
        if drop_placeholder {
            self.nodes.remove(node);
        }
    }

    /// Counts a pod the API says is bound (an informer add or update). Confirms an
    /// assumption of the same pod, moving it if it landed elsewhere. Pods with no node
    /// are ignored.
    pub fn add_pod(&mut self, pod: Pod) {
        let Some(node) = node_name(&pod).map(str::to_owned) else {
            return;
        };
        let key = pod_key(&pod);
        if let Some(old) = self.pods.remove(&key) {
            self.remove_from_node(&key, &old.node);
        }
        self.node_mut(&node).add_pod(Arc::new(pod));
        self.pods.insert(
            key,
            PodState {
                node,
                assumed: false,
                deadline: None,
            },
        );
    }

    /// Stops counting a pod (deleted, or finished).
    pub fn remove_pod(&mut self, key: &str) {
        if let Some(state) = self.pods.remove(key) {
            self.remove_from_node(key, &state.node);
        }
    }

    /// Counts `pod` (with `spec.nodeName` set to the chosen node) before its bind lands.
    pub fn assume_pod(&mut self, pod: Pod) -> Result<(), CacheError> {
        let key = pod_key(&pod);
        let Some(node) = node_name(&pod).map(str::to_owned) else {
            return Err(CacheError::NoNode(key));
        };
        if self.pods.contains_key(&key) {
            return Err(CacheError::AlreadyPresent(key));
        }
        self.node_mut(&node).add_pod(Arc::new(pod));
        self.pods.insert(
            key,
            PodState {
                node,
                assumed: true,
                deadline: None,
            },
        );
        Ok(())
    }

    /// The bind of an assumed pod succeeded; its assumption expires `ttl` after `now`
    /// unless the informer confirms it first.
    pub fn finish_binding(&mut self, key: &str, now: Instant) {
        if let Some(state) = self.pods.get_mut(key) {
            if state.assumed {
                state.deadline = Some(now + self.ttl);
            }
        }
    }

    /// Drops an assumption (the bind failed). Confirmed pods are left alone.
    pub fn forget_pod(&mut self, key: &str) {
        if self.pods.get(key).is_some_and(|s| s.assumed) {
            self.remove_pod(key);
        }
    }

    /// Whether `key` is assumed and not yet confirmed.
    pub fn is_assumed(&self, key: &str) -> bool {
        self.pods.get(key).is_some_and(|s| s.assumed)
    }

    /// Whether the cache counts `key` (assumed or confirmed).
    pub fn contains_pod(&self, key: &str) -> bool {
        self.pods.contains_key(key)
    }

    /// Removes assumptions whose bind finished more than the TTL before `now`.
    /// Returns their keys.
    pub fn cleanup_assumed_pods(&mut self, now: Instant) -> Vec<String> {
        let expired: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, s)| s.assumed && s.deadline.is_some_and(|d| d <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &expired {
            self.remove_pod(k);
        }
        expired
    }

    /// A node's current info.
    pub fn node(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        self.nodes.get(name)
    }

    /// Records a namespace and its labels.
    pub fn set_namespace(&mut self, name: &str, labels: BTreeMap<String, String>) {
        if self.namespaces.get(name) != Some(&labels) {
            Arc::make_mut(&mut self.namespaces).insert(name.to_owned(), labels);
            self.namespaces_dirty = true;
        }
    }

    /// Forgets a namespace.
    pub fn remove_namespace(&mut self, name: &str) {
        if self.namespaces.contains_key(name) {
            Arc::make_mut(&mut self.namespaces).remove(name);
            self.namespaces_dirty = true;
        }
    }

    /// The workloads, for reading.
    pub fn workloads(&self) -> &Workloads {
        &self.workloads
    }

    /// The workloads, for a change (copied first while a snapshot holds them).
    pub fn workloads_mut(&mut self) -> &mut Workloads {
        self.workloads_dirty = true;
        Arc::make_mut(&mut self.workloads)
    }

    /// The names of the namespaces the cache knows.
    pub fn namespace_names(&self) -> Vec<String> {
        self.namespaces.keys().cloned().collect()
    }

    /// Makes the next `update_snapshot` refresh every node and the namespaces (for a
    /// snapshot that starts empty).
    pub fn mark_all_dirty(&mut self) {
        self.dirty.extend(self.nodes.keys().cloned());
        self.namespaces_dirty = true;
        self.workloads_dirty = true;
    }

    /// Brings `snapshot` up to date with the nodes changed since the last call (only
    /// nodes with a node object appear in snapshots).
    pub fn update_snapshot(&mut self, snapshot: &mut Snapshot) {
        if self.namespaces_dirty {
            snapshot.set_namespaces(self.namespaces.clone());
            self.namespaces_dirty = false;
        }
        if self.workloads_dirty {
            snapshot.set_workloads(self.workloads.clone());
            self.workloads_dirty = false;
        }
        for name in self.dirty.drain() {
            let info = self
                .nodes
                .get(&name)
                .filter(|n| n.node().is_some())
                .cloned();
            snapshot.set(&name, info);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, cpu: &str) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name},
            "status": {"allocatable": {"cpu": cpu, "memory": "1Gi", "pods": "10"}}}))
        .unwrap()
    }

    fn pod(uid: &str, node: &str, cpu: &str) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": uid, "namespace": "d", "uid": uid},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}))
        .unwrap()
    }

    fn cpu(cache: &Cache, n: &str) -> i64 {
        cache.node(n).map(|i| i.requested().milli_cpu).unwrap_or(-1)
    }

    #[test]
    fn assume_confirm_forget_expire() {
        let mut c = Cache::new(Duration::from_secs(10));
        c.add_node(node("n1", "4"));
        c.add_node(node("n2", "4"));
        c.assume_pod(pod("a", "n1", "1")).unwrap();
        assert_eq!(
            c.assume_pod(pod("a", "n1", "1")),
            Err(CacheError::AlreadyPresent("a".into()))
        );
        assert_eq!(cpu(&c, "n1"), 1000);
        // Confirmed on another node than assumed: moves.
        c.add_pod(pod("a", "n2", "1"));
        assert!(!c.is_assumed("a"));
        assert_eq!((cpu(&c, "n1"), cpu(&c, "n2")), (0, 1000));
        // Forget leaves confirmed pods alone.
        c.forget_pod("a");
        assert_eq!(cpu(&c, "n2"), 1000);
        // A failed bind forgets.
        c.assume_pod(pod("b", "n1", "2")).unwrap();
        c.forget_pod("b");
        assert_eq!(cpu(&c, "n1"), 0);
        // Expiry only after finish_binding + ttl.
        let t0 = Instant::now();
        c.assume_pod(pod("x", "n1", "1")).unwrap();
        assert!(c
            .cleanup_assumed_pods(t0 + Duration::from_secs(100))
            .is_empty());
        c.finish_binding("x", t0);
        assert!(c
            .cleanup_assumed_pods(t0 + Duration::from_secs(9))
            .is_empty());
        assert_eq!(
            c.cleanup_assumed_pods(t0 + Duration::from_secs(10)),
            vec!["x"]
        );
        assert_eq!(cpu(&c, "n1"), 0);
        assert!(c.assume_pod(pod("y", "", "1")).is_err());
    }

    #[test]
    fn snapshot_is_incremental_and_copy_on_write() {
        let mut c = Cache::default();
        let mut s = Snapshot::default();
        for i in 0..5 {
            c.add_node(node(&format!("n{i}"), "4"));
        }
        c.update_snapshot(&mut s);
        assert_eq!(s.len(), 5);
        let before = s.get("n3").cloned().unwrap();
        c.add_pod(pod("p", "n3", "1"));
        // The snapshot is untouched until refreshed.
        assert_eq!(s.get("n3").unwrap().requested().milli_cpu, 0);
        c.update_snapshot(&mut s);
        assert_eq!(s.get("n3").unwrap().requested().milli_cpu, 1000);
        assert_eq!(before.requested().milli_cpu, 0);
        // Untouched nodes keep the same Arc.
        let n1 = s.get("n1").cloned().unwrap();
        c.remove_node("n0");
        c.update_snapshot(&mut s);
        assert_eq!(s.len(), 4);
        assert!(Arc::ptr_eq(&n1, s.get("n1").unwrap()));
        assert!(s.get("n0").is_none());
        for n in s.nodes() {
            assert_eq!(s.get(n.name()).map(|x| x.name()), Some(n.name()));
        }
        // A node removed while pods remain leaves the snapshot, keeps the pods.
        c.remove_node("n3");
        c.update_snapshot(&mut s);
        assert!(s.get("n3").is_none());
        assert_eq!(cpu(&c, "n3"), 1000);
        c.remove_pod("p");
        assert!(c.node("n3").is_none());
    }
}
