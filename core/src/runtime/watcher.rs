//! [`watcher`]: a stream of the changes to a collection that survives dropped
//! connections, expired resourceVersions and server errors.
//!
//! The watcher lists the collection (page by page), then watches from the list's
//! resourceVersion. Its events say what a cache needs to mirror the collection:
//! [`Event::Init`], one [`Event::InitApply`] per listed object and [`Event::InitDone`]
//! for a (re-)list, then [`Event::Apply`] and [`Event::Delete`] as objects change.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use futures::StreamExt;
//! use k8s_openapi::api::core::v1::Pod;
//! use skiff_core::client::{ObjectTarget, ResourceRef};
//! use skiff_core::runtime::watcher::{self, Event};
//!
//! let pods = ObjectTarget::collection(&ResourceRef::of::<Pod>(), Some("default"));
//! let mut events = watcher::watcher::<Pod>(client, pods, watcher::Config::default().labels("app=web"));
//! while let Some(event) = events.next().await {
//!     match event {
//!         Ok(Event::Apply(pod) | Event::InitApply(pod)) => println!("{:?}", pod.metadata.name),
//!         Ok(_) => {}
//!         Err(e) => eprintln!("watch failed, retrying with back-off: {e}"),
//!     }
//! }
//! # }
//! ```
//!
//! # Recovery
//! - A watch stream that ends (server timeout, dropped connection) is restarted from
//!   the last resourceVersion seen (including bookmarks); nothing is re-listed.
//! - A `410 Gone` (the resourceVersion left the server's window), on the watch or on a
//!   list's continue token, starts over with a list: `Init ... InitDone` again, so a
//!   reflector replaces its whole state and forgets objects deleted meanwhile.
//! - Any other error is yielded as `Err` and the failed step is retried after an
//!   exponential back-off ([`Config::backoff`]), reset by the next success.
//! - An object that does not decode as `K` is skipped with a warning; the watch goes on.
//!
//! # Cost
//! Watches go through [`Client::watch_shared`]: each object is decoded into `K`
//! straight from the client's shared `Arc<Value>` (with the in-process client, the
//! API server's watch-cache entry itself), so nothing is copied or freed before the
//! typed object exists. Listed items are owned and decoded by moving their strings.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::stream::BoxStream;
use futures::StreamExt;
use serde_json::Value;

use super::object::Object;
use super::Backoff;
use crate::client::{Client, ClientError, ListParams, ObjectTarget, SharedWatchStream, WatchEvent};
use crate::status::ApiError;

/// What changed in the watched collection.
#[derive(Clone, Debug, PartialEq)]
pub enum Event<K> {
    /// An object was created or changed.
    Apply(K),
    /// An object was deleted (its last state).
    Delete(K),
    /// A (re-)list starts: the objects that follow replace everything known.
    Init,
    /// An object of the (re-)list.
    InitApply(K),
    /// The (re-)list is complete.
    InitDone,
}

impl<K> Event<K> {
    /// The object the event carries, if any.
    pub fn object(&self) -> Option<&K> {
        match self {
            Event::Apply(o) | Event::Delete(o) | Event::InitApply(o) => Some(o),
            Event::Init | Event::InitDone => None,
        }
    }
}

/// What a step of the watcher failed with. The watcher retries after each.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Listing a page failed.
    #[error("the initial list failed: {0}")]
    InitialListFailed(#[source] ClientError),
    /// Opening the watch failed.
    #[error("starting the watch failed: {0}")]
    WatchStartFailed(#[source] ClientError),
    /// The watch stream failed (connection, decoding).
    #[error("the watch stream failed: {0}")]
    WatchFailed(#[source] ClientError),
    /// The server ended the watch with an error `Status` (410 Gone restarts with a list).
    #[error("the watch ended with an error: {0}")]
    WatchError(ApiError),
}

/// How the initial state is fetched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InitialListStrategy {
    /// A paginated list, then a watch from its resourceVersion.
    #[default]
    ListWatch,
    /// One watch with `sendInitialEvents=true` (a streaming list): the current objects
    /// arrive as ADDED events up to the bookmark annotated `k8s.io/initial-events-end`.
    StreamingList,
}

/// Options of a [`watcher`].
#[derive(Clone, Debug)]
#[must_use]
pub struct Config {
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
    /// Objects per list page (0: no pagination).
    pub page_size: u32,
    /// The server-side timeout of each watch request; the watcher then re-watches.
    pub timeout_seconds: Option<u32>,
    /// Ask for bookmarks (cheaper resumption).
    pub bookmarks: bool,
    /// List-then-watch or a streaming list.
    pub initial_list_strategy: InitialListStrategy,
    /// Back-off between failed steps.
    pub backoff: Backoff,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            label_selector: None,
            field_selector: None,
            page_size: 500,
            timeout_seconds: Some(290),
            bookmarks: true,
            initial_list_strategy: InitialListStrategy::ListWatch,
            backoff: Backoff::default(),
        }
    }
}

impl Config {
    /// Only objects whose labels match `selector`.
    pub fn labels(mut self, selector: &str) -> Self {
        self.label_selector = Some(selector.to_owned());
        self
    }

    /// Only objects whose fields match `selector`.
    pub fn fields(mut self, selector: &str) -> Self {
        self.field_selector = Some(selector.to_owned());
        self
    }

    /// List pages of `size` objects (0: one page).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size;
        self
    }

    /// Use a streaming list instead of list-then-watch.
    pub fn streaming_lists(mut self) -> Self {
        self.initial_list_strategy = InitialListStrategy::StreamingList;
        self
    }

    /// The back-off between failed steps.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The server-side timeout of each watch request.
    pub fn timeout(mut self, seconds: u32) -> Self {
        self.timeout_seconds = Some(seconds);
        self
    }

    fn list_params(&self) -> ListParams {
        ListParams {
            label_selector: self.label_selector.clone(),
            field_selector: self.field_selector.clone(),
            limit: self.page_size,
            ..ListParams::default()
        }
    }

    fn watch_params(&self, resource_version: &str) -> ListParams {
        ListParams {
            label_selector: self.label_selector.clone(),
            field_selector: self.field_selector.clone(),
            resource_version: Some(resource_version.to_owned()),
            timeout_seconds: self.timeout_seconds,
            bookmarks: self.bookmarks,
            ..ListParams::default()
        }
    }
}

/// Where the watcher is. Advanced only by [`step`].
enum State<K> {
    /// Nothing known: the next step emits `Init` and starts a list.
    Empty,
    /// Listing: objects of the last page still to emit, and where the next page starts.
    InitPage {
        continue_token: Option<String>,
        objects: VecDeque<K>,
        /// The list's resourceVersion once a page has been read.
        list_version: Option<String>,
    },
    /// Streaming list in progress.
    InitialWatch { stream: SharedWatchStream },
    /// Listed (or a watch ended): the next step opens a watch from here.
    InitListed { resource_version: String },
    /// Watching.
    Watching {
        resource_version: String,
        stream: SharedWatchStream,
    },
}

/// The parts a step needs.
struct Source {
    client: Arc<dyn Client>,
    target: ObjectTarget,
    config: Config,
}

/// Decodes an object the watcher owns (a listed item), logging and skipping one that
/// is malformed.
fn decode<K: Object>(v: Value) -> Option<K> {
    skip_malformed(serde_json::from_value::<K>(v))
}

/// Decodes a watched object straight from the shared value (no copy of it first),
/// logging and skipping one that is malformed.
fn decode_shared<K: Object>(v: &Value) -> Option<K> {
    skip_malformed(K::deserialize(v))
}

fn skip_malformed<K>(decoded: Result<K, serde_json::Error>) -> Option<K> {
    match decoded {
        Ok(k) => Some(k),
        Err(e) => {
            tracing::warn!(error = %e, "skipping an object that does not decode");
            None
        }
    }
}

fn bookmark_version(obj: &Value) -> Option<String> {
    // Field by field: `pointer` parses its path on every event.
    obj.get("metadata")
        .and_then(|m| m.get("resourceVersion"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn is_initial_events_end(obj: &Value) -> bool {
    obj.pointer("/metadata/annotations/k8s.io~1initial-events-end")
        .and_then(Value::as_str)
        == Some("true")
}

/// Advances the state by one step. `None` as the event means "nothing to report, step
/// again".
async fn step<K: Object>(
    src: &Source,
    state: State<K>,
) -> (Option<Result<Event<K>, Error>>, State<K>) {
    match state {
        State::Empty => match src.config.initial_list_strategy {
            InitialListStrategy::ListWatch => (
                Some(Ok(Event::Init)),
                State::InitPage {
                    continue_token: None,
                    objects: VecDeque::new(),
                    list_version: None,
                },
            ),
            InitialListStrategy::StreamingList => {
                let mut params = src.config.watch_params("");
                params.resource_version = None;
                params.resource_version_match = Some("NotOlderThan".to_owned());
                params.send_initial_events = true;
                params.bookmarks = true;
                match src.client.watch_shared(&src.target, &params).await {
                    Ok(stream) => (Some(Ok(Event::Init)), State::InitialWatch { stream }),
                    Err(e) => (Some(Err(Error::WatchStartFailed(e))), State::Empty),
                }
            }
        },
        State::InitPage {
            continue_token,
            mut objects,
            list_version,
        } => {
            if let Some(obj) = objects.pop_front() {
                let next = State::InitPage {
                    continue_token,
                    objects,
                    list_version,
                };
                return (Some(Ok(Event::InitApply(obj))), next);
            }
            if let (Some(rv), None) = (&list_version, &continue_token) {
                return (
                    Some(Ok(Event::InitDone)),
                    State::InitListed {
                        resource_version: rv.clone(),
                    },
                );
            }
            let mut params = src.config.list_params();
            params.continue_token = continue_token.clone();
            match src.client.list(&src.target, &params).await {
                Ok(mut list) => {
                    let items = match list.get_mut("items").map(Value::take) {
                        Some(Value::Array(items)) => items,
                        _ => Vec::new(),
                    };
                    let rv = list
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        .unwrap_or("0")
                        .to_owned();
                    let cont = list
                        .pointer("/metadata/continue")
                        .and_then(Value::as_str)
                        .filter(|c| !c.is_empty())
                        .map(str::to_owned);
                    let objects = items.into_iter().filter_map(decode::<K>).collect();
                    let next = State::InitPage {
                        continue_token: cont,
                        objects,
                        list_version: Some(rv),
                    };
                    (None, next)
                }
                // An expired continue token: start the list over.
                Err(e) if e.is_gone() => (Some(Err(Error::InitialListFailed(e))), State::Empty),
                Err(e) => {
                    let same = State::InitPage {
                        continue_token,
                        objects,
                        list_version,
                    };
                    (Some(Err(Error::InitialListFailed(e))), same)
                }
            }
        }
        State::InitialWatch { mut stream } => match stream.next().await {
            Some(Ok(WatchEvent::Added(o) | WatchEvent::Modified(o))) => {
                let event = decode_shared::<K>(&o).map(|k| Ok(Event::InitApply(k)));
                (event, State::InitialWatch { stream })
            }
            Some(Ok(WatchEvent::Deleted(_))) => (None, State::InitialWatch { stream }),
            Some(Ok(WatchEvent::Bookmark(o))) => {
                match (is_initial_events_end(&o), bookmark_version(&o)) {
                    (true, Some(rv)) => (
                        Some(Ok(Event::InitDone)),
                        State::Watching {
                            resource_version: rv,
                            stream,
                        },
                    ),
                    _ => (None, State::InitialWatch { stream }),
                }
            }
            Some(Ok(WatchEvent::Error(e))) => (Some(Err(Error::WatchError(e))), State::Empty),
            Some(Err(e)) => (Some(Err(Error::WatchFailed(e))), State::Empty),
            None => (None, State::Empty),
        },
        State::InitListed { resource_version } => {
            let params = src.config.watch_params(&resource_version);
            match src.client.watch_shared(&src.target, &params).await {
                Ok(stream) => (
                    None,
                    State::Watching {
                        resource_version,
                        stream,
                    },
                ),
                Err(e) if e.is_gone() => (Some(Err(Error::WatchStartFailed(e))), State::Empty),
                Err(e) => (
                    Some(Err(Error::WatchStartFailed(e))),
                    State::InitListed { resource_version },
                ),
            }
        }
        State::Watching {
            resource_version,
            mut stream,
        } => {
            let (event, rv) = match stream.next().await {
                Some(Ok(WatchEvent::Added(o) | WatchEvent::Modified(o))) => {
                    let rv = bookmark_version(&o).unwrap_or(resource_version);
                    (decode_shared::<K>(&o).map(|k| Ok(Event::Apply(k))), rv)
                }
                Some(Ok(WatchEvent::Deleted(o))) => {
                    let rv = bookmark_version(&o).unwrap_or(resource_version);
                    (decode_shared::<K>(&o).map(|k| Ok(Event::Delete(k))), rv)
                }
                Some(Ok(WatchEvent::Bookmark(o))) => {
                    (None, bookmark_version(&o).unwrap_or(resource_version))
                }
                Some(Ok(WatchEvent::Error(e))) => {
                    let next = if e.code == 410 {
                        State::Empty
                    } else {
                        State::InitListed { resource_version }
                    };
                    return (Some(Err(Error::WatchError(e))), next);
                }
                Some(Err(e)) => {
                    return (
                        Some(Err(Error::WatchFailed(e))),
                        State::InitListed { resource_version },
                    )
                }
                None => return (None, State::InitListed { resource_version }),
            };
            (
                event,
                State::Watching {
                    resource_version: rv,
                    stream,
                },
            )
        }
    }
}

/// Watches `target` (a collection, in one namespace or all) and yields its changes
/// forever, recovering as the module docs describe. Errors are yielded, not fatal.
pub fn watcher<K: Object>(
    client: Arc<dyn Client>,
    target: ObjectTarget,
    config: Config,
) -> BoxStream<'static, Result<Event<K>, Error>> {
    let src = Arc::new(Source {
        client,
        target,
        config,
    });
    let init = (State::<K>::Empty, 0u32);
    futures::stream::unfold(init, move |(mut state, mut failures)| {
        let src = src.clone();
        async move {
            loop {
                if failures > 0 {
                    tokio::time::sleep(src.config.backoff.delay(failures - 1)).await;
                }
                let (event, next) = step(&src, state).await;
                state = next;
                match event {
                    None => failures = 0,
                    Some(Ok(e)) => return Some((Ok(e), (state, 0))),
                    Some(Err(e)) => {
                        failures = failures.saturating_add(1);
                        return Some((Err(e), (state, failures)));
                    }
                }
            }
        }
    })
    .boxed()
}

/// Drops the errors of a watcher stream (they are retried anyway), logging them.
pub fn ignore_errors<K: Send + 'static>(
    stream: BoxStream<'static, Result<Event<K>, Error>>,
) -> BoxStream<'static, Event<K>> {
    stream
        .filter_map(|r| async move {
            match r {
                Ok(e) => Some(e),
                Err(e) => {
                    tracing::warn!(error = %e, "watcher error; retrying");
                    None
                }
            }
        })
        .boxed()
}
