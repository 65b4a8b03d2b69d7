//! The watch cache's events as the in-process client's `WatchEvent<Value>`s: each
//! event's object is the cache's decoded value, copied, never serialized.

use serde_json::Value;
use skiff_core::client::{ClientError, WatchEvent};
use skiff_core::status::ApiError;

use crate::watch_cache::{CachedEvent, CachedObject, EventKind, WatchOutput};

/// [`WatchOutput`] of decoded events.
#[derive(Clone, Copy, Debug)]
pub struct ValueEvents;

fn event(kind: EventKind, object: Value) -> Result<WatchEvent, ClientError> {
    Ok(match kind {
        EventKind::Added => WatchEvent::Added(object),
        EventKind::Modified => WatchEvent::Modified(object),
        EventKind::Deleted => WatchEvent::Deleted(object),
        EventKind::Progress => WatchEvent::Bookmark(object),
        // A watcher ends at a reset rather than sending it; should one be sent, it is
        // what a client would make of it: the watch must start again.
        EventKind::Reset => WatchEvent::Error(ApiError::expired(
            "the watch cache was reset; start again with a list",
        )),
    })
}

impl WatchOutput for ValueEvents {
    type Item = Result<WatchEvent, ClientError>;

    fn initial(object: &CachedObject) -> Self::Item {
        Ok(WatchEvent::Added((*object.value).clone()))
    }

    fn cached(e: &CachedEvent) -> Self::Item {
        event(e.kind, (*e.object).clone())
    }

    fn retyped(kind: EventKind, e: &CachedEvent) -> Self::Item {
        event(kind, (*e.object).clone())
    }

    fn bookmark(object: Value) -> Self::Item {
        Ok(WatchEvent::Bookmark(object))
    }

    fn error(err: &ApiError) -> Self::Item {
        Ok(WatchEvent::Error(err.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_keep_their_kind_and_object() {
        let obj = CachedObject::new(json!({"kind": "Pod"}));
        assert_eq!(
            ValueEvents::initial(&obj).unwrap(),
            WatchEvent::Added(json!({"kind": "Pod"}))
        );
        match ValueEvents::error(&ApiError::expired("too old")).unwrap() {
            WatchEvent::Error(e) => assert_eq!(e.code, 410),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            event(EventKind::Deleted, json!({})).unwrap(),
            WatchEvent::Deleted(json!({}))
        );
    }
}
