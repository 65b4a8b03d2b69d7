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
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    // Serializing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, object);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
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
