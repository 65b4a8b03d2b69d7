//! [`WatchEvent`]: one event of a watch stream, as the API server sends it, and the two
//! streams of them: [`WatchStream`] (owned objects) and [`SharedWatchStream`] (objects
//! behind an `Arc`, possibly the server's own cached copy).
//!
//! ```
//! use std::sync::Arc;
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use serde_json::json;
//! use skiff_core::client::WatchEvent;
//!
//! let shared = WatchEvent::Added(Arc::new(json!({"metadata": {"name": "settings"}})));
//! // Decoded from the shared value, which stays as it was (nothing is copied first).
//! let typed = shared.decode::<ConfigMap>().unwrap();
//! assert!(matches!(typed, WatchEvent::Added(cm) if cm.metadata.name.as_deref() == Some("settings")));
//! ```

use std::sync::Arc;

use futures::stream::BoxStream;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ClientError;
use crate::status::ApiError;

/// One event of a watch. `K` is the object type (`serde_json::Value` for the dynamic
/// client).
#[derive(Clone, Debug, PartialEq)]
pub enum WatchEvent<K = Value> {
    /// An object was created (or, at the start of a watch from no resourceVersion,
    /// exists).
    Added(K),
    /// An object changed.
    Modified(K),
    /// An object was deleted (its last state), or stopped matching the selectors.
    Deleted(K),
    /// A bookmark: no change, but the watch has seen everything up to this object's
    /// `metadata.resourceVersion`. With `sendInitialEvents`, the bookmark annotated
    /// `k8s.io/initial-events-end` ends the initial list.
    Bookmark(K),
    /// The server ended the watch with an error (410 Gone: start again with a list).
    Error(ApiError),
}

/// A stream of watch events; transport failures end it with an `Err`.
pub type WatchStream = BoxStream<'static, Result<WatchEvent, ClientError>>;

/// A stream of watch events whose objects may be shared with the server's watch cache
/// (the in-process client hands out the cache's own `Arc`s) and with every other
/// watcher of the same events: read them, decode from them ([`WatchEvent::decode`]),
/// never mutate through them (an `Arc` gives no `&mut` while it is shared; take a copy
/// with `Arc::unwrap_or_clone` to own one). Same events and ends as [`WatchStream`].
pub type SharedWatchStream = BoxStream<'static, Result<WatchEvent<Arc<Value>>, ClientError>>;

impl WatchEvent<Value> {
    /// Reads one line of a watch response: `{"type": "ADDED", "object": {...}}`.
    pub fn from_json(line: &[u8]) -> Result<Self, ClientError> {
        let v: Value = serde_json::from_slice(line)
            .map_err(|e| ClientError::Decode(format!("watch event: {e}")))?;
        WatchEvent::from_value(v)
    }

    /// Reads a decoded watch event object.
    pub fn from_value(mut v: Value) -> Result<Self, ClientError> {
        let object = v.get_mut("object").map(Value::take).unwrap_or(Value::Null);
        match v.get("type").and_then(Value::as_str) {
            Some("ADDED") => Ok(WatchEvent::Added(object)),
            Some("MODIFIED") => Ok(WatchEvent::Modified(object)),
            Some("DELETED") => Ok(WatchEvent::Deleted(object)),
            Some("BOOKMARK") => Ok(WatchEvent::Bookmark(object)),
            Some("ERROR") => Ok(WatchEvent::Error(
                ApiError::from_status(&object)
                    .unwrap_or_else(|| ApiError::internal(&format!("watch error: {object}"))),
            )),
            other => Err(ClientError::Decode(format!(
                "watch event with type {other:?}"
            ))),
        }
    }

    /// Converts the object to a typed one.
    pub fn typed<K: DeserializeOwned>(self) -> Result<WatchEvent<K>, ClientError> {
        let conv = |v: Value| {
            serde_json::from_value::<K>(v).map_err(|e| ClientError::Decode(e.to_string()))
        };
        Ok(match self {
            WatchEvent::Added(v) => WatchEvent::Added(conv(v)?),
            WatchEvent::Modified(v) => WatchEvent::Modified(conv(v)?),
            WatchEvent::Deleted(v) => WatchEvent::Deleted(conv(v)?),
            WatchEvent::Bookmark(v) => WatchEvent::Bookmark(conv(v)?),
            WatchEvent::Error(e) => WatchEvent::Error(e),
        })
    }
}

impl WatchEvent<Arc<Value>> {
    /// Decodes the object into a `K` straight from the shared value (`&Value` is a serde
    /// deserializer), with no copy of the value first.
    pub fn decode<K: DeserializeOwned>(&self) -> Result<WatchEvent<K>, ClientError> {
        let conv = |v: &Value| K::deserialize(v).map_err(|e| ClientError::Decode(e.to_string()));
        Ok(match self {
            WatchEvent::Added(v) => WatchEvent::Added(conv(v)?),
            WatchEvent::Modified(v) => WatchEvent::Modified(conv(v)?),
            WatchEvent::Deleted(v) => WatchEvent::Deleted(conv(v)?),
            WatchEvent::Bookmark(v) => WatchEvent::Bookmark(conv(v)?),
            WatchEvent::Error(e) => WatchEvent::Error(e.clone()),
        })
    }
}

impl<K> WatchEvent<K> {
    /// The same event with its object turned by `f` (errors pass through).
    pub fn map<T>(self, f: impl FnOnce(K) -> T) -> WatchEvent<T> {
        match self {
            WatchEvent::Added(o) => WatchEvent::Added(f(o)),
            WatchEvent::Modified(o) => WatchEvent::Modified(f(o)),
            WatchEvent::Deleted(o) => WatchEvent::Deleted(f(o)),
            WatchEvent::Bookmark(o) => WatchEvent::Bookmark(f(o)),
            WatchEvent::Error(e) => WatchEvent::Error(e),
        }
    }

    /// The object of the event (`None` for errors).
    pub fn object(&self) -> Option<&K> {
        match self {
            WatchEvent::Added(o)
            | WatchEvent::Modified(o)
            | WatchEvent::Deleted(o)
            | WatchEvent::Bookmark(o) => Some(o),
            WatchEvent::Error(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_lines() {
        let e = WatchEvent::from_json(br#"{"type":"ADDED","object":{"kind":"Pod"}}"#).unwrap();
        assert_eq!(e, WatchEvent::Added(serde_json::json!({"kind": "Pod"})));
        let gone = ApiError::expired("too old resource version: 1 (5)");
        let line = serde_json::json!({"type": "ERROR", "object": gone.to_status()});
        match WatchEvent::from_value(line).unwrap() {
            WatchEvent::Error(e) => assert_eq!(e.code, 410),
            other => panic!("{other:?}"),
        }
        assert!(WatchEvent::from_json(b"{\"type\":\"NOPE\"}").is_err());
        assert!(WatchEvent::from_json(b"not json").is_err());
    }

    #[test]
    fn shared_events_decode_without_taking_the_value() {
        use k8s_openapi::api::core::v1::ConfigMap;
        let obj = Arc::new(serde_json::json!({"metadata": {"name": "a"}, "data": {"k": "v"}}));
        let event = WatchEvent::Modified(obj.clone());
        match event.decode::<ConfigMap>().unwrap() {
            WatchEvent::Modified(cm) => {
                assert_eq!(cm.metadata.name.as_deref(), Some("a"));
                assert_eq!(cm.data.unwrap()["k"], "v");
            }
            other => panic!("{other:?}"),
        }
        // The shared value is untouched and still shared.
        assert_eq!(obj["data"]["k"], "v");
        assert_eq!(Arc::strong_count(&obj), 2);
        // A malformed object is a decode error; errors pass through.
        let bad = WatchEvent::Added(Arc::new(serde_json::json!({"data": 5})));
        assert!(matches!(
            bad.decode::<ConfigMap>(),
            Err(ClientError::Decode(_))
        ));
        let gone = WatchEvent::<Arc<Value>>::Error(ApiError::expired("too old"));
        assert!(matches!(gone.decode::<ConfigMap>(), Ok(WatchEvent::Error(e)) if e.code == 410));
    }

    #[test]
    fn map_keeps_the_kind() {
        let e = WatchEvent::Bookmark(1).map(|n| n + 1);
        assert_eq!(e, WatchEvent::Bookmark(2));
        let err = WatchEvent::<i32>::Error(ApiError::expired("x")).map(|n| n + 1);
        assert!(matches!(err, WatchEvent::Error(e) if e.code == 410));
    }
}
