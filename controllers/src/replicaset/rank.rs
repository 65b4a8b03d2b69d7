//! Which surplus pods to delete first, in Kubernetes' order (`ActivePods` sorting):
//! unscheduled before scheduled, pending before unknown before running, not ready
//! before ready, more restarts before fewer, newer before older.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::pods;

fn phase_rank(pod: &Pod) -> u8 {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") | None => 0,
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 3,
    }
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |cs| {
            cs.iter().map(|c| c.restart_count).max().unwrap_or(0)
        })
}

/// The `count` pods of `active` to delete first.
pub fn to_delete(active: &[Arc<Pod>], count: usize) -> Vec<Arc<Pod>> {
    let mut ranked: Vec<Arc<Pod>> = active.to_vec();
    ranked.sort_by_key(|p| {
        let scheduled = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty());
        let created = p
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(0, |t| t.0.as_second());
        (
            scheduled,
            phase_rank(p),
            pods::is_ready(p),
            std::cmp::Reverse(restarts(p)),
            std::cmp::Reverse(created),
            p.metadata.name.clone(),
        )
    });
    ranked.truncate(count);
    ranked
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus};

    use super::*;

    fn pod(name: &str, node: Option<&str>, phase: &str, ready: bool) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.name = Some(name.into());
        p.spec = Some(PodSpec {
            node_name: node.map(str::to_owned),
            ..PodSpec::default()
        });
        p.status = Some(PodStatus {
            phase: Some(phase.into()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        });
        Arc::new(p)
    }

    #[test]
    fn unscheduled_pending_and_unready_go_first() {
        let pods = vec![
            pod("ready", Some("n"), "Running", true),
            pod("unready", Some("n"), "Running", false),
            pod("pending", Some("n"), "Pending", false),
            pod("unscheduled", None, "Pending", false),
        ];
        let names: Vec<_> = to_delete(&pods, 4)
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["unscheduled", "pending", "unready", "ready"]);
        assert_eq!(to_delete(&pods, 1).len(), 1);
    }
}
