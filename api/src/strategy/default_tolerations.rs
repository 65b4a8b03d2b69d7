//! Kubernetes' `DefaultTolerationSeconds` admission: every pod tolerates the
//! `node.kubernetes.io/not-ready` and `node.kubernetes.io/unreachable` NoExecute taints
//! for 300 seconds unless it already says how it tolerates them, so the node lifecycle
//! controller evicts pods five minutes after their node goes away.
//!
//! ```
//! let mut pod = serde_json::json!({"spec": {"containers": []}});
//! skiff_api::strategy::default_tolerations::add(&mut pod);
//! let tolerations = pod["spec"]["tolerations"].as_array().unwrap();
//! assert_eq!(tolerations.len(), 2);
//! assert_eq!(tolerations[0]["tolerationSeconds"], 300);
//! ```

use serde_json::{json, Value};

/// The taints tolerated by default.
pub const TAINTS: [&str; 2] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];
/// For how long (`--default-not-ready-toleration-seconds` and
/// `--default-unreachable-toleration-seconds`).
pub const SECONDS: i64 = 300;

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

/// Adds the default tolerations to a pod (`spec.tolerations`) that lacks them. No-op
/// when the pod has no spec object or its tolerations are not a list.
pub fn add(pod: &mut Value) {
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
    for key in TAINTS {
        if !list.iter().any(|t| covers(t, key)) {
            list.push(
                json!({"key": key, "operator": "Exists", "effect": "NoExecute",
                "tolerationSeconds": SECONDS}),
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
