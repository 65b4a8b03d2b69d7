//! The MVCC store: etcd's semantics over any [`Backend`].
//!
//! # Organization
//! - `state`: records by revision and the key index; reads, history, compaction.
//! - `txn`: applying writes (validation, compares, puts, deletes).
//! - `writer`: the single writer thread with group commit.
//! - `watch`: synced and unsynced watchers; slow watchers never stall writers.
//! - `lease`: leases, deadlines and attached keys.
//!
//! Reads are served from memory at the last *committed* revision, so nothing is visible
//! before it is durable. The backend is the source of truth: [`MvccStore::open`] rebuilds
//! everything from [`Backend::load`].
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use skiff_store::{KvStore, MvccStore, PutRequest};
//! let store = MvccStore::in_memory().await;
//! let put = store.put(PutRequest::new("greeting", "hello")).await.unwrap();
//! let kv = store.get(b"greeting").await.unwrap().unwrap();
//! assert_eq!(kv.value, "hello");
//! assert_eq!(kv.mod_revision, put.header.revision);
//! # });
//! ```

mod lease;
mod state;
mod txn;
mod watch;
mod writer;

use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::backend::{Backend, MemoryBackend};
use crate::error::{Result, StoreError};
use crate::kv::{KvStore, WatchStream};
use crate::types::*;
use lease::Lessor;
use state::State;
use watch::Hub;
use writer::WriteCmd;

/// Tunables of an [`MvccStore`].
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// How often watches that asked for progress notifications get one (etcd: 10 min).
    pub progress_interval: Duration,
    /// Smallest lease TTL in seconds; shorter grants are raised to it (etcd: 2 s with
    /// default raft timing).
    pub min_lease_ttl: i64,
    /// How often leases are checked for expiry.
    pub lease_check_interval: Duration,
    /// Batches buffered per watch before the watcher counts as slow.
    pub watch_buffer: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            progress_interval: Duration::from_secs(600),
            min_lease_ttl: 2,
            lease_check_interval: Duration::from_millis(250),
            watch_buffer: 128,
        }
    }
}

/// What the writer thread and the store handles share.
pub(crate) struct Core {
    /// Records and index. Lock order: `hub` before `state` before `lessor`.
    state: RwLock<State>,
    /// Leases; changed by the writer (grants, revokes, attachments) and keep-alives.
    lessor: Mutex<Lessor>,
    /// Watchers.
    hub: Mutex<Hub>,
    /// Wakes the syncer when a watcher falls behind or starts from history.
    sync_wake: Arc<Notify>,
    backend: Arc<dyn Backend>,
    /// Set when a commit failed: the store refuses writes until restarted.
    failed: Mutex<Option<String>>,
}

impl Core {
    fn failure(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_failure(&self, reason: String) {
        *self.failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_hub(&self) -> std::sync::MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_lessor(&self) -> std::sync::MutexGuard<'_, Lessor> {
        self.lessor.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// After a durable commit: advance the readers' revision and publish the events.
    fn make_visible(&self, events: &[Event]) {
        let mut hub = self.lock_hub();
        let committed = {
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            state.committed_rev = state.current_rev;
            state.committed_rev
        };
        if !events.is_empty() && hub.publish(events, committed) {
            self.sync_wake.notify_one();
        }
    }

    /// Drop compacted history from memory, then from the backend.
    fn compact_in_memory_and_backend(&self, rev: Revision) {
        let removed = {
            let _hub = self.lock_hub();
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            state.compact(rev)
        };
        // Watchers behind the new compaction revision must be told.
        self.sync_wake.notify_one();
        if let Err(e) = self.backend.compact(rev, &removed) {
            // The compaction is recorded as scheduled; the next start finishes it.
            tracing::error!(error = %e, revision = rev, "backend compaction failed");
        }
    }
}

struct Inner {
    core: Arc<Core>,
    writes: mpsc::UnboundedSender<WriteCmd>,
    config: StoreConfig,
    /// Fires when the writer has stopped and released the backend.
    writer_done: Mutex<Option<oneshot::Receiver<()>>>,
}

/// The MVCC store: an etcd v3 key space over a [`Backend`], implementing [`KvStore`].
/// Cheap to clone; the store stops when the last clone is dropped.
#[derive(Clone)]
pub struct MvccStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MvccStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MvccStore")
            .field("backend", &self.inner.core.backend.name())
            .finish()
    }
}

impl MvccStore {
    /// Open a store on `backend`: load and rebuild its state (finishing an interrupted
    /// compaction), then start the writer, the watch syncer and the lease expiry loop.
    /// Must be called inside a tokio runtime.
    pub async fn open(backend: impl Backend, config: StoreConfig) -> Result<MvccStore> {
        let backend: Arc<dyn Backend> = Arc::new(backend);
        let b = backend.clone();
        let (state, leases) = tokio::task::spawn_blocking(move || rebuild(&*b))
            .await
            .map_err(|e| StoreError::Open(format!("loading task failed: {e}")))??;
        let mut lessor = Lessor::new(config.min_lease_ttl);
        for (id, ttl) in leases {
            lessor.insert(id, ttl);
        }
        for (_, revs) in state.index.iter() {
            if let Some(rec) = revs.last().and_then(|r| state.records.get(r)) {
                if !rec.tombstone && rec.lease != 0 {
                    lessor.attach(rec.lease, &rec.key);
                }
            }
        }
        let core = Arc::new(Core {
            state: RwLock::new(state),
            lessor: Mutex::new(lessor),
            hub: Mutex::new(Hub::default()),
            sync_wake: Arc::new(Notify::new()),
            backend,
            failed: Mutex::new(None),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = oneshot::channel();
        let writer_core = core.clone();
        std::thread::Builder::new()
            .name("skiff-store-writer".into())
            .spawn(move || {
                writer::run(writer_core, rx);
                let _ = done_tx.send(());
            })
            .map_err(|e| StoreError::Open(format!("cannot start writer thread: {e}")))?;
        let writer_done = Mutex::new(Some(done_rx));
        let inner = Arc::new(Inner {
            core,
            writes: tx,
            config,
            writer_done,
        });
        spawn_background(Arc::downgrade(&inner));
        Ok(MvccStore { inner })
    }

    /// A store that keeps everything in memory (tests, embedding).
    pub async fn in_memory() -> MvccStore {
        match MvccStore::open(MemoryBackend, StoreConfig::default()).await {
            Ok(store) => store,
            // Loading an empty memory backend and spawning a thread cannot fail short of
            // the process running out of threads.
            Err(e) => panic!("in-memory store failed to start: {e}"),
        }
    }

    /// Stop the store: returns once every handle is dropped, every queued write is
    /// answered and the backend is released (its file can be opened again). Call it on
    /// the last handle.
    pub async fn close(self) {
        let done = self
            .inner
            .writer_done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(self);
        if let Some(done) = done {
            let _ = done.await;
        }
    }

    /// The current (committed) revision.
    pub fn revision(&self) -> Revision {
        self.inner.core.read_state().committed_rev
    }

    async fn write<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T>>) -> WriteCmd,
    ) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .writes
            .send(make(tx))
            .map_err(|_| StoreError::Stopped)?;
        rx.await.map_err(|_| StoreError::Stopped)?
    }
}

/// Load everything from the backend and finish an interrupted compaction.
fn rebuild(backend: &dyn Backend) -> Result<(State, Vec<(LeaseId, i64)>)> {
    let loaded = backend.load()?;
    let mut state = State::from_records(loaded.records, loaded.compact_scheduled);
    if loaded.compact_finished < loaded.compact_scheduled {
        tracing::info!(
            revision = loaded.compact_scheduled,
            "finishing interrupted compaction"
        );
        let removed = state.compact(loaded.compact_scheduled);
        backend.compact(loaded.compact_scheduled, &removed)?;
    }
    Ok((state, loaded.leases))
}

/// The watch syncer, the progress ticker and the lease expiry loop. Each holds only a
/// weak handle and ends when the store is dropped.
fn spawn_background(inner: Weak<Inner>) {
    let weak = inner.clone();
    tokio::spawn(async move {
        // Only the wake-up handle is held across waits, so a dropped store closes its
        // backend at once.
        let Some(wake) = weak.upgrade().map(|i| i.core.sync_wake.clone()) else {
            return;
        };
        loop {
            let behind = {
                let Some(inner) = weak.upgrade() else { return };
                let mut hub = inner.core.lock_hub();
                let state = inner.core.read_state();
                hub.has_unsynced() && hub.sync_step(&state)
            };
            if behind {
                // Give slow consumers a moment to drain before the next bounded step.
                tokio::time::sleep(Duration::from_millis(10)).await;
            } else {
                let _ = tokio::time::timeout(Duration::from_millis(100), wake.notified()).await;
            }
        }
    });
    let weak = inner.clone();
    tokio::spawn(async move {
        let Some(period) = weak.upgrade().map(|i| i.config.progress_interval) else {
            return;
        };
        let mut tick = tokio::time::interval(period);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else { return };
            let mut hub = inner.core.lock_hub();
            let committed = inner.core.read_state().committed_rev;
            hub.progress_tick(committed);
        }
    });
    tokio::spawn(async move {
        let Some(period) = inner.upgrade().map(|i| i.config.lease_check_interval) else {
            return;
        };
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            let Some(inner) = inner.upgrade() else { return };
            let expired = inner.core.lock_lessor().take_expired(Instant::now());
            for id in expired {
                let _ = inner.writes.send(WriteCmd::LeaseExpire(id));
            }
        }
    });
}

/// Unregisters a watch when its stream is dropped.
struct WatchGuard {
    core: Weak<Core>,
    id: u64,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        if let Some(core) = self.core.upgrade() {
            core.lock_hub().remove(self.id);
        }
    }
}

#[async_trait]
impl KvStore for MvccStore {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        let state = self.inner.core.read_state();
        state.range(&req, state.committed_rev)
    }

    async fn put(&self, req: PutRequest) -> Result<PutResponse> {
        txn::validate_put(&req)?;
        self.write(|tx| WriteCmd::Put(req, tx)).await
    }

    async fn delete_range(&self, req: DeleteRangeRequest) -> Result<DeleteRangeResponse> {
        if req.range.key.is_empty() {
            return Err(StoreError::EmptyKey);
        }
        self.write(|tx| WriteCmd::Delete(req, tx)).await
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse> {
        txn::validate_txn(&req)?;
        self.write(|tx| WriteCmd::Txn(req, tx)).await
    }

    async fn compact(&self, revision: Revision) -> Result<ResponseHeader> {
        self.write(|tx| WriteCmd::Compact(revision, tx)).await
    }

    async fn watch(&self, req: WatchRequest) -> Result<WatchStream> {
        let core = &self.inner.core;
        let (tx, rx) = mpsc::channel(self.inner.config.watch_buffer.max(1));
        let id = {
            let mut hub = core.lock_hub();
            let state = core.read_state();
            hub.add(req, tx, &state)?
        };
        core.sync_wake.notify_one();
        let weak = Arc::downgrade(core);
        let progress = Arc::new(move || {
            if let Some(core) = weak.upgrade() {
                let mut hub = core.lock_hub();
                let committed = core.read_state().committed_rev;
                hub.request_progress(id, committed);
            }
        });
        let guard = WatchGuard {
            core: Arc::downgrade(core),
            id,
        };
        Ok(WatchStream::new(rx, progress, Some(Box::new(guard))))
    }

    async fn lease_grant(&self, id: LeaseId, ttl: i64) -> Result<LeaseGrantResponse> {
        if id < 0 {
            return Err(StoreError::LeaseNotFound);
        }
        self.write(|tx| WriteCmd::LeaseGrant(id, ttl, tx)).await
    }

    async fn lease_revoke(&self, id: LeaseId) -> Result<ResponseHeader> {
        self.write(|tx| WriteCmd::LeaseRevoke(id, tx)).await
    }

    async fn lease_keep_alive(&self, id: LeaseId) -> Result<LeaseKeepAliveResponse> {
        let ttl = self.inner.core.lock_lessor().renew(id)?;
        Ok(LeaseKeepAliveResponse {
            header: ResponseHeader {
                revision: self.revision(),
            },
            id,
            ttl,
        })
    }

    async fn lease_time_to_live(&self, id: LeaseId, keys: bool) -> Result<LeaseTimeToLiveResponse> {
        let lessor = self.inner.core.lock_lessor();
        let (ttl, granted_ttl) = lessor.remaining(id)?;
        let keys = match (keys, lessor.get(id)) {
            (true, Some(l)) => l.keys.iter().cloned().collect(),
            _ => Vec::new(),
        };
        drop(lessor);
        Ok(LeaseTimeToLiveResponse {
            header: ResponseHeader {
                revision: self.revision(),
            },
            id,
            ttl,
            granted_ttl,
            keys,
        })
    }

    async fn lease_leases(&self) -> Result<Vec<LeaseId>> {
        Ok(self.inner.core.lock_lessor().ids())
    }

    async fn status(&self) -> Result<StoreStatus> {
        let core = &self.inner.core;
        let (revision, compact_revision) = {
            let s = core.read_state();
            (s.committed_rev, s.compact_rev)
        };
        let (db_size, db_size_in_use) = core.backend.size();
        Ok(StoreStatus {
            header: ResponseHeader { revision },
            compact_revision,
            db_size,
            db_size_in_use,
            engine: core.backend.name(),
        })
    }
}
