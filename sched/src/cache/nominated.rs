//! [`NominatedPods`]: pods that preempted others and wait for the room they made.
//! The filters count them on their node for pods of lower or equal priority, so the
//! room is not taken by someone else (kube-scheduler's nominator).
//!
//! ```
//! use std::sync::Arc;
//! use skiff_sched::cache::{NominatedPods, PodInfo};
//! let pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
//!     "spec": {"containers": []}})).unwrap();
//! let mut n = NominatedPods::default();
//! n.add(PodInfo::new(Arc::new(pod)), "node-1");
//! assert_eq!(n.for_node("node-1").len(), 1);
//! n.remove("u1");
//! assert!(n.is_empty());
//! ```

use std::collections::HashMap;

use super::PodInfo;

/// Nominated pods by node, and each pod's node.
#[derive(Clone, Debug, Default)]
pub struct NominatedPods {
    by_node: HashMap<String, Vec<PodInfo>>,
    node_of: HashMap<String, String>,
}

impl NominatedPods {
    /// Nominates `pod` to `node` (replacing an earlier nomination).
    pub fn add(&mut self, pod: PodInfo, node: &str) {
        self.remove(&pod.key);
        self.node_of.insert(pod.key.clone(), node.to_owned());
        self.by_node.entry(node.to_owned()).or_default().push(pod);
    }

    /// Drops the nomination of the pod with `key` (bound, deleted, or nominated
    /// elsewhere).
    pub fn remove(&mut self, key: &str) {
        let Some(node) = self.node_of.remove(key) else {
            return;
        };
        if let Some(list) = self.by_node.get_mut(&node) {
            list.retain(|p| p.key != key);
            if list.is_empty() {
                self.by_node.remove(&node);
            }
        }
    }

    /// The pods nominated to `node`.
    pub fn for_node(&self, node: &str) -> &[PodInfo] {
        self.by_node.get(node).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether no pod is nominated.
    pub fn is_empty(&self) -> bool {
        self.node_of.is_empty()
    }
}
