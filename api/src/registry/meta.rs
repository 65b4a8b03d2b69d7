//! Reading and writing the `metadata` of dynamic objects (`serde_json::Value`).
//!
//! Objects flow through the server as JSON values; these helpers name the fields the
//! registry touches so that no handler indexes into `metadata` by hand.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The `metadata` map of an object, created empty when missing or not an object.
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let map = obj.as_object_mut().expect("just made an object");
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut().expect("just made an object")
}

/// A string field of `metadata`, such as `name` or `namespace`; `""` when absent.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Sets a string field of `metadata`.
pub fn set_meta_str(obj: &mut Value, field: &str, value: &str) {
    metadata_mut(obj).insert(field.to_owned(), Value::String(value.to_owned()));
}

/// Removes a field of `metadata`.
pub fn remove_meta(obj: &mut Value, field: &str) {
    metadata_mut(obj).remove(field);
}

/// The object's name.
pub fn name(obj: &Value) -> &str {
    meta_str(obj, "name")
}

/// The object's namespace (`""` for cluster-scoped objects).
pub fn namespace(obj: &Value) -> &str {
    meta_str(obj, "namespace")
}

/// The object's labels (empty when none or malformed).
pub fn labels(obj: &Value) -> BTreeMap<String, String> {
    string_map(obj.get("metadata").and_then(|m| m.get("labels")))
}

/// The object's finalizers.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Replaces the object's finalizers (removing the field when empty).
pub fn set_finalizers(obj: &mut Value, finalizers: &[String]) {
    if finalizers.is_empty() {
        remove_meta(obj, "finalizers");
    } else {
        metadata_mut(obj).insert(
            "finalizers".into(),
            Value::Array(finalizers.iter().cloned().map(Value::String).collect()),
        );
    }
}

/// Whether the object is being deleted (`metadata.deletionTimestamp` is set).
pub fn is_terminating(obj: &Value) -> bool {
    obj.get("metadata")
        .and_then(|m| m.get("deletionTimestamp"))
        .is_some_and(|t| !t.is_null())
}

/// `metadata.generation`, 0 when absent.
pub fn generation(obj: &Value) -> i64 {
    obj.get("metadata")
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// A JSON map of strings read into a `BTreeMap`; non-string values are skipped.
fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Sets the field at `path` (`["spec", "replicas"]`), creating objects on the way;
/// 422 when something on the way is not an object.
pub fn set_path(
    obj: &mut Value,
    path: &[&str],
    value: Value,
) -> Result<(), skiff_core::status::ApiError> {
    let Some((last, parents)) = path.split_last() else {
        *obj = value;
        return Ok(());
    };
    let mut cur = obj;
    for (i, key) in parents.iter().enumerate() {
        if cur.is_null() {
            *cur = Value::Object(Map::new());
        }
        let map = cur.as_object_mut().ok_or_else(|| not_object(&path[..i]))?;
        cur = map.entry(key.to_string()).or_insert(Value::Null);
    }
    if cur.is_null() {
        *cur = Value::Object(Map::new());
    }
    cur.as_object_mut()
        .ok_or_else(|| not_object(parents))?
        .insert(last.to_string(), value);
    Ok(())
}

fn not_object(path: &[&str]) -> skiff_core::status::ApiError {
    skiff_core::status::ApiError::new(
        422,
        "Invalid",
        format!(
            "{} must be an object",
            if path.is_empty() {
                "the object".to_owned()
            } else {
                path.join(".")
            }
        ),
    )
}

/// The current time as Kubernetes writes timestamps (RFC 3339, seconds, `Z`).
pub fn now_timestamp() -> String {
    format_timestamp(chrono::Utc::now())
}

/// A time as Kubernetes writes timestamps.
pub fn format_timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write;
    // Written field by field: the strftime interpreter was a visible part of every
    // create and bind.
    let mut out = String::with_capacity(20);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    out
}

/// Whether two objects differ in anything but `metadata`, `status`, `kind` and
/// `apiVersion` (what bumps `metadata.generation`): [`spec_part`] compared without
/// copying either object.
pub fn spec_differs(a: &Value, b: &Value) -> bool {
    let outside = |k: &str| !matches!(k, "metadata" | "status" | "kind" | "apiVersion");
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return spec_part(a) != spec_part(b);
    };
    let count = |m: &Map<String, Value>| m.keys().filter(|k| outside(k)).count();
    count(a) != count(b)
        || a.iter()
            .filter(|(k, _)| outside(k))
            .any(|(k, v)| b.get(k) != Some(v))
}

/// Everything of an object except `metadata` and `status`: what a change to bumps
/// `metadata.generation`.
pub fn spec_part(obj: &Value) -> Map<String, Value> {
    obj.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "metadata" | "status" | "kind" | "apiVersion")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_and_writes_metadata() {
        let mut obj = json!({"kind": "Pod"});
        assert_eq!(name(&obj), "");
        set_meta_str(&mut obj, "name", "web");
        assert_eq!(name(&obj), "web");
        set_finalizers(&mut obj, &["a".to_owned()]);
        assert_eq!(finalizers(&obj), vec!["a"]);
        set_finalizers(&mut obj, &[]);
        assert!(obj["metadata"].get("finalizers").is_none());
        assert!(!is_terminating(&obj));
        set_meta_str(&mut obj, "deletionTimestamp", "2024-01-01T00:00:00Z");
        assert!(is_terminating(&obj));
    }

    #[test]
    fn spec_part_ignores_metadata_and_status() {
        let a =
            json!({"kind": "X", "metadata": {"name": "a"}, "spec": {"r": 1}, "status": {"s": 1}});
        let b =
            json!({"kind": "X", "metadata": {"name": "b"}, "spec": {"r": 1}, "status": {"s": 2}});
        assert_eq!(spec_part(&a), spec_part(&b));
        assert!(!spec_differs(&a, &b));
        let mut c = b.clone();
        c["spec"] = json!({"replicas": 7});
        assert!(spec_differs(&a, &c));
        c.as_object_mut().unwrap().remove("spec");
        assert!(spec_differs(&a, &c) && spec_differs(&c, &a));
    }

    #[test]
    fn timestamps_are_rfc3339_seconds_in_utc() {
        use chrono::TimeZone;
        let t = chrono::Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap();
        assert_eq!(format_timestamp(t), "2026-03-04T05:06:07Z");
        let now = chrono::Utc::now();
        assert_eq!(
            format_timestamp(now),
            now.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        );
    }
}
