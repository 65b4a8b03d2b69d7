//! A PodDisruptionBudget's status from its pods: how many must be healthy, how many
//! are, and how many may be disrupted (Kubernetes' disruption controller arithmetic).
//!
//! ```
//! use k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec;
//! use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
//! use skiff_controllers::disruption::budget::{desired_healthy, scaled};
//! assert_eq!(scaled(&IntOrString::String("50%".into()), 5, true), Ok(3));
//! let spec = PodDisruptionBudgetSpec { max_unavailable: Some(IntOrString::Int(1)), ..Default::default() };
//! // 4 expected (from the pods' controllers), 1 may be unavailable: 3 must be healthy.
//! assert_eq!(desired_healthy(&spec, Some(4), 4), Ok((4, 3)));
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{
    PodDisruptionBudget, PodDisruptionBudgetSpec, PodDisruptionBudgetStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

/// How long an eviction recorded in `disruptedPods` keeps its pod out of the healthy
/// count while the pod has not started terminating (Kubernetes' `DeletionTimeout`).
pub const DELETION_TIMEOUT_MS: i64 = 2 * 60 * 1000;
/// The condition the controller keeps.
pub const CONDITION: &str = "DisruptionAllowed";

/// An int, or a percentage of `total` (rounded up or down).
pub fn scaled(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| {
                    format!("invalid value {s:?}: must be an integer or a percentage")
                })?;
            let product = pct * i64::from(total);
            let v = if round_up {
                (product + 99).div_euclid(100)
            } else {
                product.div_euclid(100)
            };
            i32::try_from(v).map_err(|_| format!("{s:?} of {total} is out of range"))
        }
    }
}

/// Whether the budget's numbers depend on the pods' controllers' scale
/// (`maxUnavailable`, or a percentage `minAvailable`).
pub fn needs_controller_scale(spec: &PodDisruptionBudgetSpec) -> bool {
    spec.max_unavailable.is_some() || matches!(spec.min_available, Some(IntOrString::String(_)))
}

/// `(expectedPods, desiredHealthy)`: `scale` is the sum of the pods' controllers'
/// replicas (needed when [`needs_controller_scale`]), `pods` how many pods match.
pub fn desired_healthy(
    spec: &PodDisruptionBudgetSpec,
    scale: Option<i32>,
    pods: i32,
) -> Result<(i32, i32), String> {
    let scale_or = || scale.ok_or_else(|| "the controllers' scale is unknown".to_owned());
    if let Some(max) = &spec.max_unavailable {
        let expected = scale_or()?;
        let unavailable = scaled(max, expected, true)?;
        return Ok((expected, (expected - unavailable).max(0)));
    }
    match &spec.min_available {
        Some(IntOrString::Int(n)) => Ok((pods, *n)),
        Some(min @ IntOrString::String(_)) => {
            let expected = scale_or()?;
            Ok((expected, scaled(min, expected, true)?))
        }
        None => Ok((pods, 0)),
    }
}

fn condition(
    old: Option<&PodDisruptionBudgetStatus>,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let previous = old
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == CONDITION));
    let since = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => Time(now),
    };
    Condition {
        type_: CONDITION.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: since,
        observed_generation: generation,
    }
}

/// The status of `pdb` over `pods` (the pods its selector matches), with
/// `expected`/`desired` from [`desired_healthy`]. Also returns when (Unix ms) an entry of
/// `disruptedPods` expires, for a re-check.
pub fn status(
    pdb: &PodDisruptionBudget,
    pods: &[Arc<Pod>],
    expected: i32,
    desired: i32,
    now: Timestamp,
) -> (PodDisruptionBudgetStatus, Option<i64>) {
    let old = pdb.status.as_ref();
    let now_ms = now.as_millisecond();
    let recorded = old
        .and_then(|s| s.disrupted_pods.clone())
        .unwrap_or_default();
    // Evictions not yet seen through: pods still present, not terminating, recent.
    let mut disrupted = BTreeMap::new();
    let mut recheck: Option<i64> = None;
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if let Some(at) = recorded.get(&name) {
            let expires = at.0.as_millisecond() + DELETION_TIMEOUT_MS;
            if expires > now_ms {
                disrupted.insert(name, at.clone());
                recheck = Some(recheck.map_or(expires, |r| r.min(expires)));
            }
        }
    }
    let healthy = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| !disrupted.contains_key(p.metadata.name.as_deref().unwrap_or_default()))
        .filter(|p| crate::pods::is_ready(p))
        .count();
    let healthy = i32::try_from(healthy).unwrap_or(i32::MAX);
    let allowed = (healthy - desired).max(0);
    let generation = pdb.metadata.generation;
    let (cstatus, reason) = if allowed > 0 {
        ("True", "SufficientPods")
    } else {
        ("False", "InsufficientPods")
    };
    let status = PodDisruptionBudgetStatus {
        conditions: Some(vec![condition(old, cstatus, reason, "", generation, now)]),
        current_healthy: healthy,
        desired_healthy: desired,
        disrupted_pods: Some(disrupted).filter(|d| !d.is_empty()),
        disruptions_allowed: allowed,
        expected_pods: expected,
        observed_generation: generation,
    };
    (status, recheck)
}

/// The status of a budget the controller could not compute: no disruption allowed,
/// the condition saying why (Kubernetes' "fail safe").
pub fn failsafe(
    pdb: &PodDisruptionBudget,
    message: &str,
    now: Timestamp,
) -> PodDisruptionBudgetStatus {
    let old = pdb.status.clone().unwrap_or_default();
    PodDisruptionBudgetStatus {
        conditions: Some(vec![condition(
            Some(&old),
            "False",
            "SyncFailed",
            message,
            pdb.metadata.generation,
            now,
        )]),
        disruptions_allowed: 0,
        observed_generation: pdb.metadata.generation,
        ..old
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, ready: bool) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name},
                "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}}))
            .unwrap(),
        )
    }

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled(&IntOrString::String("34%".into()), 3, true), Ok(2));
        assert_eq!(scaled(&IntOrString::String("34%".into()), 3, false), Ok(1));
        assert!(scaled(&IntOrString::String("half".into()), 3, true).is_err());
        let spec = PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::String("50%".into())),
            ..Default::default()
        };
        assert_eq!(desired_healthy(&spec, Some(3), 3), Ok((3, 2)));
        assert!(desired_healthy(&spec, None, 3).is_err());
        let unavailable = PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::String("100%".into())),
            ..Default::default()
        };
        assert_eq!(desired_healthy(&unavailable, Some(3), 3), Ok((3, 0)));
    }

    #[test]
    fn disrupted_pods_do_not_count_until_they_expire() {
        let now = skiff_core::runtime::now();
        let mut pdb = PodDisruptionBudget::default();
        pdb.metadata.generation = Some(2);
        pdb.status = Some(PodDisruptionBudgetStatus {
            disrupted_pods: Some(BTreeMap::from([
                ("a".to_owned(), Time(now)),
                ("gone".to_owned(), Time(now)),
            ])),
            ..Default::default()
        });
        let pods = [
            pod("a", true),
            pod("b", true),
            pod("c", true),
            pod("d", false),
        ];
        let (s, recheck) = status(&pdb, &pods, 4, 1, now);
        assert_eq!(s.current_healthy, 2);
        assert_eq!(s.disruptions_allowed, 1);
        assert_eq!(s.expected_pods, 4);
        assert_eq!(s.observed_generation, Some(2));
        assert_eq!(s.disrupted_pods.as_ref().unwrap().len(), 1);
        assert_eq!(recheck, Some(now.as_millisecond() + DELETION_TIMEOUT_MS));
        let c = &s.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", "SufficientPods")
        );

        let (tight, _) = status(&pdb, &pods, 4, 3, now);
        assert_eq!(tight.disruptions_allowed, 0);
        assert_eq!(tight.conditions.unwrap()[0].reason, "InsufficientPods");
    }
}
