//! The next steps of a DaemonSet, decided from its nodes and pods alone (no I/O):
//! [`manage`] puts one pod on every eligible node and takes pods off nodes that are
//! gone or no longer eligible; [`rolling_update`] replaces old pods within
//! `maxUnavailable` (deleting old pods first) or `maxSurge` (starting new pods beside
//! old ones, deleting each old one once its replacement is available), as Kubernetes'
//! DaemonSet controller does.
//!
//! ```
//! use skiff_controllers::daemonset::plan::{manage, NodeState, Plan};
//! use skiff_controllers::daemonset::eligibility::Eligibility;
//! let fresh = NodeState { node: "n1".into(), exists: true,
//!     eligibility: Eligibility { should_run: true, should_continue_running: true }, pods: vec![] };
//! assert_eq!(manage(&[fresh], 0), Plan { create_on: vec!["n1".into()], delete: vec![] });
//! ```

use super::eligibility::Eligibility;

/// A daemon pod as the planner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonPod {
    /// Its name.
    pub name: String,
    /// Its uid (a deletion precondition).
    pub uid: String,
    /// Whether it was made from the update revision.
    pub updated: bool,
    /// Whether its Ready condition is true.
    pub ready: bool,
    /// Whether it has been ready for `minReadySeconds`.
    pub available: bool,
    /// Whether it is being deleted.
    pub terminating: bool,
    /// Whether it has finished (`Succeeded`/`Failed`).
    pub failed: bool,
}

/// One node and the set's pods on it (oldest first).
#[derive(Clone, Debug)]
pub struct NodeState {
    /// The node's name.
    pub node: String,
    /// Whether the Node still exists.
    pub exists: bool,
    /// Whether a pod belongs there.
    pub eligibility: Eligibility,
    /// The pods on (or meant for) the node, oldest first.
    pub pods: Vec<DaemonPod>,
}

impl NodeState {
    fn running(&self) -> impl Iterator<Item = &DaemonPod> {
        self.pods.iter().filter(|p| !p.terminating && !p.failed)
    }
}

/// Pods to create (by node) and to delete.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Nodes that get a new pod.
    pub create_on: Vec<String>,
    /// Pods to delete: `(name, uid)`.
    pub delete: Vec<(String, String)>,
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.create_on.is_empty() && self.delete.is_empty()
    }

    fn delete(&mut self, pod: &DaemonPod) {
        self.delete.push((pod.name.clone(), pod.uid.clone()));
    }
}

/// One pod per eligible node: create where none runs, delete failed and duplicate
/// pods, delete everything on nodes that are gone or evict it. With `max_surge > 0`
/// a node may keep one old pod beside its oldest updated pod.
pub fn manage(nodes: &[NodeState], max_surge: i32) -> Plan {
    let mut plan = Plan::default();
    for state in nodes {
        if !state.exists || !state.eligibility.should_continue_running {
            for pod in state.pods.iter().filter(|p| !p.terminating) {
                plan.delete(pod);
            }
            continue;
        }
        for pod in state.pods.iter().filter(|p| p.failed && !p.terminating) {
            plan.delete(pod);
        }
        let running: Vec<&DaemonPod> = state.running().collect();
        if running.is_empty() {
            if state.eligibility.should_run {
                plan.create_on.push(state.node.clone());
            }
            continue;
        }
        let keep: Vec<&DaemonPod> = if max_surge > 0 {
            let newest_kept = running.iter().find(|p| p.updated).copied();
            let old_kept = running.iter().find(|p| !p.updated).copied();
            match (newest_kept, old_kept) {
                (Some(n), Some(_)) if n.available => vec![n],
                (Some(n), Some(o)) => vec![n, o],
                (Some(n), None) => vec![n],
                (None, Some(o)) => vec![o],
                (None, None) => vec![],
            }
        } else {
            vec![running[0]]
        };
        for pod in running {
            if !keep.iter().any(|k| k.uid == pod.uid) {
                plan.delete(pod);
            }
        }
    }
    plan
}

/// The next replacements of a rolling update, within `max_unavailable` pods down or
/// `max_surge` extra pods (desired counts already resolved; surge wins when set).
pub fn rolling_update(nodes: &[NodeState], max_unavailable: i32, max_surge: i32) -> Plan {
    let mut plan = Plan::default();
    let eligible = nodes
        .iter()
        .filter(|s| s.exists && s.eligibility.should_continue_running);
    if max_surge > 0 {
        let mut surging = 0;
        let mut allowed = Vec::new();
        let mut candidates = Vec::new();
        for state in eligible {
            let running: Vec<&DaemonPod> = state.running().collect();
            let new = running.iter().find(|p| p.updated);
            let old = running.iter().find(|p| !p.updated);
            match (new, old) {
                (None, Some(old)) if !old.available => allowed.push(state.node.clone()),
                (None, Some(_)) => candidates.push(state.node.clone()),
                (Some(new), Some(old)) => {
                    surging += 1;
                    if new.available {
                        plan.delete(old);
                    }
                }
                _ => {}
            }
        }
        let room = usize::try_from((max_surge - surging).max(0)).unwrap_or(0);
        plan.create_on = allowed;
        plan.create_on.extend(candidates.into_iter().take(room));
        return plan;
    }
    let max_unavailable = if max_unavailable <= 0 {
        1
    } else {
        max_unavailable
    };
    let mut unavailable = 0;
    let mut candidates: Vec<&DaemonPod> = Vec::new();
    for state in eligible {
        let running: Vec<&DaemonPod> = state.running().collect();
        let new: Vec<&&DaemonPod> = running.iter().filter(|p| p.updated).collect();
        let old: Vec<&&DaemonPod> = running.iter().filter(|p| !p.updated).collect();
        match (new.as_slice(), old.as_slice()) {
            ([new], []) => {
                if !new.available {
                    unavailable += 1;
                }
            }
            // An unavailable old pod may be replaced right away.
            ([], [old]) if !old.available => plan.delete(old),
            ([], [old]) => candidates.push(old),
            // Nothing, both, or duplicates: manage() is fixing it; count it down.
            _ => unavailable += 1,
        }
    }
    let room = usize::try_from((max_unavailable - unavailable).max(0)).unwrap_or(0);
    for pod in candidates.into_iter().take(room) {
        plan.delete(pod);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: Eligibility = Eligibility {
        should_run: true,
        should_continue_running: true,
    };

    fn pod(name: &str, updated: bool, available: bool) -> DaemonPod {
        DaemonPod {
            name: name.into(),
            uid: format!("uid-{name}"),
            updated,
            ready: available,
            available,
            terminating: false,
            failed: false,
        }
    }

    fn node(name: &str, eligibility: Eligibility, pods: Vec<DaemonPod>) -> NodeState {
        NodeState {
            node: name.into(),
            exists: true,
            eligibility,
            pods,
        }
    }

    fn deleted(plan: &Plan) -> Vec<&str> {
        plan.delete.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn manage_creates_deletes_and_dedups() {
        let tainted = Eligibility {
            should_run: false,
            should_continue_running: true,
        };
        let mut gone = node("gone", RUN, vec![pod("g", true, true)]);
        gone.exists = false;
        let mut failed = pod("f", true, false);
        failed.failed = true;
        let nodes = vec![
            node("empty", RUN, vec![]),
            node("tainted-empty", tainted, vec![]),
            node("tainted-busy", tainted, vec![pod("t", true, true)]),
            node(
                "evicting",
                Eligibility::default(),
                vec![pod("e", true, true)],
            ),
            node(
                "dup",
                RUN,
                vec![pod("d1", true, true), pod("d2", true, true)],
            ),
            node("failed", RUN, vec![failed]),
            gone,
        ];
        let plan = manage(&nodes, 0);
        assert_eq!(plan.create_on, ["empty", "failed"]);
        assert_eq!(deleted(&plan), ["e", "d2", "f", "g"]);
    }

    #[test]
    fn max_unavailable_limits_deletions() {
        let nodes: Vec<_> = (0..4)
            .map(|i| {
                node(
                    &format!("n{i}"),
                    RUN,
                    vec![pod(&format!("p{i}"), false, true)],
                )
            })
            .collect();
        assert_eq!(deleted(&rolling_update(&nodes, 1, 0)), ["p0"]);
        assert_eq!(deleted(&rolling_update(&nodes, 2, 0)), ["p0", "p1"]);
        // One new pod not yet available uses the budget up.
        let mut nodes = nodes;
        nodes[0].pods = vec![pod("new0", true, false)];
        assert!(rolling_update(&nodes, 1, 0).is_empty());
        nodes[0].pods = vec![pod("new0", true, true)];
        assert_eq!(deleted(&rolling_update(&nodes, 1, 0)), ["p1"]);
        // An unavailable old pod goes regardless.
        nodes[0].pods = vec![pod("new0", true, false)];
        nodes[3].pods = vec![pod("p3", false, false)];
        assert_eq!(deleted(&rolling_update(&nodes, 1, 0)), ["p3"]);
    }

    #[test]
    fn max_surge_starts_new_pods_beside_old_ones() {
        let nodes: Vec<_> = (0..3)
            .map(|i| {
                node(
                    &format!("n{i}"),
                    RUN,
                    vec![pod(&format!("p{i}"), false, true)],
                )
            })
            .collect();
        let plan = rolling_update(&nodes, 0, 1);
        assert_eq!(plan.create_on, ["n0"]);
        let mut nodes = nodes;
        nodes[0].pods.push(pod("new0", true, false));
        assert!(rolling_update(&nodes, 0, 1).is_empty());
        assert!(manage(&nodes, 1).is_empty(), "surge pair kept");
        nodes[0].pods[1].available = true;
        let plan = rolling_update(&nodes, 0, 1);
        assert_eq!(deleted(&plan), ["p0"]);
        assert!(plan.create_on.is_empty());
    }
}
