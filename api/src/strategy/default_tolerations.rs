//! Kubernetes' `DefaultTolerationSeconds` admission: every pod tolerates the
//! `node.kubernetes.io/not-ready` and `node.kubernetes.io/unreachable` NoExecute taints
//! for 300 seconds unless it already says how it tolerates them, so the node lifecycle
//! controller evicts pods five minutes after their node goes away.
//!
//! The seconds are the API server's `--default-not-ready-toleration-seconds` and
//! `--default-unreachable-toleration-seconds` ([`TolerationSeconds`]).
//!
//! ```
//! use skiff_api::strategy::default_tolerations::{add, add_with, TolerationSeconds};
//! let mut pod = serde_json::json!({"spec": {"containers": []}});
//! add(&mut pod);
//! let tolerations = pod["spec"]["tolerations"].as_array().unwrap();
//! assert_eq!(tolerations.len(), 2);
//! assert_eq!(tolerations[0]["tolerationSeconds"], 300);
//!
//! let mut quick = serde_json::json!({"spec": {}});
//! add_with(&mut quick, TolerationSeconds { not_ready: 10, unreachable: 20 });
//! assert_eq!(quick["spec"]["tolerations"][1]["tolerationSeconds"], 20);
//! ```

use serde_json::{json, Value};

/// The taints tolerated by default.
pub const TAINTS: [&str; 2] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];
/// For how long, unless configured (`--default-not-ready-toleration-seconds` and
/// `--default-unreachable-toleration-seconds`).
pub const SECONDS: i64 = 300;

/// For how long pods tolerate each taint by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TolerationSeconds {
    /// `node.kubernetes.io/not-ready` (`--default-not-ready-toleration-seconds`).
    pub not_ready: i64,
    /// `node.kubernetes.io/unreachable` (`--default-unreachable-toleration-seconds`).
    pub unreachable: i64,
}

impl Default for TolerationSeconds {
    /// 300 seconds for both, as kube-apiserver.
    fn default() -> Self {
        TolerationSeconds {
            not_ready: SECONDS,
            unreachable: SECONDS,
        }
    }
}

/// Whether `toleration` already covers the NoExecute taint `key` (same or empty key,
/// NoExecute or empty effect).
fn covers(toleration: &Value, key: &str) -> bool {
    let t_key = toleration.get("key").and_then(Value::as_str).unwrap_or("");
    let effect = toleration
        .get("effect")
        .and_then(Value::as_str)
        .unwrap_or("");
    (t_key == key || t_key.is_empty()) && (effect == "NoExecute" || effect.is_empty())
}

/// Adds the default tolerations (300 seconds) to a pod that lacks them.
pub fn add(pod: &mut Value) {
    add_with(pod, TolerationSeconds::default());
}

/// Adds the default tolerations, for `seconds`, to a pod (`spec.tolerations`) that
/// lacks them. No-op when the pod has no spec object or its tolerations are not a list.
pub fn add_with(pod: &mut Value, seconds: TolerationSeconds) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    if tolerations.is_null() {
        *tolerations = json!([]);
    }
    let Some(list) = tolerations.as_array_mut() else {
        return;
    };
    for (key, seconds) in TAINTS
        .into_iter()
        .zip([seconds.not_ready, seconds.unreachable])
    {
        if !list.iter().any(|t| covers(t, key)) {
            list.push(
                json!({"key": key, "operator": "Exists", "effect": "NoExecute",
                "tolerationSeconds": seconds}),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_tolerations_are_respected() {
        let mut pod = json!({"spec": {"tolerations": [
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]}});
        add(&mut pod);
        let t = pod["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0]["tolerationSeconds"], 5);
        assert_eq!(t[1]["key"], "node.kubernetes.io/not-ready");

        let mut all = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        add(&mut all);
        assert_eq!(all["spec"]["tolerations"].as_array().unwrap().len(), 1);

        // Idempotent (defaulting runs on every update).
        let mut again = pod.clone();
        add(&mut again);
        assert_eq!(again, pod);
    }
}
