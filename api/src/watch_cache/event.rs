//! One change to one object, as the cache keeps it and watchers send it.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

/// What happened to an object, or a progress mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The object was created.
    Added,
    /// The object was changed.
    Modified,
    /// The object was deleted.
    Deleted,
    /// No change: every event up to `revision` has been delivered (store progress).
    Progress,
    /// The cache lost its store watch and re-listed: watchers must end.
    Reset,
}

impl EventKind {
    /// The watch event type on the wire.
    pub fn wire_type(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
            EventKind::Progress => "BOOKMARK",
            EventKind::Reset => "ERROR",
        }
    }
}

/// One change, with the line a watch sends for it serialized once.
#[derive(Debug)]
pub struct CachedEvent {
    /// What happened.
    pub kind: EventKind,
    /// The store revision of the change.
    pub revision: i64,
    /// The object's store key.
    pub key: String,
    /// The object after the change (for a delete, its last state with the delete's
    /// revision as resourceVersion).
    pub object: Arc<Value>,
    /// The object before the change, for modifications.
    pub prev: Option<Arc<Value>>,
    /// `{"type":..,"object":..}\n`.
    pub line: Bytes,
}

/// The JSON line of a watch event.
pub fn event_line(kind: &str, object: &Value) -> Bytes {
    // Serializing a Value into a Vec cannot fail.
    let json = serde_json::to_vec(object).unwrap_or_default();
    event_line_json(kind, &json)
}

/// The JSON line of a watch event around an object already serialized.
pub fn event_line_json(kind: &str, object_json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(object_json.len() + kind.len() + 24);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(object_json);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// One current object as the cache holds it: decoded, and serialized once, so lists
/// and initial watch events copy bytes instead of serializing per request.
#[derive(Clone, Debug)]
pub struct CachedObject {
    /// The object.
    pub value: Arc<Value>,
    /// Its JSON.
    pub json: Bytes,
}

impl CachedObject {
    /// Serializes `value` once.
    pub fn new(value: Value) -> Self {
        let json = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        CachedObject {
            value: Arc::new(value),
            json,
        }
    }
}

impl CachedEvent {
    /// A progress mark at `revision`.
    pub fn progress(revision: i64) -> Self {
        CachedEvent {
            kind: EventKind::Progress,
            revision,
            key: String::new(),
            object: Arc::new(Value::Null),
            prev: None,
            line: Bytes::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_json_object() {
        let line = event_line("ADDED", &serde_json::json!({"kind": "Pod"}));
        assert_eq!(
            &line[..],
            b"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\"}}\n"
        );
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["type"], "ADDED");
    }
}
