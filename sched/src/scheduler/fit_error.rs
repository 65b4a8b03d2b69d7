//! [`FitError`]: why a pod fits no node, and its message in kube-scheduler's format,
//! the one `kubectl describe pod` shows:
//! `0/5 nodes are available: 2 node(s) had untolerated taint {k: v}, 3 Insufficient cpu.`
//!
//! ```
//! use skiff_sched::framework::Status;
//! use skiff_sched::scheduler::FitError;
//! let mut e = FitError::new(3);
//! e.record("n1", Status::unschedulable("Insufficient cpu").with_plugin("NodeResourcesFit"));
//! e.record("n2", Status::unschedulable("Insufficient cpu").with_plugin("NodeResourcesFit"));
//! e.record("n3", Status::unresolvable("node(s) were unschedulable").with_plugin("NodeUnschedulable"));
//! assert_eq!(e.to_string(), "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu.");
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use crate::framework::{NodeStatuses, Status};

/// Why a pod fits no node: the rejection of each node, and the messages of PreFilter
/// and PostFilter.
#[derive(Clone, Debug, Default)]
pub struct FitError {
    /// The number of nodes considered.
    pub num_all_nodes: usize,
    /// The status of every rejected node.
    pub node_statuses: NodeStatuses,
    /// A PreFilter rejection (which rejected every node at once).
    pub pre_filter_msg: Option<String>,
    /// The PostFilter (preemption) message.
    pub post_filter_msg: Option<String>,
    /// The plugins that rejected the pod (for queueing hints).
    pub unschedulable_plugins: HashSet<String>,
}

impl FitError {
    /// An empty diagnosis over `num_all_nodes` nodes.
    pub fn new(num_all_nodes: usize) -> Self {
        FitError {
            num_all_nodes,
            ..FitError::default()
        }
    }

    /// Records the rejection of `node`.
    pub fn record(&mut self, node: &str, status: Status) {
        if let Some(p) = status.plugin() {
            self.unschedulable_plugins.insert(p.to_owned());
        }
        self.node_statuses.insert(node.to_owned(), status);
    }

    /// The reasons with their node counts, sorted as kube-scheduler sorts them (as
    /// strings, count first).
    pub fn histogram(&self) -> Vec<String> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for s in self.node_statuses.values() {
            for r in s.reasons() {
                *counts.entry(r.as_str()).or_insert(0) += 1;
            }
        }
        let mut lines: Vec<String> = counts
            .into_iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        lines.sort();
        lines
    }
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0/{} nodes are available:", self.num_all_nodes)?;
        if let Some(m) = &self.pre_filter_msg {
            write!(f, " {m}.")?;
        }
        let lines = self.histogram();
        if !lines.is_empty() {
            write!(f, " {}.", lines.join(", "))?;
        }
        if let Some(m) = self.post_filter_msg.as_deref().filter(|m| !m.is_empty()) {
            write!(f, " {m}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FitError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_formats() {
        let mut e = FitError::new(5);
        for n in ["a", "b", "c"] {
            e.record(n, Status::unschedulable("Insufficient cpu"));
        }
        for n in ["d", "e"] {
            e.record(
                n,
                Status::unresolvable("node(s) had untolerated taint {dedicated: db}"),
            );
        }
        e.post_filter_msg = Some(
            "preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."
                .into(),
        );
        assert_eq!(
            e.to_string(),
            "0/5 nodes are available: 2 node(s) had untolerated taint {dedicated: db}, 3 Insufficient cpu. \
             preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."
        );
        let mut p = FitError::new(2);
        p.pre_filter_msg =
            Some("node(s) didn't satisfy plugin(s) [NodeAffinity] simultaneously".into());
        assert_eq!(
            p.to_string(),
            "0/2 nodes are available: node(s) didn't satisfy plugin(s) [NodeAffinity] simultaneously."
        );
        // A node rejected for two resources counts in both lines.
        let mut m = FitError::new(1);
        m.record(
            "a",
            Status::with_reasons(
                crate::framework::Code::Unschedulable,
                vec!["Insufficient cpu".into(), "Insufficient memory".into()],
            ),
        );
        assert_eq!(
            m.to_string(),
            "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."
        );
    }
}
