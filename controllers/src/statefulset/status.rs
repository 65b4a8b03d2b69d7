//! A StatefulSet's status from its pods: replicas, readyReplicas, availableReplicas,
//! currentReplicas, updatedReplicas, currentRevision, updateRevision,
//! observedGeneration, collisionCount. A rolling update is complete (the current
//! revision becomes the update revision) once every pod is updated and ready.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::Pod;
use skiff_core::client::{Client, ClientError};
use skiff_core::runtime::now;

use super::identity::revision_of;
use crate::pods;

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Whether a pod is Running and its Ready condition true.
pub fn running_and_ready(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") && pods::is_ready(pod)
}

/// The status `owned` pods give `set`, with its current and update revisions.
pub fn compute(
    set: &StatefulSet,
    owned: &[Arc<Pod>],
    current_revision: &str,
    update_revision: &str,
) -> StatefulSetStatus {
    let spec = set.spec.clone().unwrap_or_default();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let t = now();
    let live: Vec<&Arc<Pod>> = owned
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let ready = owned.iter().filter(|p| running_and_ready(p)).count();
    let available = owned
        .iter()
        .filter(|p| running_and_ready(p) && pods::is_available(p, min_ready, t))
        .count();
    let at = |rev: &str| live.iter().filter(|p| revision_of(p) == Some(rev)).count();
    let mut status = StatefulSetStatus {
        replicas: count(owned.len()),
        ready_replicas: Some(count(ready)),
        available_replicas: Some(count(available)),
        current_replicas: Some(count(at(current_revision))),
        updated_replicas: Some(count(at(update_revision))),
        current_revision: Some(current_revision.to_owned()),
        update_revision: Some(update_revision.to_owned()),
        observed_generation: set.metadata.generation,
        collision_count: set.status.as_ref().and_then(|s| s.collision_count),
        conditions: set.status.as_ref().and_then(|s| s.conditions.clone()),
    };
    let want = spec.replicas.unwrap_or(1);
    let rolling = spec
        .update_strategy
        .as_ref()
        .and_then(|u| u.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate");
    let updated = status.updated_replicas.unwrap_or(0);
    if rolling
        && updated == status.replicas
        && updated == want
        && status.ready_replicas == Some(want)
    {
        status.current_revision = status.update_revision.clone();
        status.current_replicas = status.updated_replicas;
    }
    status
}

/// Writes `status` when it differs from what the set has (a merge patch of the status
/// subresource; the status is all ours).
pub async fn write(
    client: &Arc<dyn Client>,
    set: &StatefulSet,
    status: &StatefulSetStatus,
) -> Result<(), ClientError> {
    crate::status_patch::merge_status(client, set, set.status.as_ref(), status).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revisions::HASH_LABEL;
    use serde_json::json;

    fn pod(rev: &str, ready: bool) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": "p", "labels": {HASH_LABEL: rev}},
                "status": {"phase": "Running", "conditions": [
                    {"type": "Ready", "status": if ready { "True" } else { "False" }}]}
            }))
            .unwrap(),
        )
    }

    fn set(replicas: i32) -> StatefulSet {
        serde_json::from_value(json!({"metadata": {"name": "web", "generation": 4},
            "spec": {"replicas": replicas, "selector": {}, "template": {}}}))
        .unwrap()
    }

    #[test]
    fn counts_and_revisions() {
        let s = compute(&set(2), &[pod("a", true), pod("b", false)], "a", "b");
        assert_eq!(s.replicas, 2);
        assert_eq!(s.ready_replicas, Some(1));
        assert_eq!(s.current_replicas, Some(1));
        assert_eq!(s.updated_replicas, Some(1));
        assert_eq!(s.current_revision.as_deref(), Some("a"));
        assert_eq!(s.observed_generation, Some(4));
    }

    #[test]
    fn a_finished_rolling_update_moves_the_current_revision() {
        let s = compute(&set(2), &[pod("b", true), pod("b", true)], "a", "b");
        assert_eq!(s.current_revision.as_deref(), Some("b"));
        assert_eq!(s.current_replicas, Some(2));
    }
}
