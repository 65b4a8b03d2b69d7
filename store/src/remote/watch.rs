//! Watches over etcd's Watch service: one gRPC stream per [`KvStore::watch`] call, read
//! by a task that feeds the [`WatchStream`]'s channel, forwards progress requests, and
//! resumes on another endpoint when the stream breaks.
//!
//! [`KvStore::watch`]: crate::KvStore::watch

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};
use tokio_stream::wrappers::ReceiverStream;

use crate::error::{Result, StoreError};
use crate::kv::WatchStream;
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::watch_client::WatchClient;
use crate::remote::connection::{backoff, Conn};
use crate::remote::status::{classify, Failure};
use crate::remote::{convert, RemoteStore, MAX_RESPONSE_BYTES};
use crate::types::{KeyRange, Revision, WatchRequest, WatchResponse};

/// How long a probe for the compaction revision waits for etcd to cancel its watch
/// (etcd checks unsynced watchers every 100 ms).
const COMPACT_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// A created watch on one connection.
struct Opened {
    requests: mpsc::Sender<pb::WatchRequest>,
    responses: tonic::Streaming<pb::WatchResponse>,
    created: pb::WatchResponse,
    conn: Conn,
}

/// Why a watch could not be created.
enum OpenError {
    /// etcd refused it (or canceled it at once): final.
    Refused(StoreError),
    /// No endpoint could be reached, or the stream broke: worth trying again later.
    Unreachable(String),
}

/// The StoreError for a response that cancels a watch.
fn canceled(resp: &pb::WatchResponse) -> StoreError {
    if resp.compact_revision > 0 {
        StoreError::Compacted {
            compact_revision: resp.compact_revision,
        }
    } else {
        StoreError::Remote(format!(
            "watch canceled by the server: {}",
            resp.cancel_reason
        ))
    }
}

/// Create the watch `req` from `start` on the current connection, failing over through
/// every endpoint once.
async fn open(
    store: &RemoteStore,
    req: &WatchRequest,
    start: Revision,
) -> Result<Opened, OpenError> {
    let conns = &store.inner.conns;
    let mut last = String::new();
    for attempt in 0..conns.len() {
        let conn = conns
            .get()
            .await
            .map_err(|e| OpenError::Unreachable(e.to_string()))?;
        let (requests, rx) = mpsc::channel(16);
        // etcd sends the response headers with its first message, which answers this
        // request: it must be queued before the call is awaited.
        if requests
            .send(convert::watch_create(req, start))
            .await
            .is_err()
        {
            return Err(OpenError::Unreachable(
                "watch request channel closed".into(),
            ));
        }
        let mut client =
            WatchClient::new(conn.channel.clone()).max_decoding_message_size(MAX_RESPONSE_BYTES);
        let status = match client.watch(ReceiverStream::new(rx)).await {
            Ok(resp) => {
                let mut responses = resp.into_inner();
                match responses.message().await {
                    Ok(Some(first)) if first.canceled => {
                        return Err(OpenError::Refused(canceled(&first)))
                    }
                    Ok(Some(created)) => {
                        return Ok(Opened {
                            requests,
                            responses,
                            created,
                            conn,
                        })
                    }
                    Ok(None) => tonic::Status::unavailable(
                        "watch stream ended before the watch was created",
                    ),
                    Err(status) => status,
                }
            }
            Err(status) => status,
        };
        match classify(&status) {
            Failure::Etcd(e) => return Err(OpenError::Refused(e)),
            Failure::NotSent(text) | Failure::InFlight(text) => last = text,
        }
        conns.failed(&conn).await;
        tokio::time::sleep(backoff(attempt as u32)).await;
    }
    Err(OpenError::Unreachable(last))
}

/// Start the watch `req`: returns once etcd has created it, so every write made after
/// this returns is delivered.
pub(crate) async fn start(store: RemoteStore, req: WatchRequest) -> Result<WatchStream> {
    let opened = match open(&store, &req, req.start_revision).await {
        Ok(o) => o,
        Err(OpenError::Refused(e)) => return Err(e),
        Err(OpenError::Unreachable(text)) => return Err(StoreError::Remote(text)),
    };
    let next_rev = if req.start_revision > 0 {
        req.start_revision
    } else {
        opened.created.header.as_ref().map_or(0, |h| h.revision) + 1
    };
    let (out, rx) = mpsc::channel(store.inner.options.watch_buffer.max(1));
    let progress = Arc::new(Notify::new());
    let task = WatchTask {
        store,
        req,
        out,
        progress: progress.clone(),
        next_rev,
    };
    tokio::spawn(task.run(opened));
    Ok(WatchStream::new(
        rx,
        Arc::new(move || progress.notify_one()),
        None,
    ))
}

/// The task behind one [`WatchStream`].
struct WatchTask {
    store: RemoteStore,
    req: WatchRequest,
    out: mpsc::Sender<Result<WatchResponse>>,
    progress: Arc<Notify>,
    /// The revision to resume from: one past the last event delivered.
    next_rev: Revision,
}

/// How reading one gRPC stream ended.
enum Pumped {
    /// The [`WatchStream`] was dropped.
    ReceiverGone,
    /// The watch is over: deliver this, then end.
    Finished(StoreError),
    /// The stream broke: resume elsewhere.
    Broken(String),
}

impl WatchTask {
    async fn run(mut self, mut opened: Opened) {
        loop {
            match self.pump(&mut opened).await {
                Pumped::ReceiverGone => return,
                Pumped::Finished(e) => {
                    let _ = self.out.send(Err(e)).await;
                    return;
                }
                Pumped::Broken(text) => {
                    tracing::debug!(error = %text, next_rev = self.next_rev, "watch stream broke; resuming");
                    self.store.inner.conns.failed(&opened.conn).await;
                    match self.resume().await {
                        Some(o) => opened = o,
                        None => return,
                    }
                }
            }
        }
    }

    /// Re-create the watch from `next_rev`, retrying until the resume timeout. `None`
    /// when the watch is over (its error, if any, has been delivered).
    async fn resume(&mut self) -> Option<Opened> {
        let deadline = tokio::time::Instant::now() + self.store.inner.options.watch_resume_timeout;
        let mut attempt = 0;
        loop {
            if self.out.is_closed() {
                return None;
            }
            match open(&self.store, &self.req, self.next_rev).await {
                Ok(o) => return Some(o),
                Err(OpenError::Refused(e)) => {
                    let _ = self.out.send(Err(e)).await;
                    return None;
                }
                Err(OpenError::Unreachable(text)) if tokio::time::Instant::now() >= deadline => {
                    let e =
                        StoreError::Remote(format!("watch lost and could not be resumed: {text}"));
                    let _ = self.out.send(Err(e)).await;
                    return None;
                }
                Err(OpenError::Unreachable(_)) => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }

    /// Forward responses and progress requests until the stream ends one way or another.
    async fn pump(&mut self, opened: &mut Opened) -> Pumped {
        loop {
            tokio::select! {
                _ = self.out.closed() => return Pumped::ReceiverGone,
                _ = self.progress.notified() => {
                    if opened.requests.send(convert::watch_progress()).await.is_err() {
                        return Pumped::Broken("watch request stream closed".into());
                    }
                }
                msg = opened.responses.message() => match msg {
                    Ok(Some(resp)) if resp.canceled => return Pumped::Finished(canceled(&resp)),
                    Ok(Some(resp)) if resp.created => {}
                    Ok(Some(resp)) => {
                        let batch = convert::watch_response(resp);
                        // Only events move the resume point: etcd 3.4 may answer a
                        // progress request before events it has not sent yet.
                        if let Some(last) = batch.events.last() {
                            self.next_rev = last.kv.mod_revision + 1;
                        }
                        if self.out.send(Ok(batch)).await.is_err() {
                            return Pumped::ReceiverGone;
                        }
                    }
                    Ok(None) => return Pumped::Broken("watch stream ended".into()),
                    Err(status) => match classify(&status) {
                        Failure::Etcd(e) => return Pumped::Finished(e),
                        Failure::NotSent(text) | Failure::InFlight(text) => return Pumped::Broken(text),
                    },
                },
            }
        }
    }
}

/// The compaction revision, learnt from a watch at `start` (a revision below it), which
/// etcd cancels naming the compaction revision. `None` when etcd does not cancel it in
/// time (so `start` is not compacted after all) or cannot be reached.
pub(crate) async fn compact_revision(store: &RemoteStore, start: Revision) -> Option<Revision> {
    let req = WatchRequest {
        range: KeyRange::key(Bytes::from_static(&[0])),
        start_revision: start,
        ..Default::default()
    };
    let probe = async {
        match open(store, &req, start).await {
            Err(OpenError::Refused(StoreError::Compacted { compact_revision })) => {
                Some(compact_revision)
            }
            Err(_) => None,
            Ok(mut opened) => loop {
                match opened.responses.message().await {
                    Ok(Some(resp)) if resp.canceled && resp.compact_revision > 0 => {
                        break Some(resp.compact_revision)
                    }
                    Ok(Some(resp)) if resp.canceled => break None,
                    Ok(Some(_)) => continue,
                    _ => break None,
                }
            },
        }
    };
    tokio::time::timeout(COMPACT_PROBE_TIMEOUT, probe)
        .await
        .ok()
        .flatten()
}
