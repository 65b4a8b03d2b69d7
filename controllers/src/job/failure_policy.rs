//! A Job's `podFailurePolicy`: the first rule that matches a failed pod decides what
//! its failure means — `FailJob` (the Job fails at once, reason `PodFailurePolicy`),
//! `Ignore` (not counted against `backoffLimit`; the pod is replaced) or `Count` (the
//! default: counted). A rule matches on `onExitCodes` (a non-zero exit code of a
//! container, or of the named one, `In` or `NotIn` the values) or on `onPodConditions`
//! (a pod condition of that type and status, such as the `DisruptionTarget` a taint
//! eviction or the pod garbage collector leaves). `FailIndex` needs
//! `backoffLimitPerIndex`, which is not supported: such rules count.
//!
//! ```
//! use k8s_openapi::api::batch::v1::PodFailurePolicy;
//! use k8s_openapi::api::core::v1::Pod;
//! use skiff_controllers::job::failure_policy::{judge, Verdict};
//! let policy: PodFailurePolicy = serde_json::from_value(serde_json::json!({"rules": [
//!     {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
//!     {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
//! ]})).unwrap();
//! let pod: Pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "p", "namespace": "ns"},
//!     "status": {"phase": "Failed", "containerStatuses": [{"name": "main", "image": "i",
//!         "imageID": "", "ready": false, "restartCount": 0,
//!         "state": {"terminated": {"exitCode": 42}}}]}})).unwrap();
//! assert!(matches!(judge(&policy, &pod), Verdict::FailJob(_)));
//! ```

use k8s_openapi::api::batch::v1::{
    PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// What a failed pod's failure means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Fail the Job, with this condition message.
    FailJob(String),
    /// Do not count it.
    Ignore,
    /// Count it against `backoffLimit`.
    Count,
}

/// The first container (regular, then init) whose non-zero exit code satisfies
/// `req`.
fn matching_container<'a>(
    pod: &'a Pod,
    req: &PodFailurePolicyOnExitCodesRequirement,
) -> Option<(&'a ContainerStatus, i32)> {
    let status = pod.status.as_ref()?;
    status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .filter(|c| req.container_name.as_deref().is_none_or(|n| n == c.name))
        .find_map(|c| {
            let code = c.state.as_ref()?.terminated.as_ref()?.exit_code;
            let listed = req.values.contains(&code);
            let hit = code != 0
                && match req.operator.as_str() {
                    "In" => listed,
                    "NotIn" => !listed,
                    _ => false,
                };
            hit.then_some((c, code))
        })
}

/// The pod condition `rule` matches, if any.
fn matching_condition<'a>(pod: &Pod, rule: &'a PodFailurePolicyRule) -> Option<&'a str> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    rule.on_pod_conditions.iter().flatten().find_map(|want| {
        // Unset means `True` (k8s-openapi reads an absent status as empty).
        let status = if want.status.is_empty() {
            "True"
        } else {
            want.status.as_str()
        };
        conditions
            .iter()
            .any(|c| c.type_ == want.type_ && c.status == status)
            .then_some(want.type_.as_str())
    })
}

/// Judges one failed pod by `policy`.
pub fn judge(policy: &PodFailurePolicy, pod: &Pod) -> Verdict {
    let pod_name = format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    );
    for (index, rule) in policy.rules.iter().enumerate() {
        let matched = if let Some(req) = &rule.on_exit_codes {
            matching_container(pod, req).map(|(c, code)| {
                format!(
                    "Container {} for pod {pod_name} failed with exit code {code} matching {} rule at index {index}",
                    c.name, rule.action
                )
            })
        } else {
            matching_condition(pod, rule).map(|t| {
                format!(
                    "Pod {pod_name} has condition {t} matching {} rule at index {index}",
                    rule.action
                )
            })
        };
        let Some(message) = matched else {
            continue;
        };
        return match rule.action.as_str() {
            "FailJob" => Verdict::FailJob(message),
            "Ignore" => Verdict::Ignore,
            _ => Verdict::Count,
        };
    }
    Verdict::Count
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn policy(rules: serde_json::Value) -> PodFailurePolicy {
        serde_json::from_value(json!({ "rules": rules })).unwrap()
    }

    fn failed(containers: &[(&str, i32)], conditions: &[(&str, &str)]) -> Pod {
        let statuses: Vec<_> = containers
            .iter()
            .map(|(name, code)| {
                json!({"name": name, "image": "i", "imageID": "", "ready": false,
                       "restartCount": 0, "state": {"terminated": {"exitCode": code}}})
            })
            .collect();
        let conditions: Vec<_> = conditions
            .iter()
            .map(|(t, s)| json!({"type": t, "status": s}))
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "status": {"phase": "Failed", "containerStatuses": statuses, "conditions": conditions}
        }))
        .unwrap()
    }

    #[test]
    fn exit_codes_in_and_not_in_ignore_zero() {
        let p = policy(json!([{"action": "FailJob",
            "onExitCodes": {"operator": "NotIn", "values": [1, 2]}}]));
        assert_eq!(judge(&p, &failed(&[("a", 1)], &[])), Verdict::Count);
        assert_eq!(
            judge(&p, &failed(&[("a", 0), ("b", 2)], &[])),
            Verdict::Count
        );
        assert_eq!(
            judge(&p, &failed(&[("a", 0), ("b", 3)], &[])),
            Verdict::FailJob(
                "Container b for pod ns/p failed with exit code 3 matching FailJob rule at index 0"
                    .into()
            )
        );
        let named = policy(json!([{"action": "Ignore",
            "onExitCodes": {"containerName": "b", "operator": "In", "values": [7]}}]));
        assert_eq!(judge(&named, &failed(&[("a", 7)], &[])), Verdict::Count);
        assert_eq!(judge(&named, &failed(&[("b", 7)], &[])), Verdict::Ignore);
    }

    #[test]
    fn conditions_match_on_type_and_status_true_by_default() {
        let p = policy(json!([
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            {"action": "Count", "onPodConditions": [{"type": "ConfigIssue", "status": "False"}]},
            {"action": "FailJob", "onPodConditions": [{"type": "ConfigIssue"}]},
        ]));
        assert_eq!(
            judge(&p, &failed(&[("a", 1)], &[("DisruptionTarget", "True")])),
            Verdict::Ignore
        );
        assert_eq!(
            judge(&p, &failed(&[], &[("DisruptionTarget", "False")])),
            Verdict::Count
        );
        assert_eq!(
            judge(&p, &failed(&[], &[("ConfigIssue", "True")])),
            Verdict::FailJob(
                "Pod ns/p has condition ConfigIssue matching FailJob rule at index 2".into()
            )
        );
    }

    #[test]
    fn the_first_matching_rule_wins() {
        let p = policy(json!([
            {"action": "Count", "onExitCodes": {"operator": "In", "values": [5]}},
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [5]}},
        ]));
        assert_eq!(judge(&p, &failed(&[("a", 5)], &[])), Verdict::Count);
    }
}
