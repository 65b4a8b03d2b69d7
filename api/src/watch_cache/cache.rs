//! The cache of one resource: current objects, the window of recent events, and the
//! task that keeps them up to date from one store watch.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use skiff_core::status::ApiError;
use skiff_store::{EventType, KeyRange, KvStore, RangeRequest, WatchRequest};
use tokio::sync::{broadcast, watch, Notify};

use super::event::{CachedEvent, CachedObject, EventKind};
use super::offers::Offers;
use super::pages::{ListSnapshot, PageSnapshots};

/// How many list snapshots a cache keeps for continue tokens, and for how long.
const PAGE_SNAPSHOTS: usize = 32;
const PAGE_SNAPSHOT_TTL: Duration = Duration::from_secs(60);
use crate::registry::{api_error, decode_object, meta};

/// Sizes and intervals of a watch cache.
#[derive(Clone, Debug)]
pub struct WatchCacheConfig {
    /// The most events kept for watches that start from a past resourceVersion.
    pub window: usize,
    /// Events kept whatever their age; between this and [`WatchCacheConfig::window`],
    /// events are kept while younger than [`WatchCacheConfig::window_ttl`]. As
    /// Kubernetes' cacher sizes its window: a watcher cut for being slow (see
    /// `broadcast_buffer`) resumes from the window instead of re-listing, as long as
    /// it re-watches within the TTL.
    pub window_min: usize,
    /// How long events beyond `window_min` are kept.
    pub window_ttl: Duration,
    /// Events buffered per watcher before a slow watcher is ended.
    pub broadcast_buffer: usize,
    /// How often the cache asks the store for progress (drives BOOKMARK events).
    pub progress_interval: Duration,
}

impl Default for WatchCacheConfig {
    fn default() -> Self {
        WatchCacheConfig {
            window: 100 * 1024,
            window_min: 4096,
            window_ttl: Duration::from_secs(75),
            broadcast_buffer: 4096,
            progress_interval: Duration::from_secs(30),
        }
    }
}

/// What the lock guards: everything a watcher must see consistently.
#[derive(Default)]
struct CacheState {
    /// Current objects by store key.
    objects: BTreeMap<String, CachedObject>,
    /// Recent events, oldest first.
    window: VecDeque<Arc<CachedEvent>>,
    /// When each event of `window` entered it (same order and length).
    window_times: VecDeque<Instant>,
    /// Watches from a resourceVersion at or above this are served from the window.
    window_start: i64,
    /// Every change up to this revision has been applied.
    revision: i64,
}

struct Shared {
    /// Guards the state; held only to apply a batch or take a snapshot, never across
    /// an await. The broadcast is sent to while holding it.
    state: Mutex<CacheState>,
    events: broadcast::Sender<Arc<CachedEvent>>,
    /// The applied revision, for waiting until the cache has caught up.
    revision: watch::Sender<i64>,
    /// Asks the task for a store progress notification now.
    progress_now: Notify,
    /// Snapshots kept for the later pages of paginated lists.
    pages: PageSnapshots,
    config: WatchCacheConfig,
    /// The `apiVersion` every object is served with, when the stored objects may carry
    /// another (the versions of a custom resource share one storage location).
    api_version: Option<String>,
    /// Objects their writers hand over, taken instead of decoding the store's bytes.
    offers: Arc<Offers>,
}

impl Shared {
    /// A stored object as this cache serves it.
    fn decode(&self, kv: &skiff_store::KeyValue) -> Result<Value, ApiError> {
        Ok(self.served(decode_object(kv)?))
    }

    /// `obj` with the `apiVersion` this cache serves.
    fn served(&self, mut obj: Value) -> Value {
        if let (Some(v), Some(map)) = (&self.api_version, obj.as_object_mut()) {
            map.insert("apiVersion".into(), Value::String(v.clone()));
        }
        obj
    }

    /// The object the store holds as `kv`: the one its writer offered, or else the
    /// store's bytes decoded.
    fn take_or_decode(&self, key: &str, kv: &skiff_store::KeyValue) -> Result<Value, ApiError> {
        match self.offers.take(key, &kv.value) {
            Some(mut obj) => {
                meta::set_meta_str(&mut obj, "resourceVersion", &kv.mod_revision.to_string());
                Ok(self.served(obj))
            }
            None => self.decode(kv),
        }
    }
}

/// The watch cache of one resource. Cheap to clone; the task stops when every clone
/// is dropped.
#[derive(Clone)]
pub struct WatchCache {
    shared: Arc<Shared>,
    _task: Arc<TaskGuard>,
}

struct TaskGuard(tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for WatchCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchCache").finish_non_exhaustive()
    }
}

/// A subscription to a cache's events.
pub type EventReceiver = broadcast::Receiver<Arc<CachedEvent>>;

/// A consistent view of the cache for starting a watch or serving a list.
pub struct Snapshot {
    /// The revision of the view.
    pub revision: i64,
    /// The objects under the requested prefix, in key order.
    pub objects: Vec<CachedObject>,
    /// Events after `revision`.
    pub events: broadcast::Receiver<Arc<CachedEvent>>,
}

impl WatchCache {
    /// Lists `prefix` and starts following it. Fails if the store cannot be read.
    pub async fn start(
        store: Arc<dyn KvStore>,
        prefix: String,
        config: WatchCacheConfig,
    ) -> Result<WatchCache, ApiError> {
        Self::start_as(store, prefix, config, None).await
    }

    /// Like [`start`](Self::start), serving every object with `api_version` (when
    /// given) whatever version it was stored in.
    pub async fn start_as(
        store: Arc<dyn KvStore>,
        prefix: String,
        config: WatchCacheConfig,
        api_version: Option<String>,
    ) -> Result<WatchCache, ApiError> {
        let (events, _) = broadcast::channel(config.broadcast_buffer.max(16));
        let (revision, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            state: Mutex::new(CacheState::default()),
            events,
            revision,
            progress_now: Notify::new(),
            pages: PageSnapshots::new(PAGE_SNAPSHOTS, PAGE_SNAPSHOT_TTL),
            config,
            api_version,
            offers: Arc::default(),
        });
        let start = relist(&store, &prefix, &shared).await?;
        let task = tokio::spawn(run(store, prefix, shared.clone(), start));
        Ok(WatchCache {
            shared,
            _task: Arc::new(TaskGuard(task)),
        })
    }

    /// The revision every change up to which has been applied.
    pub fn revision(&self) -> i64 {
        *self.shared.revision.borrow()
    }

    /// Waits until the cache has applied `revision` (asking the store for progress
    /// so a quiet resource catches up too); 504 after `timeout`.
    pub async fn wait_for(&self, revision: i64, timeout: Duration) -> Result<(), ApiError> {
        let mut rx = self.shared.revision.subscribe();
        let wait = async {
            loop {
                if *rx.borrow_and_update() >= revision {
                    return true;
                }
                self.shared.progress_now.notify_one();
                if rx.changed().await.is_err() {
                    return false;
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(true) => Ok(()),
            _ => Err(ApiError::timeout(&format!(
                "Too large resource version: {revision}, current: {}",
                self.revision()
            ))),
        }
    }

    /// The current object under `key`, if the cache has one.
    pub fn current(&self, key: &str) -> Option<Arc<Value>> {
        lock(&self.shared.state)
            .objects
            .get(key)
            .map(|o| o.value.clone())
    }

    /// Where this cache's writers offer the objects they store (see [`Offers`]).
    pub fn offers(&self) -> Arc<Offers> {
        self.shared.offers.clone()
    }

    /// The current objects under `prefix` with their keys, for a list.
    pub fn list_snapshot(&self, prefix: &str) -> Arc<ListSnapshot> {
        let state = lock(&self.shared.state);
        let entries = state
            .objects
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Arc::new(ListSnapshot {
            prefix: prefix.to_owned(),
            revision: state.revision,
            entries,
        })
    }

    /// Snapshots kept for the later pages of paginated lists.
    pub fn pages(&self) -> &PageSnapshots {
        &self.shared.pages
    }

    /// The current objects under `prefix` and a subscription to what follows.
    pub fn snapshot(&self, prefix: &str) -> Snapshot {
        let state = lock(&self.shared.state);
        let objects = state
            .objects
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .collect();
        Snapshot {
            revision: state.revision,
            objects,
            events: self.shared.events.subscribe(),
        }
    }

    /// The events after `revision` still in the window, and a subscription to what
    /// follows; 410 `Expired` when the window no longer reaches back to `revision`.
    pub fn since(&self, revision: i64) -> Result<(Vec<Arc<CachedEvent>>, EventReceiver), ApiError> {
        let state = lock(&self.shared.state);
        if revision < state.window_start {
            return Err(ApiError::expired(format!(
                "too old resource version: {revision} ({})",
                state.window_start
            )));
        }
        let backlog = state
            .window
            .iter()
            .filter(|e| e.revision > revision)
            .cloned()
            .collect();
        Ok((backlog, self.shared.events.subscribe()))
    }

    /// Ends every current watch (their streams close; clients re-watch or give up),
    /// as when the resource stops being served.
    pub fn close_watches(&self) {
        let state = lock(&self.shared.state);
        let _ = self
            .shared
            .events
            .send(Arc::new(CachedEvent::reset(state.revision)));
    }

    /// How many watchers are subscribed.
    pub fn watchers(&self) -> usize {
        self.shared.events.receiver_count()
    }
}

fn lock(m: &Mutex<CacheState>) -> std::sync::MutexGuard<'_, CacheState> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads every object under `prefix` into the state, resets the window, and returns the
/// revision read at.
async fn relist(store: &Arc<dyn KvStore>, prefix: &str, shared: &Shared) -> Result<i64, ApiError> {
    let resp = store
        .range(RangeRequest {
            range: KeyRange::prefix(prefix.to_owned()),
            ..Default::default()
        })
        .await
        .map_err(api_error)?;
    let mut objects = BTreeMap::new();
    for kv in &resp.kvs {
        objects.insert(
            String::from_utf8_lossy(&kv.key).into_owned(),
            CachedObject::new(shared.decode(kv)?),
        );
    }
    let revision = resp.header.revision;
    let mut state = lock(&shared.state);
    let was_running = state.revision > 0;
    *state = CacheState {
        objects,
        window: VecDeque::new(),
        window_times: VecDeque::new(),
        window_start: revision,
        revision,
    };
    if was_running {
        let _ = shared.events.send(Arc::new(CachedEvent::reset(revision)));
    }
    drop(state);
    shared.revision.send_replace(revision);
    Ok(revision)
}

/// The cache's task: follow the store from `revision`, re-listing if the watch fails.
async fn run(store: Arc<dyn KvStore>, prefix: String, shared: Arc<Shared>, mut revision: i64) {
    loop {
        let watch = store
            .watch(WatchRequest {
                range: KeyRange::prefix(prefix.clone()),
                start_revision: revision + 1,
                progress_notify: true,
                ..Default::default()
            })
            .await;
        if let Ok(mut stream) = watch {
            let mut ticker = tokio::time::interval(shared.config.progress_interval);
            ticker.tick().await;
            loop {
                tokio::select! {
                    batch = stream.next() => match batch {
                        Some(Ok(batch)) => {
                            if let Some(r) = apply(&shared, batch) {
                                revision = r;
                            }
                        }
                        Some(Err(err)) => {
                            tracing::warn!(prefix, %err, "watch cache lost its store watch; re-listing");
                            break;
                        }
                        None => return,
                    },
                    _ = ticker.tick() => stream.request_progress(),
                    _ = shared.progress_now.notified() => stream.request_progress(),
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        match relist(&store, &prefix, &shared).await {
            Ok(r) => revision = r,
            Err(err) => tracing::warn!(prefix, %err, "watch cache re-list failed"),
        }
    }
}

/// Drops the oldest events beyond the window's bounds: more than `window`, or more
/// than `window_min` and older than `window_ttl`.
fn trim_window(state: &mut CacheState, config: &WatchCacheConfig, now: Instant) {
    loop {
        let len = state.window.len();
        let stale = len > config.window_min
            && state
                .window_times
                .front()
                .is_some_and(|at| now.saturating_duration_since(*at) > config.window_ttl);
        if len <= config.window && !stale {
            return;
        }
        state.window_times.pop_front();
        match state.window.pop_front() {
            Some(old) => state.window_start = old.revision,
            None => return,
        }
    }
}

/// Applies one store batch; returns the revision now applied.
fn apply(shared: &Shared, batch: skiff_store::WatchResponse) -> Option<i64> {
    let now = Instant::now();
    let mut state = lock(&shared.state);
    if batch.events.is_empty() {
        let revision = batch.header.revision.max(state.revision);
        state.revision = revision;
        let _ = shared
            .events
            .send(Arc::new(CachedEvent::progress(revision)));
        drop(state);
        shared.revision.send_replace(revision);
        return Some(revision);
    }
    for event in batch.events {
        let key = String::from_utf8_lossy(&event.kv.key).into_owned();
        let revision = event.kv.mod_revision;
        let cached = match event.kind {
            EventType::Put => {
                let object = match shared.take_or_decode(&key, &event.kv) {
                    Ok(o) => CachedObject::new(o),
                    Err(err) => {
                        tracing::warn!(key, %err, "watch cache skipped an undecodable object");
                        continue;
                    }
                };
                let prev = state.objects.insert(key.clone(), object.clone());
                let kind = if prev.is_some() {
                    EventKind::Modified
                } else {
                    EventKind::Added
                };
                CachedEvent::new(kind, revision, key, &object, prev.map(|p| p.value))
            }
            EventType::Delete => {
                let Some(prev) = state.objects.remove(&key) else {
                    continue;
                };
                let mut last = (*prev.value).clone();
                meta::set_meta_str(&mut last, "resourceVersion", &revision.to_string());
                let object = CachedObject::new(last);
                CachedEvent::new(EventKind::Deleted, revision, key, &object, Some(prev.value))
            }
        };
        let cached = Arc::new(cached);
        state.window.push_back(cached.clone());
        state.window_times.push_back(now);
        trim_window(&mut state, &shared.config, now);
        state.revision = state.revision.max(revision);
        let _ = shared.events.send(cached);
    }
    let revision = state.revision;
    drop(state);
    shared.revision.send_replace(revision);
    Some(revision)
}

#[cfg(test)]
mod window_tests {
    use super::*;

    fn state_with(times: &[Instant]) -> CacheState {
        let mut state = CacheState::default();
        for (i, at) in times.iter().enumerate() {
            state
                .window
                .push_back(Arc::new(CachedEvent::progress(i as i64 + 1)));
            state.window_times.push_back(*at);
        }
        state
    }

    #[test]
    fn the_window_keeps_fresh_events_up_to_its_maximum() {
        let now = Instant::now();
        let old = now - Duration::from_secs(100);
        let config = WatchCacheConfig {
            window: 6,
            window_min: 2,
            window_ttl: Duration::from_secs(75),
            ..WatchCacheConfig::default()
        };
        // Old events beyond the minimum go; fresh ones stay.
        let mut state = state_with(&[old, old, old, now, now]);
        trim_window(&mut state, &config, now);
        assert_eq!(state.window.len(), 2);
        assert_eq!(state.window_times.len(), 2);
        assert_eq!(state.window_start, 3);
        // The minimum is kept however old.
        let mut state = state_with(&[old, old, old]);
        trim_window(&mut state, &config, now);
        assert_eq!(state.window.len(), 2);
        // Fresh events are capped at the maximum.
        let mut state = state_with(&[now; 9]);
        trim_window(&mut state, &config, now);
        assert_eq!(state.window.len(), 6);
        assert_eq!(state.window_start, 3);
    }
}

#[cfg(test)]
mod offer_tests {
    use super::*;
    use bytes::Bytes;
    use serde_json::json;
    use skiff_store::{MvccStore, PutRequest};

    async fn wait_until(cache: &WatchCache, revision: i64) {
        cache
            .wait_for(revision, Duration::from_secs(5))
            .await
            .expect("the cache caught up");
    }

    #[tokio::test]
    async fn an_offered_object_is_taken_for_its_bytes_with_the_stored_revision() {
        let store: Arc<dyn KvStore> = Arc::new(MvccStore::in_memory().await);
        let cache = WatchCache::start(
            store.clone(),
            "/registry/pods/".into(),
            WatchCacheConfig::default(),
        )
        .await
        .unwrap();
        let key = "/registry/pods/default/p";
        let stored = json!({"kind": "Pod", "metadata": {"name": "p"}});
        let bytes = crate::registry::encode_object(&stored);
        // The offered object is taken (a marker shows it), with the store's revision.
        let marked =
            json!({"kind": "Pod", "metadata": {"name": "p", "annotations": {"offered": "yes"}}});
        cache.offers().put(key, bytes.clone(), marked);
        let rev = store
            .put(PutRequest::new(key.to_owned(), bytes.clone()))
            .await
            .unwrap()
            .header
            .revision;
        wait_until(&cache, rev).await;
        let current = cache.current(key).unwrap();
        assert_eq!(current["metadata"]["annotations"]["offered"], "yes");
        assert_eq!(current["metadata"]["resourceVersion"], rev.to_string());
        assert!(cache.offers().is_empty());
        // An offer of other bytes is not taken: the store's bytes are decoded.
        cache
            .offers()
            .put(key, Bytes::from_static(b"{}"), json!({"kind": "Pod"}));
        let rev = store
            .put(PutRequest::new(key.to_owned(), bytes))
            .await
            .unwrap()
            .header
            .revision;
        wait_until(&cache, rev).await;
        assert_eq!(*cache.current(key).unwrap(), {
            let mut s = stored.clone();
            s["metadata"]["resourceVersion"] = json!(rev.to_string());
            s
        });
    }
}
