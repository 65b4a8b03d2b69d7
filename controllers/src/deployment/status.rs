//! A Deployment's status from its ReplicaSets: the counts `kubectl rollout status`
//! reads, and the `Available` and `Progressing` conditions.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// `Progressing` reasons, as Kubernetes names them.
pub mod reason {
    /// A new ReplicaSet was created.
    pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
    /// The rollout is moving.
    pub const RS_UPDATED: &str = "ReplicaSetUpdated";
    /// The new ReplicaSet exists and is being worked on.
    pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
    /// The rollout is complete.
    pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
    /// No progress within `progressDeadlineSeconds`.
    pub const DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
    /// The deployment is paused.
    pub const PAUSED: &str = "DeploymentPaused";
    /// The deployment was resumed.
    pub const RESUMED: &str = "DeploymentResumed";
}

fn sum(sets: &[&ReplicaSet], f: impl Fn(&ReplicaSet) -> i32) -> i32 {
    sets.iter().map(|r| f(r)).sum()
}

fn status_of(rs: &ReplicaSet) -> k8s_openapi::api::apps::v1::ReplicaSetStatus {
    rs.status.clone().unwrap_or_default()
}

/// Whether the rollout is complete: every replica updated and available, no old pods.
pub fn complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    s.updated_replicas == Some(want)
        && s.replicas == Some(want)
        && s.available_replicas == Some(want)
        && s.observed_generation >= d.metadata.generation
}

fn set_condition(
    conditions: &mut Vec<DeploymentCondition>,
    mut c: DeploymentCondition,
    now: Timestamp,
) {
    if let Some(old) = conditions.iter_mut().find(|o| o.type_ == c.type_) {
        if old.status == c.status && old.reason == c.reason && old.message == c.message {
            old.last_update_time = c.last_update_time;
            return;
        }
        if old.status == c.status {
            c.last_transition_time = old.last_transition_time.clone();
        }
        *old = c;
    } else {
        c.last_transition_time = Some(Time(now));
        conditions.push(c);
    }
}

fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// The new status. `progress` is the `Progressing` reason of what this reconcile did
/// (`None`: nothing moved).
pub fn compute(
    d: &Deployment,
    new_rs: Option<&ReplicaSet>,
    all: &[&ReplicaSet],
    max_unavailable: i32,
    progress: Option<&str>,
    now: Timestamp,
) -> DeploymentStatus {
    let spec = d.spec.clone().unwrap_or_default();
    let want = spec.replicas.unwrap_or(1);
    let old = d.status.clone().unwrap_or_default();
    let replicas = sum(all, |r| status_of(r).replicas);
    let available = sum(all, |r| status_of(r).available_replicas.unwrap_or(0));
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(replicas),
        updated_replicas: Some(new_rs.map_or(0, |r| status_of(r).replicas)),
        ready_replicas: Some(sum(all, |r| status_of(r).ready_replicas.unwrap_or(0))),
        available_replicas: Some(available),
        unavailable_replicas: Some((want - available).max(0)),
        collision_count: old.collision_count,
        conditions: None,
        ..DeploymentStatus::default()
    };
    let mut conditions = old.conditions.clone().unwrap_or_default();
    let min_ok = available >= want - max_unavailable;
    set_condition(
        &mut conditions,
        if min_ok {
            condition(
                "Available",
                true,
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
                now,
            )
        } else {
            condition(
                "Available",
                false,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
                now,
            )
        },
        now,
    );
    let rs_name = new_rs
        .and_then(|r| r.metadata.name.clone())
        .unwrap_or_default();
    let current = conditions
        .iter()
        .find(|c| c.type_ == "Progressing")
        .cloned();
    let progressing = if spec.paused == Some(true) {
        Some(condition(
            "Progressing",
            true,
            reason::PAUSED,
            "Deployment is paused".into(),
            now,
        ))
    } else if complete(d, &status) {
        Some(condition(
            "Progressing",
            true,
            reason::NEW_RS_AVAILABLE,
            format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
            now,
        ))
    } else if let Some(reason) = progress {
        let message = if reason == reason::NEW_RS_CREATED {
            format!("Created new replica set \"{rs_name}\"")
        } else {
            format!("ReplicaSet \"{rs_name}\" is progressing.")
        };
        Some(condition("Progressing", true, reason, message, now))
    } else {
        // Nothing moved: has the deadline passed since the last progress?
        let deadline = spec.progress_deadline_seconds.unwrap_or(600);
        let last = current
            .as_ref()
            .and_then(|c| c.last_update_time.as_ref())
            .map(|t| t.0.as_second());
        let was_progressing = current.as_ref().is_some_and(|c| {
            c.status == "True" && c.reason.as_deref() != Some(reason::NEW_RS_AVAILABLE)
        });
        match last {
            Some(last) if was_progressing && last + i64::from(deadline) <= now.as_second() => {
                Some(condition(
                    "Progressing",
                    false,
                    reason::DEADLINE_EXCEEDED,
                    format!("ReplicaSet \"{rs_name}\" has timed out progressing."),
                    now,
                ))
            }
            _ if current
                .as_ref()
                .is_none_or(|c| c.reason.as_deref() == Some(reason::NEW_RS_AVAILABLE)) =>
            {
                Some(condition(
                    "Progressing",
                    true,
                    reason::FOUND_NEW_RS,
                    format!("Found new replica set \"{rs_name}\""),
                    now,
                ))
            }
            _ => None,
        }
    };
    if let Some(p) = progressing {
        set_condition(&mut conditions, p, now);
    }
    status.conditions = Some(conditions);
    status
}

/// Whether two statuses differ in more than condition timestamps.
pub fn differs(a: &DeploymentStatus, b: &DeploymentStatus) -> bool {
    let strip = |s: &DeploymentStatus| {
        let mut s = s.clone();
        if let Some(cs) = s.conditions.as_mut() {
            for c in cs {
                c.last_update_time = None;
                c.last_transition_time = None;
            }
        }
        s
    };
    strip(a) != strip(b)
}
