//! The rules of `scheduling.k8s.io/v1` PriorityClasses, as kube-apiserver's: user
//! classes go up to [`HIGHEST_USER_DEFINABLE_PRIORITY`], the `system-` prefix belongs
//! to the two [`SYSTEM_CLASSES`] the server creates itself, `preemptionPolicy`
//! defaults to `PreemptLowerPriority`, and neither `value` nor `preemptionPolicy`
//! changes after creation.
//!
//! ```
//! use skiff_api::strategy::priority_class::{validate, SYSTEM_CLASSES};
//! use serde_json::json;
//! let (name, value, _) = SYSTEM_CLASSES[0];
//! assert!(validate(&json!({"metadata": {"name": name}, "value": value})).is_empty());
//! assert!(!validate(&json!({"metadata": {"name": "system-mine"}, "value": 5})).is_empty());
//! assert!(!validate(&json!({"metadata": {"name": "huge"}, "value": 2_000_000_000})).is_empty());
//! ```

use serde_json::{json, Value};
use skiff_core::status::StatusCause;

/// The highest `value` of a class a user creates (kube's `HighestUserDefinablePriority`).
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i64 = 1_000_000_000;

/// Names with this prefix are reserved for [`SYSTEM_CLASSES`].
pub const SYSTEM_PREFIX: &str = "system-";

/// The classes the server keeps (name, value, description), as kube-apiserver's
/// bootstrap creates them.
pub const SYSTEM_CLASSES: [(&str, i64, &str); 2] = [
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

/// The preemption policies a class (and a pod) may name.
pub const PREEMPTION_POLICIES: [&str; 2] = ["PreemptLowerPriority", "Never"];

/// A system class as the server stores it.
pub fn system_class(name: &str, value: i64, description: &str) -> Value {
    json!({
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": name},
        "value": value,
        "description": description,
        "preemptionPolicy": "PreemptLowerPriority",
    })
}

/// Fills `preemptionPolicy`.
pub fn defaults(obj: &mut Value) {
    if let Some(map) = obj.as_object_mut() {
        map.entry("preemptionPolicy")
            .or_insert_with(|| json!("PreemptLowerPriority"));
    }
}

/// The value range, the reserved prefix and the preemption policy.
pub fn validate(obj: &Value) -> Vec<StatusCause> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let value = obj.get("value").and_then(Value::as_i64).unwrap_or(0);
    let global_default = obj.get("globalDefault").and_then(Value::as_bool) == Some(true);
    let mut causes = Vec::new();
    if name.starts_with(SYSTEM_PREFIX) {
        let known = SYSTEM_CLASSES
            .iter()
            .any(|(n, v, _)| *n == name && *v == value);
        if !known || global_default {
            let why = match SYSTEM_CLASSES.iter().find(|(n, _, _)| *n == name) {
                None => format!("{name} is not a known system priority class"),
                Some(_) if global_default => format!("{name} may not be the global default"),
                Some((_, v, _)) => format!("value of {name} must be {v}"),
            };
            causes.push(StatusCause::forbidden(
                "metadata.name",
                &format!(
                    "priority class names with '{SYSTEM_PREFIX}' prefix are reserved for system use only. error: {why}"
                ),
            ));
        }
    } else if value > HIGHEST_USER_DEFINABLE_PRIORITY {
        causes.push(StatusCause::forbidden(
            "value",
            &format!(
                "maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"
            ),
        ));
    }
    if let Some(policy) = obj.get("preemptionPolicy") {
        if !policy
            .as_str()
            .is_some_and(|p| PREEMPTION_POLICIES.contains(&p))
        {
            causes.push(StatusCause::not_supported(
                "preemptionPolicy",
                policy,
                &PREEMPTION_POLICIES,
            ));
        }
    }
    causes
}

/// `value` never changes (`preemptionPolicy` is in the kind's immutable fields).
pub fn validate_update(new: &Value, old: &Value) -> Vec<StatusCause> {
    if new.get("value") != old.get("value") {
        return vec![StatusCause::forbidden(
            "value",
            "may not be changed in an update.",
        )];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_checked_like_kube() {
        let class = |name: &str, value: i64| json!({"metadata": {"name": name}, "value": value});
        assert!(validate(&class("high", HIGHEST_USER_DEFINABLE_PRIORITY)).is_empty());
        let over = validate(&class("high", HIGHEST_USER_DEFINABLE_PRIORITY + 1));
        assert_eq!(over.len(), 1);
        assert_eq!(over[0].field, "value");
        for (name, value, _) in SYSTEM_CLASSES {
            assert!(validate(&class(name, value)).is_empty(), "{name}");
            assert_eq!(validate(&class(name, value + 1)).len(), 1, "{name}");
        }
        let mut default_system = class("system-node-critical", 2_000_001_000);
        default_system["globalDefault"] = json!(true);
        assert_eq!(validate(&default_system).len(), 1);
        assert_eq!(validate(&class("system-other", 1)).len(), 1);
        let mut bad_policy = class("p", 1);
        bad_policy["preemptionPolicy"] = json!("Sometimes");
        assert_eq!(validate(&bad_policy)[0].reason, "FieldValueNotSupported");
    }

    #[test]
    fn the_value_is_fixed_and_the_policy_defaulted() {
        let mut c = json!({"metadata": {"name": "p"}, "value": 5});
        defaults(&mut c);
        assert_eq!(c["preemptionPolicy"], "PreemptLowerPriority");
        let mut changed = c.clone();
        changed["value"] = json!(6);
        assert_eq!(validate_update(&changed, &c).len(), 1);
        changed["value"] = json!(5);
        changed["description"] = json!("now described");
        assert!(validate_update(&changed, &c).is_empty());
    }
}
