//! One change to one object, as the cache keeps it and watchers send it.

use std::sync::{Arc, OnceLock};

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

/// One change, with the line a watch sends for it serialized once, when a watcher
/// that sends lines first needs it (in-process watchers never do).
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
    /// The object's JSON, shared with the cache's [`CachedObject`].
    json: LazyJson,
    /// `{"type":..,"object":..}\n`, made on first use.
    line: OnceLock<Bytes>,
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

/// An object's JSON, serialized at most once, by whoever needs it first.
type LazyJson = Arc<OnceLock<Bytes>>;

/// One current object as the cache holds it: decoded, and serialized at most once
/// (on first use), so lists and initial watch events copy bytes instead of
/// serializing per request, and objects nobody reads as JSON are never serialized.
#[derive(Clone, Debug)]
pub struct CachedObject {
    /// The object.
    pub value: Arc<Value>,
    json: LazyJson,
}

impl CachedObject {
    /// An object, not yet serialized.
    pub fn new(value: Value) -> Self {
        CachedObject {
            value: Arc::new(value),
            json: LazyJson::default(),
        }
    }

    /// The object's JSON, serialized on the first call.
    pub fn json(&self) -> &Bytes {
        self.json.get_or_init(|| serialize(&self.value))
    }
}

/// `value`'s JSON; serializing a `Value` into a `Vec` cannot fail.
fn serialize(value: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

impl CachedEvent {
    /// A change of kind `kind` at `revision` whose object is `object`.
    pub fn new(
        kind: EventKind,
        revision: i64,
        key: String,
        object: &CachedObject,
        prev: Option<Arc<Value>>,
    ) -> Self {
        CachedEvent {
            kind,
            revision,
            key,
            object: object.value.clone(),
            prev,
            json: object.json.clone(),
            line: OnceLock::new(),
        }
    }

    /// A progress mark at `revision`.
    pub fn progress(revision: i64) -> Self {
        CachedEvent {
            kind: EventKind::Progress,
            revision,
            key: String::new(),
            object: Arc::new(Value::Null),
            prev: None,
            json: LazyJson::default(),
            line: OnceLock::from(Bytes::new()),
        }
    }

    /// The mark that the cache re-listed at `revision`: watchers must end.
    pub fn reset(revision: i64) -> Self {
        CachedEvent {
            kind: EventKind::Reset,
            ..CachedEvent::progress(revision)
        }
    }

    /// The watch line of this event, serialized on the first call (and the object's
    /// JSON with it, shared with the cache's current object).
    pub fn line(&self) -> &Bytes {
        self.line.get_or_init(|| {
            let json = self.json.get_or_init(|| serialize(&self.object));
            event_line_json(self.kind.wire_type(), json)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_once_and_share_the_objects_json() {
        let obj = CachedObject::new(serde_json::json!({"kind": "Pod"}));
        let event = CachedEvent::new(EventKind::Modified, 7, "k".into(), &obj, None);
        assert_eq!(
            &event.line()[..],
            b"{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\"}}\n"
        );
        // The event serialized the object; the cache's copy sees the same bytes.
        assert!(obj.json.get().is_some());
        assert_eq!(&obj.json()[..], b"{\"kind\":\"Pod\"}");
        assert!(CachedEvent::progress(3).line().is_empty());
    }

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
