//! [`RemoteStore`]: a [`KvStore`] that is a client of a remote etcd v3 endpoint list (a
//! real etcd cluster, or `skiff store`), for users who already run etcd.
//!
//! ```no_run
//! # async fn demo() -> skiff_store::Result<()> {
//! use skiff_store::{KvStore, PutRequest, RemoteOptions, RemoteStore};
//! let store = RemoteStore::connect(vec!["127.0.0.1:2379".into()], RemoteOptions::default()).await?;
//! let rev = store.put(PutRequest::new("greeting", "hello")).await?.header.revision;
//! assert_eq!(store.get(b"greeting").await?.unwrap().mod_revision, rev);
//! # Ok(()) }
//! ```
//!
//! # Failover
//! One HTTP/2 connection to one endpoint at a time. When a call fails because the
//! endpoint cannot be reached, the next endpoint is dialled and the call sent again:
//! always for requests that did not reach a server and for reads; writes whose
//! connection broke while in flight fail with [`StoreError::Remote`] instead, since
//! whether they took effect is unknown. A watch whose stream breaks resumes on the next
//! endpoint from the revision after the last one it delivered.
//!
//! # What etcd does not tell
//! etcd's errors do not carry the compaction revision, nor its current revision for a
//! future-revision error: the store asks with an extra request (a watch below the
//! compaction, which etcd cancels naming it; a range for the current revision).
//!
//! # Organization
//! - `connection`: endpoints, the current channel, failover.
//! - `status`: gRPC statuses back into [`StoreError`]s.
//! - `convert`: store types to and from etcd's protobuf messages.
//! - `watch`: one gRPC Watch stream per [`KvStore::watch`], feeding a [`WatchStream`].
//! - `keepalive`: lease renewals multiplexed over one LeaseKeepAlive stream.

mod connection;
mod convert;
mod keepalive;
mod status;
mod watch;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tonic::transport::Channel;

use crate::error::{Result, StoreError};
use crate::kv::{KvStore, WatchStream};
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::{
    kv_client::KvClient, lease_client::LeaseClient, maintenance_client::MaintenanceClient,
};
use crate::types::*;
use connection::{Conn, Connections};
use status::Failure;

/// Largest response accepted from etcd, as etcd's own client (`math.MaxInt32`).
const MAX_RESPONSE_BYTES: usize = i32::MAX as usize;

/// Settings of a [`RemoteStore`].
#[derive(Clone, Debug)]
#[must_use]
pub struct RemoteOptions {
    /// How long dialling one endpoint may take before the next is tried.
    pub dial_timeout: Duration,
    /// How long one request may take, failover included.
    pub request_timeout: Duration,
    /// HTTP/2 keep-alive ping interval, to notice a dead endpoint on an idle connection.
    pub keep_alive_interval: Duration,
    /// How long a keep-alive ping may go unanswered before the connection is dropped.
    pub keep_alive_timeout: Duration,
    /// Batches a watch buffers for a slow reader before it stops reading from etcd.
    pub watch_buffer: usize,
    /// How long a broken watch keeps trying to resume before it yields an error and ends.
    pub watch_resume_timeout: Duration,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            dial_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            keep_alive_interval: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(10),
            watch_buffer: 128,
            watch_resume_timeout: Duration::from_secs(60),
        }
    }
}

/// A [`KvStore`] served by a remote etcd v3 endpoint list. Cheap to clone: clones share
/// the connection.
#[derive(Clone, Debug)]
pub struct RemoteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    conns: Arc<Connections>,
    options: RemoteOptions,
    keep_alive: keepalive::KeepAlives,
}

/// Whether a request may be sent again after its connection broke in flight.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// A read: sending it twice is harmless.
    Idempotent,
    /// A write: sent again only if it cannot have reached a server.
    OnlyIfNotSent,
}

impl RemoteStore {
    /// Connect to the first reachable endpoint of `endpoints` (`host:port` or
    /// `http://host:port`). Fails when none is reachable. TLS is not supported yet.
    pub async fn connect(endpoints: Vec<String>, options: RemoteOptions) -> Result<RemoteStore> {
        let conns = Arc::new(Connections::new(endpoints, &options)?);
        conns.get().await?;
        let keep_alive = keepalive::KeepAlives::start(conns.clone());
        Ok(RemoteStore {
            inner: Arc::new(Inner {
                conns,
                options,
                keep_alive,
            }),
        })
    }

    /// Send a request with `call` on the current connection, failing over to the next
    /// endpoint when the connection fails, within the request timeout.
    async fn call<T, F, Fut>(&self, retry: Retry, call: F) -> Result<T>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let timeout = self.inner.options.request_timeout;
        match tokio::time::timeout(timeout, self.call_with_failover(retry, call)).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Remote(format!(
                "request timed out after {timeout:?}"
            ))),
        }
    }

    async fn call_with_failover<T, F, Fut>(&self, retry: Retry, call: F) -> Result<T>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let conns = &self.inner.conns;
        // Every endpoint once, plus one more try on the first.
        let attempts = conns.len() + 1;
        let mut last = String::new();
        for attempt in 0..attempts {
            let conn: Conn = conns.get().await?;
            match call(conn.channel.clone()).await {
                Ok(v) => return Ok(v),
                Err(status) => match status::classify(&status) {
                    Failure::Etcd(e) => return Err(e),
                    Failure::NotSent(text) => last = text,
                    Failure::InFlight(text) if retry == Retry::Idempotent => last = text,
                    Failure::InFlight(text) => {
                        conns.failed(&conn).await;
                        return Err(StoreError::Remote(format!(
                            "connection failed with the request in flight (outcome unknown): {text}"
                        )));
                    }
                },
            }
            conns.failed(&conn).await;
            tokio::time::sleep(connection::backoff(attempt as u32)).await;
        }
        Err(StoreError::Remote(format!("every endpoint failed: {last}")))
    }

    fn kv(channel: Channel) -> KvClient<Channel> {
        KvClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES)
    }

    fn lease(channel: Channel) -> LeaseClient<Channel> {
        LeaseClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES)
    }

    /// Fill in the revisions etcd's `Compacted` and `FutureRevision` errors lack.
    /// `below` is a revision known to be compacted when the compaction revision is above
    /// it, or `at` one known to be at or below the compaction revision (a failed compact).
    async fn complete(&self, e: StoreError, probe: CompactProbe) -> StoreError {
        match e {
            StoreError::Compacted { .. } => {
                let (start, lower_bound) = match probe {
                    CompactProbe::Below(r) => (r, r + 1),
                    CompactProbe::AtOrBelow(r) => (r - 1, r),
                };
                let found = if start >= 1 {
                    watch::compact_revision(self, start).await
                } else {
                    None
                };
                StoreError::Compacted {
                    compact_revision: found.unwrap_or(lower_bound),
                }
            }
            StoreError::FutureRevision { .. } => {
                let current = self.current_revision().await.unwrap_or(0);
                StoreError::FutureRevision {
                    current_revision: current,
                }
            }
            other => other,
        }
    }

    /// The current revision, by a serializable read of one key.
    async fn current_revision(&self) -> Result<Revision> {
        let req = pb::RangeRequest {
            key: Bytes::from_static(&[0]),
            count_only: true,
            ..Default::default()
        };
        let resp = self
            .call(Retry::Idempotent, |ch| {
                let req = req.clone();
                async move { Self::kv(ch).range(req).await }
            })
            .await?;
        Ok(resp.into_inner().header.map_or(0, |h| h.revision))
    }

    /// The compaction revision: 0 when a read at revision 1 works, else the revision a
    /// watch at revision 1 is canceled with.
    async fn compact_revision(&self) -> Result<Revision> {
        let req = RangeRequest {
            revision: 1,
            count_only: true,
            ..RangeRequest::key(Bytes::from_static(&[0]))
        };
        match self.range(req).await {
            Ok(_) => Ok(0),
            Err(StoreError::Compacted { compact_revision }) => Ok(compact_revision),
            Err(e) => Err(e),
        }
    }
}

/// What is known about a revision that etcd reported as compacted.
#[derive(Clone, Copy)]
enum CompactProbe {
    /// A read at this revision failed: the compaction revision is above it.
    Below(Revision),
    /// A compaction at this revision failed: the compaction revision is at or above it.
    AtOrBelow(Revision),
}

#[async_trait]
impl KvStore for RemoteStore {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        let revision = req.revision;
        let req = convert::range_request(req);
        let result = self
            .call(Retry::Idempotent, |ch| {
                let req = req.clone();
                async move { Self::kv(ch).range(req).await }
            })
            .await;
        match result {
            Ok(resp) => Ok(convert::range_response(resp.into_inner())),
            Err(e) => Err(self.complete(e, CompactProbe::Below(revision)).await),
        }
    }

    async fn put(&self, req: PutRequest) -> Result<PutResponse> {
        let req = convert::put_request(req);
        let resp = self
            .call(Retry::OnlyIfNotSent, |ch| {
                let req = req.clone();
                async move { Self::kv(ch).put(req).await }
            })
            .await?;
        Ok(convert::put_response(resp.into_inner()))
    }

    async fn delete_range(&self, req: DeleteRangeRequest) -> Result<DeleteRangeResponse> {
        let req = convert::delete_request(req);
        let resp = self
            .call(Retry::OnlyIfNotSent, |ch| {
                let req = req.clone();
                async move { Self::kv(ch).delete_range(req).await }
            })
            .await?;
        Ok(convert::delete_response(resp.into_inner()))
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse> {
        let read_only = txn_is_read_only(&req);
        let retry = if read_only {
            Retry::Idempotent
        } else {
            Retry::OnlyIfNotSent
        };
        let req = convert::txn_request(req);
        let resp = self
            .call(retry, |ch| {
                let req = req.clone();
                async move { Self::kv(ch).txn(req).await }
            })
            .await?;
        Ok(convert::txn_response(resp.into_inner()))
    }

    async fn compact(&self, revision: Revision) -> Result<ResponseHeader> {
        let req = pb::CompactionRequest {
            revision,
            physical: false,
        };
        let result = self
            .call(Retry::OnlyIfNotSent, |ch| async move {
                Self::kv(ch).compact(req).await
            })
            .await;
        match result {
            Ok(resp) => Ok(convert::header(resp.into_inner().header)),
            Err(e) => Err(self.complete(e, CompactProbe::AtOrBelow(revision)).await),
        }
    }

    async fn watch(&self, req: WatchRequest) -> Result<WatchStream> {
        if req.start_revision > 0 {
            // etcd accepts a watch below the compaction and cancels it shortly after;
            // a read at the start revision fails at once instead.
            let key = if req.range.key.is_empty() {
                Bytes::from_static(&[0])
            } else {
                req.range.key.clone()
            };
            let probe = RangeRequest {
                revision: req.start_revision,
                count_only: true,
                ..RangeRequest::key(key)
            };
            match self.range(probe).await {
                Ok(_) | Err(StoreError::FutureRevision { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        watch::start(self.clone(), req).await
    }

    async fn lease_grant(&self, id: LeaseId, ttl: i64) -> Result<LeaseGrantResponse> {
        let req = pb::LeaseGrantRequest { ttl, id };
        let resp = self
            .call(Retry::OnlyIfNotSent, |ch| async move {
                Self::lease(ch).lease_grant(req).await
            })
            .await?
            .into_inner();
        if !resp.error.is_empty() {
            return Err(status::etcd_error(&resp.error));
        }
        Ok(LeaseGrantResponse {
            header: convert::header(resp.header),
            id: resp.id,
            ttl: resp.ttl,
        })
    }

    async fn lease_revoke(&self, id: LeaseId) -> Result<ResponseHeader> {
        let req = pb::LeaseRevokeRequest { id };
        let resp = self
            .call(Retry::OnlyIfNotSent, |ch| async move {
                Self::lease(ch).lease_revoke(req).await
            })
            .await?;
        Ok(convert::header(resp.into_inner().header))
    }

    async fn lease_keep_alive(&self, id: LeaseId) -> Result<LeaseKeepAliveResponse> {
        let timeout = self.inner.options.request_timeout;
        let resp = tokio::time::timeout(timeout, self.inner.keep_alive.renew(id))
            .await
            .map_err(|_| {
                StoreError::Remote(format!("lease keep-alive timed out after {timeout:?}"))
            })??;
        // etcd answers a renewal of an unknown lease with TTL 0 rather than an error.
        if resp.ttl <= 0 {
            return Err(StoreError::LeaseNotFound);
        }
        Ok(LeaseKeepAliveResponse {
            header: convert::header(resp.header),
            id: resp.id,
            ttl: resp.ttl,
        })
    }

    async fn lease_time_to_live(&self, id: LeaseId, keys: bool) -> Result<LeaseTimeToLiveResponse> {
        let req = pb::LeaseTimeToLiveRequest { id, keys };
        let resp = self
            .call(Retry::Idempotent, |ch| async move {
                Self::lease(ch).lease_time_to_live(req).await
            })
            .await?
            .into_inner();
        // etcd answers a query of an unknown lease with TTL -1 rather than an error.
        if resp.ttl == -1 {
            return Err(StoreError::LeaseNotFound);
        }
        Ok(LeaseTimeToLiveResponse {
            header: convert::header(resp.header),
            id: resp.id,
            ttl: resp.ttl,
            granted_ttl: resp.granted_ttl,
            keys: resp.keys,
        })
    }

    async fn lease_leases(&self) -> Result<Vec<LeaseId>> {
        let resp = self
            .call(Retry::Idempotent, |ch| async move {
                Self::lease(ch)
                    .lease_leases(pb::LeaseLeasesRequest {})
                    .await
            })
            .await?;
        Ok(resp.into_inner().leases.into_iter().map(|l| l.id).collect())
    }

    async fn status(&self) -> Result<StoreStatus> {
        let resp = self
            .call(Retry::Idempotent, |ch| async move {
                MaintenanceClient::new(ch)
                    .status(pb::StatusRequest {})
                    .await
            })
            .await?
            .into_inner();
        let compact_revision = self.compact_revision().await?;
        Ok(StoreStatus {
            header: convert::header(resp.header),
            compact_revision,
            db_size: resp.db_size,
            db_size_in_use: resp.db_size_in_use,
            engine: "etcd",
        })
    }
}

/// Whether a transaction only reads, in every branch, nested ones included.
fn txn_is_read_only(t: &TxnRequest) -> bool {
    t.success.iter().chain(&t.failure).all(|op| match op {
        RequestOp::Range(_) => true,
        RequestOp::Txn(inner) => txn_is_read_only(inner),
        RequestOp::Put(_) | RequestOp::DeleteRange(_) => false,
    })
}
