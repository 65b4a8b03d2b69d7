//! The [`KvStore`] trait: etcd v3's data model as a Rust trait, implemented by the local
//! MVCC store (in memory or durable on redb) and by the client of a remote etcd.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;
use tokio::sync::mpsc;

use crate::error::Result;
use crate::types::*;

/// etcd's data model: a key space with a global revision, multi-version history,
/// transactions, watches and leases.
///
/// # Semantics (those of etcd v3)
/// - Every write transaction that changes something creates exactly one new revision;
///   all its changes carry that revision. A transaction that changes nothing (e.g. a
///   delete of a missing key) does not.
/// - A delete leaves a tombstone: the history of the key stays readable at older
///   revisions until [`compact`](KvStore::compact) removes it.
/// - Reads at a revision below the compaction revision fail with
///   [`StoreError::Compacted`](crate::StoreError::Compacted); above the current one with
///   [`StoreError::FutureRevision`](crate::StoreError::FutureRevision).
/// - A watch delivers every event of its range from its start revision, each exactly
///   once, in revision order, with no gaps. If the store can no longer deliver them (the
///   history it needs was compacted) the stream yields `Compacted` and ends.
/// - A write is acknowledged only once it is durable (for engines that are durable).
///
/// # Implementing
/// Object safe: components hold an `Arc<dyn KvStore>`.
#[async_trait]
pub trait KvStore: Send + Sync + 'static {
    /// Read a key or range.
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse>;

    /// Write one key.
    async fn put(&self, req: PutRequest) -> Result<PutResponse>;

    /// Delete a key or range.
    async fn delete_range(&self, req: DeleteRangeRequest) -> Result<DeleteRangeResponse>;

    /// Run a transaction atomically.
    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse>;

    /// Discard history before `revision`: afterwards reads and watches below it fail with
    /// `Compacted`. The latest version of each live key is kept. Durable engines finish
    /// an interrupted compaction on the next start.
    async fn compact(&self, revision: Revision) -> Result<ResponseHeader>;

    /// Start a watch. Fails at once with `Compacted` when `start_revision` is already
    /// compacted; the stream then yields batches until it is dropped or the store stops.
    async fn watch(&self, req: WatchRequest) -> Result<WatchStream>;

    /// Grant a lease of `ttl` seconds; `id` 0 lets the store choose the ID.
    async fn lease_grant(&self, id: LeaseId, ttl: i64) -> Result<LeaseGrantResponse>;

    /// Revoke a lease, deleting every key attached to it (at one new revision).
    async fn lease_revoke(&self, id: LeaseId) -> Result<ResponseHeader>;

    /// Renew a lease to its full granted TTL.
    async fn lease_keep_alive(&self, id: LeaseId) -> Result<LeaseKeepAliveResponse>;

    /// The remaining and granted TTL of a lease, and its keys if `keys` is set.
    async fn lease_time_to_live(&self, id: LeaseId, keys: bool) -> Result<LeaseTimeToLiveResponse>;

    /// The IDs of every live lease.
    async fn lease_leases(&self) -> Result<Vec<LeaseId>>;

    /// Revision, compaction revision, and size of the store.
    async fn status(&self) -> Result<StoreStatus>;

    /// Read one key at the current revision.
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        let resp = self
            .range(RangeRequest::key(Bytes::copy_from_slice(key)))
            .await?;
        Ok(resp.kvs.into_iter().next())
    }
}

#[async_trait]
impl<T: KvStore + ?Sized> KvStore for Arc<T> {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        (**self).range(req).await
    }
    async fn put(&self, req: PutRequest) -> Result<PutResponse> {
        (**self).put(req).await
    }
    async fn delete_range(&self, req: DeleteRangeRequest) -> Result<DeleteRangeResponse> {
        (**self).delete_range(req).await
    }
    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse> {
        (**self).txn(req).await
    }
    async fn compact(&self, revision: Revision) -> Result<ResponseHeader> {
        (**self).compact(revision).await
    }
    async fn watch(&self, req: WatchRequest) -> Result<WatchStream> {
        (**self).watch(req).await
    }
    async fn lease_grant(&self, id: LeaseId, ttl: i64) -> Result<LeaseGrantResponse> {
        (**self).lease_grant(id, ttl).await
    }
    async fn lease_revoke(&self, id: LeaseId) -> Result<ResponseHeader> {
        (**self).lease_revoke(id).await
    }
    async fn lease_keep_alive(&self, id: LeaseId) -> Result<LeaseKeepAliveResponse> {
        (**self).lease_keep_alive(id).await
    }
    async fn lease_time_to_live(&self, id: LeaseId, keys: bool) -> Result<LeaseTimeToLiveResponse> {
        (**self).lease_time_to_live(id, keys).await
    }
    async fn lease_leases(&self) -> Result<Vec<LeaseId>> {
        (**self).lease_leases().await
    }
    async fn status(&self) -> Result<StoreStatus> {
        (**self).status().await
    }
}

/// The receiving end of a watch: a [`Stream`] of [`WatchResponse`] batches.
///
/// Dropping it cancels the watch. The stream ends (`None`) when the store stops; it
/// yields an error (then ends) when the store can no longer deliver the watch's events,
/// e.g. `Compacted` for a watcher that fell behind past a compaction.
pub struct WatchStream {
    rx: mpsc::Receiver<Result<WatchResponse>>,
    progress: Arc<dyn Fn() + Send + Sync>,
    _cancel: Option<Box<dyn Send + Sync>>,
}

impl WatchStream {
    /// Build a stream from a channel fed by the implementation. `progress` is called by
    /// [`request_progress`](Self::request_progress); `cancel` is dropped with the stream
    /// (put a guard in it that unregisters the watch).
    pub fn new(
        rx: mpsc::Receiver<Result<WatchResponse>>,
        progress: Arc<dyn Fn() + Send + Sync>,
        cancel: Option<Box<dyn Send + Sync>>,
    ) -> Self {
        WatchStream {
            rx,
            progress,
            _cancel: cancel,
        }
    }

    /// Ask for a progress notification: an empty batch whose header revision says every
    /// event up to it has been delivered. It comes once the watch has caught up.
    pub fn request_progress(&self) {
        (self.progress)()
    }

    /// The next batch, or `None` when the stream has ended.
    pub async fn next_batch(&mut self) -> Option<Result<WatchResponse>> {
        self.rx.recv().await
    }
}

impl Stream for WatchStream {
    type Item = Result<WatchResponse>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl std::fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchStream").finish_non_exhaustive()
    }
}
