//! What the pod garbage collector deletes, decided from the caches alone (no I/O), so
//! each rule is tested without a server.
//!
//! ```
//! use std::sync::Arc;
//! use k8s_openapi::api::core::v1::Pod;
//! use skiff_controllers::podgc::plan::terminated_over_threshold;
//! let done = |name: &str, created: i64| {
//!     let p: Pod = serde_json::from_value(serde_json::json!({
//!         "metadata": {"name": name, "namespace": "default",
//!                      "creationTimestamp": format!("2026-01-01T00:00:{created:02}Z")},
//!         "status": {"phase": "Succeeded"}})).unwrap();
//!     Arc::new(p)
//! };
//! let pods = vec![done("new", 30), done("old", 10), done("mid", 20)];
//! let doomed = terminated_over_threshold(&pods, 2);
//! assert_eq!(doomed.len(), 1);
//! assert_eq!(doomed[0].metadata.name.as_deref(), Some("old"));
//! ```

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::disruption_target::is_terminal;

/// The terminated pods (`Succeeded` or `Failed`, not already being deleted) beyond
/// `threshold`, oldest first (by creation time, then name). A threshold of 0 turns
/// this rule off, as `--terminated-pod-gc-threshold=0` does.
pub fn terminated_over_threshold(pods: &[Arc<Pod>], threshold: usize) -> Vec<Arc<Pod>> {
    if threshold == 0 {
        return Vec::new();
    }
    let mut terminated: Vec<Arc<Pod>> = pods
        .iter()
        .filter(|p| is_terminal(p) && p.metadata.deletion_timestamp.is_none())
        .cloned()
        .collect();
    if terminated.len() <= threshold {
        return Vec::new();
    }
    terminated.sort_by(|a, b| {
        let key = |p: &Pod| {
            (
                p.metadata.creation_timestamp.as_ref().map(|t| t.0),
                p.metadata.namespace.clone(),
                p.metadata.name.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    let excess = terminated.len() - threshold;
    terminated.truncate(excess);
    terminated
}

/// The node a pod is bound to, if any.
pub fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// The nodes pods are bound to that are not in `nodes` (the node cache).
pub fn missing_nodes(pods: &[Arc<Pod>], nodes: &HashSet<String>) -> BTreeSet<String> {
    pods.iter()
        .filter_map(|p| node_of(p))
        .filter(|n| !nodes.contains(*n))
        .map(str::to_owned)
        .collect()
}

/// The pods bound to `node`.
pub fn pods_on(pods: &[Arc<Pod>], node: &str) -> Vec<Arc<Pod>> {
    pods.iter()
        .filter(|p| node_of(p) == Some(node))
        .cloned()
        .collect()
}

/// The pods being deleted that were never scheduled: no node agent will ever finish
/// their deletion.
pub fn unscheduled_terminating(pods: &[Arc<Pod>]) -> Vec<Arc<Pod>> {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some() && node_of(p).is_none())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(name: &str, node: Option<&str>, phase: &str, created: u32, deleting: bool) -> Arc<Pod> {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "ns",
                         "creationTimestamp": format!("2026-01-01T00:{:02}:{:02}Z", created / 60, created % 60)},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": phase},
        });
        if let Some(n) = node {
            v["spec"]["nodeName"] = json!(n);
        }
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-01T01:00:00Z");
        }
        Arc::new(serde_json::from_value(v).expect("pod"))
    }

    fn names(pods: &[Arc<Pod>]) -> Vec<&str> {
        pods.iter()
            .map(|p| p.metadata.name.as_deref().unwrap_or_default())
            .collect()
    }

    #[test]
    fn only_terminated_pods_beyond_the_threshold_go_oldest_first() {
        let pods = vec![
            pod("run", Some("n"), "Running", 0, false),
            pod("s3", Some("n"), "Succeeded", 3, false),
            pod("f1", Some("n"), "Failed", 1, false),
            pod("s2", Some("n"), "Succeeded", 2, false),
            pod("gone", Some("n"), "Failed", 0, true),
            pod("s4", Some("n"), "Succeeded", 4, false),
        ];
        assert_eq!(names(&terminated_over_threshold(&pods, 2)), ["f1", "s2"]);
        assert!(terminated_over_threshold(&pods, 4).is_empty());
        assert!(terminated_over_threshold(&pods, 0).is_empty());
    }

    #[test]
    fn pods_on_nodes_the_cache_lacks_are_orphans() {
        let pods = vec![
            pod("a", Some("alive"), "Running", 0, false),
            pod("b", Some("dead"), "Running", 0, false),
            pod("c", Some("dead"), "Succeeded", 0, false),
            pod("d", None, "Pending", 0, false),
        ];
        let nodes: HashSet<String> = ["alive".to_owned()].into();
        let missing = missing_nodes(&pods, &nodes);
        assert_eq!(missing.into_iter().collect::<Vec<_>>(), ["dead"]);
        assert_eq!(names(&pods_on(&pods, "dead")), ["b", "c"]);
    }

    #[test]
    fn unscheduled_pods_being_deleted_are_collected() {
        let pods = vec![
            pod("pending", None, "Pending", 0, false),
            pod("stuck", None, "Pending", 0, true),
            pod("bound", Some("n"), "Running", 0, true),
        ];
        assert_eq!(names(&unscheduled_terminating(&pods)), ["stuck"]);
    }
}
