//! A ReplicaSet's status from its pods: replicas, fullyLabeledReplicas,
//! readyReplicas, availableReplicas, observedGeneration and the `ReplicaFailure`
//! condition.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use skiff_core::client::Client;
use skiff_core::runtime::now;

use super::Error;
use crate::pods;

fn count(n: usize) -> Option<i32> {
    Some(i32::try_from(n).unwrap_or(i32::MAX))
}

/// The status `owned` pods give `rs`; `failure` is a pod creation error, if any.
pub fn compute(rs: &ReplicaSet, owned: &[Arc<Pod>], failure: Option<&str>) -> ReplicaSetStatus {
    let spec = rs.spec.clone().unwrap_or_default();
    let template_labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let active: Vec<&Arc<Pod>> = owned.iter().filter(|p| pods::is_active(p)).collect();
    let fully_labeled = active
        .iter()
        .filter(|p| {
            let labels = p.metadata.labels.clone().unwrap_or_default();
            template_labels
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
        })
        .count();
    let ready = active.iter().filter(|p| pods::is_ready(p)).count();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let t = now();
    let available = active
        .iter()
        .filter(|p| pods::is_available(p, min_ready, t))
        .count();
    let old = rs.status.clone().unwrap_or_default();
    let mut conditions: Vec<ReplicaSetCondition> = old
        .conditions
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.type_ != "ReplicaFailure")
        .collect();
    if let Some(msg) = failure {
        conditions.push(ReplicaSetCondition {
            type_: "ReplicaFailure".into(),
            status: "True".into(),
            reason: Some("FailedCreate".into()),
            message: Some(msg.to_owned()),
            last_transition_time: Some(Time(t)),
        });
    }
    ReplicaSetStatus {
        replicas: count(active.len()).unwrap_or(0),
        fully_labeled_replicas: count(fully_labeled),
        ready_replicas: count(ready),
        available_replicas: count(available),
        observed_generation: rs.metadata.generation,
        conditions: (!conditions.is_empty()).then_some(conditions),
        ..ReplicaSetStatus::default()
    }
}

/// Writes the status when it changed (a compare-and-swap; a conflict means a newer
/// version is on its way, whose event reconciles again).
pub async fn update(
    client: &Arc<dyn Client>,
    rs: &ReplicaSet,
    owned: &[Arc<Pod>],
    failure: Option<&str>,
) -> Result<(), Error> {
    let status = compute(rs, owned, failure);
    let old = rs.status.clone().unwrap_or_default();
    let same = |a: &ReplicaSetStatus, b: &ReplicaSetStatus| {
        let strip = |s: &ReplicaSetStatus| ReplicaSetStatus {
            conditions: s.conditions.clone().map(|cs| {
                cs.into_iter()
                    .map(|c| ReplicaSetCondition {
                        last_transition_time: None,
                        ..c
                    })
                    .collect()
            }),
            ..s.clone()
        };
        strip(a) == strip(b)
    };
    if same(&status, &old) {
        return Ok(());
    }
    let mut next = rs.clone();
    next.status = Some(status);
    crate::status_patch::replace_status(client, &next)
        .await
        .map_err(|source| Error::Client {
            action: "updating status",
            rs: super::rs_name(rs),
            source,
        })
}
