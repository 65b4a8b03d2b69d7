//! The watch cache's events as the in-process client's watch events: [`ValueEvents`]
//! (`WatchEvent<Value>`, each object the cache's decoded value, copied, never
//! serialized) for `watch`, and [`SharedEvents`] (`WatchEvent<Arc<Value>>`, each
//! object the cache's own `Arc`, not copied) for `watch_shared`.

use std::sync::Arc;

use serde_json::Value;
use skiff_core::client::{ClientError, WatchEvent};
use skiff_core::status::ApiError;

use crate::watch_cache::{CachedEvent, CachedObject, EventKind, WatchOutput};

/// [`WatchOutput`] of decoded events, each object a copy of the cache's.
#[derive(Clone, Copy, Debug)]
pub struct ValueEvents;

/// [`WatchOutput`] of decoded events, each object the cache's own `Arc` (shared with
/// the cache and every other watcher; never mutated through it).
#[derive(Clone, Copy, Debug)]
pub struct SharedEvents;

/// The event of `kind` carrying `object`.
fn event<O>(kind: EventKind, object: O) -> WatchEvent<O> {
    match kind {
        EventKind::Added => WatchEvent::Added(object),
        EventKind::Modified => WatchEvent::Modified(object),
        EventKind::Deleted => WatchEvent::Deleted(object),
        EventKind::Progress => WatchEvent::Bookmark(object),
        // A watcher ends at a reset rather than sending it; should one be sent, it is
        // what a client would make of it: the watch must start again.
        EventKind::Reset => WatchEvent::Error(ApiError::expired(
            "the watch cache was reset; start again with a list",
        )),
    }
}

impl WatchOutput for ValueEvents {
    type Item = Result<WatchEvent, ClientError>;

    fn initial(object: &CachedObject) -> Self::Item {
        Ok(WatchEvent::Added((*object.value).clone()))
    }

    fn cached(e: &CachedEvent) -> Self::Item {
        Ok(event(e.kind, (*e.object).clone()))
    }

    fn retyped(kind: EventKind, e: &CachedEvent) -> Self::Item {
        Ok(event(kind, (*e.object).clone()))
    }

    fn bookmark(object: Value) -> Self::Item {
        Ok(WatchEvent::Bookmark(object))
    }

    fn error(err: &ApiError) -> Self::Item {
        Ok(WatchEvent::Error(err.clone()))
    }
}

impl WatchOutput for SharedEvents {
    type Item = Result<WatchEvent<Arc<Value>>, ClientError>;

    fn initial(object: &CachedObject) -> Self::Item {
        Ok(WatchEvent::Added(object.value.clone()))
    }

    fn cached(e: &CachedEvent) -> Self::Item {
        Ok(event(e.kind, e.object.clone()))
    }

    fn retyped(kind: EventKind, e: &CachedEvent) -> Self::Item {
        Ok(event(kind, e.object.clone()))
    }

    fn bookmark(object: Value) -> Self::Item {
        Ok(WatchEvent::Bookmark(Arc::new(object)))
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
            event(EventKind::Deleted, json!({})),
            WatchEvent::Deleted(json!({}))
        );
        assert!(matches!(
            event(EventKind::Reset, json!({})),
            WatchEvent::Error(e) if e.code == 410
        ));
    }

    #[test]
    fn shared_events_hand_out_the_cached_value() {
        let obj = CachedObject::new(json!({"kind": "Pod"}));
        match SharedEvents::initial(&obj).unwrap() {
            WatchEvent::Added(v) => assert!(Arc::ptr_eq(&v, &obj.value)),
            other => panic!("{other:?}"),
        }
        match SharedEvents::bookmark(json!({"kind": "Pod"})).unwrap() {
            WatchEvent::Bookmark(v) => assert_eq!(*v, json!({"kind": "Pod"})),
            other => panic!("{other:?}"),
        }
        match SharedEvents::error(&ApiError::expired("too old")).unwrap() {
            WatchEvent::Error(e) => assert_eq!(e.code, 410),
            other => panic!("{other:?}"),
        }
    }
}
