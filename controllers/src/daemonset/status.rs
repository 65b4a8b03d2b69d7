//! A DaemonSet's status from its nodes and pods: desiredNumberScheduled,
//! currentNumberScheduled, numberReady, numberAvailable, numberUnavailable,
//! updatedNumberScheduled, numberMisscheduled, observedGeneration — what
//! `kubectl rollout status daemonset` reads.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use skiff_core::client::{Client, ClientError};

use super::plan::NodeState;

/// The status of `ds` whose nodes and pods are `nodes`.
pub fn compute(ds: &DaemonSet, nodes: &[NodeState]) -> DaemonSetStatus {
    let mut s = DaemonSetStatus {
        observed_generation: ds.metadata.generation,
        collision_count: ds.status.as_ref().and_then(|s| s.collision_count),
        conditions: ds.status.as_ref().and_then(|s| s.conditions.clone()),
        ..DaemonSetStatus::default()
    };
    let (mut available, mut updated) = (0, 0);
    for state in nodes.iter().filter(|n| n.exists) {
        let running: Vec<_> = state
            .pods
            .iter()
            .filter(|p| !p.terminating && !p.failed)
            .collect();
        if !state.eligibility.should_run {
            if !running.is_empty() {
                s.number_misscheduled += 1;
            }
            continue;
        }
        s.desired_number_scheduled += 1;
        if running.is_empty() {
            continue;
        }
        s.current_number_scheduled += 1;
        if running.iter().any(|p| p.ready) {
            s.number_ready += 1;
        }
        if running.iter().any(|p| p.available) {
            available += 1;
        }
        if running.iter().all(|p| p.updated) {
            updated += 1;
        }
    }
    s.number_available = Some(available);
    s.number_unavailable = Some((s.desired_number_scheduled - available).max(0));
    s.updated_number_scheduled = Some(updated);
    s
}

/// Writes `status` when it differs from what the DaemonSet has.
pub async fn write(
    client: &Arc<dyn Client>,
    ds: &DaemonSet,
    status: &DaemonSetStatus,
) -> Result<(), ClientError> {
    crate::status_patch::merge_status(client, ds, ds.status.as_ref(), status).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemonset::eligibility::Eligibility;
    use crate::daemonset::plan::DaemonPod;

    fn state(name: &str, should_run: bool, pods: Vec<(&str, bool, bool)>) -> NodeState {
        NodeState {
            node: name.into(),
            exists: true,
            eligibility: Eligibility {
                should_run,
                should_continue_running: true,
            },
            pods: pods
                .into_iter()
                .map(|(n, updated, available)| DaemonPod {
                    name: n.into(),
                    uid: n.into(),
                    updated,
                    ready: available,
                    available,
                    terminating: false,
                    failed: false,
                })
                .collect(),
        }
    }

    #[test]
    fn counts_per_node() {
        let ds = DaemonSet::default();
        let nodes = vec![
            state("a", true, vec![("pa", true, true)]),
            state("b", true, vec![("pb", false, false)]),
            state("c", true, vec![]),
            state("d", false, vec![("pd", true, true)]),
        ];
        let s = compute(&ds, &nodes);
        assert_eq!(s.desired_number_scheduled, 3);
        assert_eq!(s.current_number_scheduled, 2);
        assert_eq!(s.number_ready, 1);
        assert_eq!(s.number_available, Some(1));
        assert_eq!(s.number_unavailable, Some(2));
        assert_eq!(s.updated_number_scheduled, Some(1));
        assert_eq!(s.number_misscheduled, 1);
    }
}
