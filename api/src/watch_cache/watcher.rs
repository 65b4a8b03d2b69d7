//! One watcher: its initial events or backlog, then live events filtered by namespace
//! and selectors, bookmarks, and the end of the stream at its timeout.
//!
//! What a watcher sends is up to its [`WatchOutput`]: [`JsonLines`] (the HTTP body's
//! `{"type":..,"object":..}\n` lines, copied from the cache's pre-serialized bytes) or
//! any other form of the same events, such as the in-process client's decoded
//! `WatchEvent<Value>`s. The semantics (start point, 410, selectors, bookmarks,
//! timeout) are this module's alone, whatever the output.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use skiff_api::watch_cache::{JsonLines, WatchOutput};
//! let line = JsonLines::error(&skiff_core::status::ApiError::expired("too old"));
//! assert!(line.starts_with(b"{\"type\":\"ERROR\""));
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use skiff_core::status::ApiError;
use tokio::sync::{broadcast, mpsc};

use super::event::{event_line, event_line_json, CachedEvent, CachedObject, EventKind};
use super::WatchCache;
use crate::registry::ObjectFilter;
use crate::strategy::Strategy;

/// Where a watch starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartPoint {
    /// After this resourceVersion: events from the window, 410 if it is too old.
    After(i64),
    /// From the current state: an ADDED event per existing object, then changes. With
    /// `Some(rv)`, the cache first catches up to at least `rv`.
    Current(Option<i64>),
}

/// What a watcher sends.
#[derive(Clone)]
pub struct WatchOptions {
    /// Where to start.
    pub start: StartPoint,
    /// After the initial ADDED events, send a BOOKMARK annotated
    /// `k8s.io/initial-events-end` (`sendInitialEvents=true`).
    pub initial_events_end: bool,
    /// Send BOOKMARK events (`allowWatchBookmarks=true`).
    pub bookmarks: bool,
    /// End the stream after this long (`timeoutSeconds`).
    pub timeout: Duration,
    /// The key prefix watched (one namespace, or the whole resource).
    pub prefix: String,
    /// Label and field selectors.
    pub filter: ObjectFilter,
    /// The kind's strategy (field selector values).
    pub strategy: Arc<dyn Strategy>,
    /// `kind` of the objects (for BOOKMARK objects).
    pub kind: String,
    /// `apiVersion` of the objects (for BOOKMARK objects).
    pub api_version: String,
}

/// Events buffered between a watcher's task and its consumer (an HTTP body, an
/// in-process stream).
const BODY_BUFFER: usize = 64;

/// The form a watcher sends its events in. Each method builds one event; the watcher
/// decides which events are sent.
pub trait WatchOutput: Send + 'static {
    /// One event as sent.
    type Item: Send + 'static;

    /// An ADDED event for an object of the initial state.
    fn initial(object: &CachedObject) -> Self::Item;

    /// The event as the cache recorded it (its kind and object).
    fn cached(event: &CachedEvent) -> Self::Item;

    /// An event of another kind than the cache's for the event's object: `ADDED` when
    /// the object starts matching the selectors, `DELETED` when it stops.
    fn retyped(kind: EventKind, event: &CachedEvent) -> Self::Item;

    /// A BOOKMARK whose object is `object` (kind, apiVersion, resourceVersion).
    fn bookmark(object: serde_json::Value) -> Self::Item;

    /// The ERROR event carrying `err`'s `Status`.
    fn error(err: &ApiError) -> Self::Item;
}

/// The HTTP form: one JSON line per event, `{"type":..,"object":..}\n`, copied from
/// the cache's bytes when the event is the cache's own.
#[derive(Clone, Copy, Debug)]
pub struct JsonLines;

impl WatchOutput for JsonLines {
    type Item = Bytes;

    fn initial(object: &CachedObject) -> Bytes {
        event_line_json("ADDED", object.json())
    }

    fn cached(event: &CachedEvent) -> Bytes {
        event.line().clone()
    }

    fn retyped(kind: EventKind, event: &CachedEvent) -> Bytes {
        event_line(kind.wire_type(), &event.object)
    }

    fn bookmark(object: serde_json::Value) -> Bytes {
        event_line("BOOKMARK", &object)
    }

    fn error(err: &ApiError) -> Bytes {
        error_line(err)
    }
}

/// Starts a watcher sending JSON lines ([`serve_watch_as`] with [`JsonLines`]).
pub async fn serve_watch(cache: &WatchCache, opts: WatchOptions) -> mpsc::Receiver<Bytes> {
    serve_watch_as::<JsonLines>(cache, opts).await
}

/// Starts a watcher: returns the receiving end of its events, in `O`'s form. Errors
/// (such as 410 for a resourceVersion older than the window) are sent as one ERROR
/// event, as Kubernetes does for watches; then the stream ends.
pub async fn serve_watch_as<O: WatchOutput>(
    cache: &WatchCache,
    opts: WatchOptions,
) -> mpsc::Receiver<O::Item> {
    let (tx, rx) = mpsc::channel(BODY_BUFFER);
    let start = match opts.start {
        StartPoint::After(rv) => cache
            .since(rv)
            .map(|(backlog, events)| (Vec::new(), backlog, events, rv)),
        StartPoint::Current(wait) => {
            let caught_up = match wait {
                Some(rv) => cache.wait_for(rv, Duration::from_secs(3)).await,
                None => Ok(()),
            };
            caught_up.map(|()| {
                let snap = cache.snapshot(&opts.prefix);
                (snap.objects, Vec::new(), snap.events, snap.revision)
            })
        }
    };
    match start {
        Err(err) => {
            let _ = tx.try_send(O::error(&err));
        }
        Ok((initial, backlog, events, revision)) => {
            tokio::spawn(run::<O>(opts, tx, initial, backlog, events, revision));
        }
    }
    rx
}

/// The ERROR event carrying a `Status`.
pub fn error_line(err: &ApiError) -> Bytes {
    event_line("ERROR", &err.to_status())
}

async fn run<O: WatchOutput>(
    opts: WatchOptions,
    tx: mpsc::Sender<O::Item>,
    initial: Vec<CachedObject>,
    backlog: Vec<Arc<CachedEvent>>,
    mut events: broadcast::Receiver<Arc<CachedEvent>>,
    mut sent: i64,
) {
    let deadline = tokio::time::sleep(opts.timeout);
    tokio::pin!(deadline);
    let work = async {
        for obj in &initial {
            if opts.filter.is_empty() || opts.filter.matches(&obj.value, opts.strategy.as_ref()) {
                tx.send(O::initial(obj)).await.ok()?;
            }
        }
        if opts.initial_events_end {
            tx.send(O::bookmark(bookmark(&opts, sent, true)))
                .await
                .ok()?;
        }
        for event in backlog {
            if let Some(line) = line_for::<O>(&opts, &event, sent) {
                tx.send(line).await.ok()?;
            }
            sent = sent.max(event.revision);
        }
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(_))
                | Err(broadcast::error::RecvError::Closed) => return None::<()>,
            };
            match event.kind {
                EventKind::Reset => return None,
                EventKind::Progress => {
                    if opts.bookmarks && event.revision >= sent {
                        sent = event.revision;
                        tx.send(O::bookmark(bookmark(&opts, sent, false)))
                            .await
                            .ok()?;
                    }
                }
                _ => {
                    if let Some(line) = line_for::<O>(&opts, &event, sent) {
                        tx.send(line).await.ok()?;
                    }
                    sent = sent.max(event.revision);
                }
            }
        }
    };
    tokio::select! {
        _ = work => {}
        _ = &mut deadline => {}
        _ = tx.closed() => {}
    }
}

/// The event this watcher sends for `event`, if any: events at or before the watch's
/// revision, outside its namespace or matching its selectors neither before nor after
/// are skipped; an object that starts matching is ADDED, one that stops is DELETED.
fn line_for<O: WatchOutput>(
    opts: &WatchOptions,
    event: &CachedEvent,
    sent: i64,
) -> Option<O::Item> {
    if event.revision <= sent || !event.key.starts_with(&opts.prefix) {
        return None;
    }
    if opts.filter.is_empty() {
        return Some(O::cached(event));
    }
    let strategy = opts.strategy.as_ref();
    let now = opts.filter.matches(&event.object, strategy);
    match event.kind {
        EventKind::Added | EventKind::Deleted => now.then(|| O::cached(event)),
        EventKind::Modified => {
            let before = event
                .prev
                .as_ref()
                .is_some_and(|p| opts.filter.matches(p, strategy));
            match (before, now) {
                (true, true) => Some(O::cached(event)),
                (false, true) => Some(O::retyped(EventKind::Added, event)),
                (true, false) => Some(O::retyped(EventKind::Deleted, event)),
                (false, false) => None,
            }
        }
        EventKind::Progress | EventKind::Reset => None,
    }
}

/// The object of a BOOKMARK event at `revision`.
fn bookmark(opts: &WatchOptions, revision: i64, initial_events_end: bool) -> serde_json::Value {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if initial_events_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": opts.kind, "apiVersion": opts.api_version, "metadata": metadata})
}
