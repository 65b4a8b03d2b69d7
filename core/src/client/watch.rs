//! [`WatchEvent`]: one event of a watch stream, as the API server sends it.

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

impl<K> WatchEvent<K> {
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
}
