//! The status the CRD controller writes on CRDs: the `NamesAccepted`, `Established`
//! and `Terminating` conditions, `acceptedNames` and `storedVersions`.

use serde_json::{json, Value};

use super::definition::accepted_names;
use crate::registry::meta;

/// One condition, transitioning now.
pub(crate) fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({
        "type": kind,
        "status": status,
        "lastTransitionTime": meta::now_timestamp(),
        "reason": reason,
        "message": message,
    })
}

/// The status of an established CRD: names accepted, established, accepted names and
/// stored versions.
pub(crate) fn established_status(crd: &Value) -> Value {
    let storage = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|vs| {
            vs.iter()
                .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        })
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut stored: Vec<Value> = crd
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !storage.is_empty() && !stored.iter().any(|v| v == storage.as_str()) {
        stored.push(json!(storage));
    }
    json!({
        "conditions": [
            condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
            condition("Established", "True", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": accepted_names(crd),
        "storedVersions": stored,
    })
}

/// The status of a CRD whose names conflict with another's: not accepted, and
/// established only if it was served before.
pub(crate) fn not_accepted_status(reason: &str, message: &str, serving: bool) -> Value {
    let established = if serving {
        condition(
            "Established",
            "True",
            "InitialNamesAccepted",
            "the initial names have been accepted",
        )
    } else {
        condition(
            "Established",
            "False",
            "NotAccepted",
            "not all names are accepted",
        )
    };
    json!({"conditions": [condition("NamesAccepted", "False", reason, message), established]})
}

/// `current` status with `desired`'s fields and conditions merged in: a condition keeps
/// its `lastTransitionTime` while its status does not change.
pub(crate) fn merge_status(current: Option<&Value>, desired: &Value) -> Value {
    let mut out = current
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let mut conditions: Vec<Value> = out
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for cond in desired
        .get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match conditions
            .iter_mut()
            .find(|c| c.get("type") == cond.get("type"))
        {
            Some(existing) if existing.get("status") == cond.get("status") => {
                let since = existing.get("lastTransitionTime").cloned();
                *existing = cond.clone();
                if let Some(since) = since {
                    existing["lastTransitionTime"] = since;
                }
            }
            Some(existing) => *existing = cond.clone(),
            None => conditions.push(cond.clone()),
        }
    }
    if let Some(map) = out.as_object_mut() {
        map.insert("conditions".into(), Value::Array(conditions));
        for (k, v) in desired.as_object().into_iter().flatten() {
            if k != "conditions" {
                map.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_conditions_keep_their_transition_time() {
        let current = json!({"conditions": [{"type": "Established", "status": "True",
            "lastTransitionTime": "2020-01-01T00:00:00Z", "reason": "X", "message": "m"}]});
        let desired = json!({"conditions": [
            condition("Established", "True", "InitialNamesAccepted", "ok"),
            condition("NamesAccepted", "True", "NoConflicts", "ok")],
            "storedVersions": ["v1"]});
        let merged = merge_status(Some(&current), &desired);
        assert_eq!(
            merged["conditions"][0]["lastTransitionTime"],
            "2020-01-01T00:00:00Z"
        );
        assert_eq!(merged["conditions"][0]["reason"], "InitialNamesAccepted");
        assert_eq!(merged["conditions"][1]["type"], "NamesAccepted");
        assert_eq!(merged["storedVersions"], json!(["v1"]));
    }
}
