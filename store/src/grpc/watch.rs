//! The `Watch` service: one bidirectional stream per client carrying any number of
//! watchers, as in etcd.
//!
//! # Protocol (etcd's, as its clients rely on it)
//! - A create request is answered, in request order, by a `created` response carrying
//!   the watcher's ID (the client's `watch_id` if it gave one, else the lowest free ID
//!   from 0 up) and the store revision before the watch started. Events for the watcher
//!   only ever follow that response.
//! - A start revision that is already compacted: `created`, then a `canceled` response
//!   with `compact_revision` set. A watcher that falls behind a compaction later gets
//!   the same `canceled` response.
//! - A cancel request for a live watcher is answered with `canceled`; for an unknown ID
//!   with nothing.
//! - A progress request asks every watcher for a progress notification: an empty
//!   response whose header revision says all events up to it were sent. With no
//!   watchers it is answered at once with watch ID -1.
//! - With `fragment`, a response larger than the request limit is split into several,
//!   all but the last marked `fragment`.
//!
//! # Organization
//! One task per stream owns a [`Session`]: the watchers (a [`StreamMap`] of the store's
//! [`WatchStream`]s) and the sender of responses. It waits on the client's next request
//! and the watchers' next batches at once, and handles one at a time, so responses
//! leave in a well-defined order.

use std::collections::HashSet;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamMap;
use tonic::{Request, Response, Status, Streaming};

use super::convert::{event_to_proto, watch_from_proto};
use super::EtcdServer;
use crate::error::{StoreError, MAX_REQUEST_BYTES};
use crate::kv::WatchStream;
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::watch_request::RequestUnion;
use crate::proto::etcdserverpb::watch_server::Watch;

/// Responses buffered per stream before the session waits for the client to read.
const RESPONSE_BUFFER: usize = 64;

/// The watch ID of responses that concern no watcher in particular.
const NO_WATCH_ID: i64 = -1;

/// etcd's reason for refusing a watch ID already used on the stream.
const DUPLICATE_WATCH_ID: &str = "mvcc: duplicate watch ID provided on the WatchStream";

#[tonic::async_trait]
impl Watch for EtcdServer {
    type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchResponse, Status>> + Send>>;

    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let incoming = request.into_inner();
        let (out, rx) = mpsc::channel(RESPONSE_BUFFER);
        let session = Session::new(self.clone(), out);
        tokio::spawn(session.run(incoming));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// What one watcher produced: a batch (or the error that ends it), or the end of its
/// stream, which means the store stopped.
enum WatcherItem {
    Batch(crate::Result<crate::WatchResponse>),
    Ended,
}

/// A store watch that reports its own end (a [`StreamMap`] drops ended streams silently).
struct Watcher {
    stream: WatchStream,
    ended: bool,
}

impl Stream for Watcher {
    type Item = WatcherItem;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WatcherItem>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match self.stream.poll_next_unpin(cx) {
            Poll::Ready(Some(batch)) => Poll::Ready(Some(WatcherItem::Batch(batch))),
            Poll::Ready(None) => {
                self.ended = true;
                Poll::Ready(Some(WatcherItem::Ended))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The client went away: nothing more can be sent on this stream.
struct Closed;

/// The state of one watch stream.
struct Session {
    server: EtcdServer,
    out: mpsc::Sender<Result<pb::WatchResponse, Status>>,
    watchers: StreamMap<i64, Watcher>,
    /// Watchers that asked for large responses to be split.
    fragmenting: HashSet<i64>,
    /// The next ID to try when the client leaves the choice to the server.
    next_id: i64,
}

impl Session {
    fn new(server: EtcdServer, out: mpsc::Sender<Result<pb::WatchResponse, Status>>) -> Self {
        Session {
            server,
            out,
            watchers: StreamMap::new(),
            fragmenting: HashSet::new(),
            next_id: 0,
        }
    }

    /// Serve the stream until the client closes it or goes away, or the server or the
    /// store stops.
    async fn run(mut self, mut incoming: Streaming<pb::WatchRequest>) {
        let server = self.server.clone();
        let stopped = server.stopped();
        tokio::pin!(stopped);
        loop {
            let step = tokio::select! {
                () = &mut stopped => {
                    let _ = self.send(Err(Status::unavailable(StoreError::Stopped.to_string()))).await;
                    return;
                }
                msg = incoming.next() => match msg {
                    Some(Ok(req)) => self.handle_request(req).await,
                    // The client closed its side, or the stream broke: etcd ends the
                    // stream in both cases.
                    Some(Err(_)) | None => return,
                },
                Some((id, item)) = self.watchers.next(), if !self.watchers.is_empty() => {
                    self.handle_watcher(id, item).await
                }
            };
            if step.is_err() {
                return;
            }
        }
    }

    async fn handle_request(&mut self, req: pb::WatchRequest) -> Result<(), Closed> {
        match req.request_union {
            Some(RequestUnion::CreateRequest(create)) => self.create(create).await,
            Some(RequestUnion::CancelRequest(cancel)) => self.cancel(cancel.watch_id).await,
            Some(RequestUnion::ProgressRequest(_)) => self.progress().await,
            None => Ok(()),
        }
    }

    async fn create(&mut self, create: pb::WatchCreateRequest) -> Result<(), Closed> {
        let id = if create.watch_id != 0 {
            if self.watchers.contains_key(&create.watch_id) {
                return self.refuse(DUPLICATE_WATCH_ID.to_string()).await;
            }
            create.watch_id
        } else {
            while self.watchers.contains_key(&self.next_id) {
                self.next_id += 1;
            }
            let id = self.next_id;
            self.next_id += 1;
            id
        };
        let request = match watch_from_proto(&create) {
            Ok(r) => r,
            Err(e) => return self.refuse(e.to_string()).await,
        };
        // The revision before the watch starts: a client that resumes after it misses
        // nothing (it may see an event twice, never lose one).
        let revision = match self.server.current_revision().await {
            Ok(rev) => rev,
            Err(status) => return self.send(Err(status)).await,
        };
        let created = pb::WatchResponse {
            header: Some(self.server.identity.header(revision)),
            watch_id: id,
            created: true,
            ..Default::default()
        };
        match self.server.store.watch(request).await {
            Ok(stream) => {
                self.send(Ok(created)).await?;
                self.watchers.insert(
                    id,
                    Watcher {
                        stream,
                        ended: false,
                    },
                );
                if create.fragment {
                    self.fragmenting.insert(id);
                }
                Ok(())
            }
            Err(StoreError::Compacted { compact_revision }) => {
                self.send(Ok(created)).await?;
                self.send(Ok(self.compacted(id, revision, compact_revision)))
                    .await
            }
            Err(e) => {
                let refused = pb::WatchResponse {
                    canceled: true,
                    cancel_reason: e.to_string(),
                    ..created
                };
                self.send(Ok(refused)).await
            }
        }
    }

    /// Answer a create that cannot be served, as etcd does: created and canceled at
    /// once, with watch ID -1 and the reason.
    async fn refuse(&mut self, reason: String) -> Result<(), Closed> {
        let revision = self.server.current_revision().await.unwrap_or(0);
        let resp = pb::WatchResponse {
            header: Some(self.server.identity.header(revision)),
            watch_id: NO_WATCH_ID,
            created: true,
            canceled: true,
            cancel_reason: reason,
            ..Default::default()
        };
        self.send(Ok(resp)).await
    }

    async fn cancel(&mut self, id: i64) -> Result<(), Closed> {
        if self.remove(id).is_none() {
            return Ok(());
        }
        let revision = self.server.current_revision().await.unwrap_or(0);
        let resp = pb::WatchResponse {
            header: Some(self.server.identity.header(revision)),
            watch_id: id,
            canceled: true,
            ..Default::default()
        };
        self.send(Ok(resp)).await
    }

    async fn progress(&mut self) -> Result<(), Closed> {
        if self.watchers.is_empty() {
            let revision = match self.server.current_revision().await {
                Ok(rev) => rev,
                Err(status) => return self.send(Err(status)).await,
            };
            let resp = pb::WatchResponse {
                header: Some(self.server.identity.header(revision)),
                watch_id: NO_WATCH_ID,
                ..Default::default()
            };
            return self.send(Ok(resp)).await;
        }
        for (_, watcher) in self.watchers.iter_mut() {
            watcher.stream.request_progress();
        }
        Ok(())
    }

    async fn handle_watcher(&mut self, id: i64, item: WatcherItem) -> Result<(), Closed> {
        match item {
            WatcherItem::Batch(Ok(batch)) => {
                let fragment = self.fragmenting.contains(&id);
                let resp = pb::WatchResponse {
                    header: Some(self.server.identity.header(batch.header.revision)),
                    watch_id: id,
                    events: batch.events.into_iter().map(event_to_proto).collect(),
                    ..Default::default()
                };
                for part in if fragment {
                    fragments(resp)
                } else {
                    vec![resp]
                } {
                    self.send(Ok(part)).await?;
                }
                Ok(())
            }
            WatcherItem::Batch(Err(StoreError::Compacted { compact_revision })) => {
                self.remove(id);
                let revision = self.server.current_revision().await.unwrap_or(0);
                self.send(Ok(self.compacted(id, revision, compact_revision)))
                    .await
            }
            WatcherItem::Batch(Err(e)) => {
                self.remove(id);
                let revision = self.server.current_revision().await.unwrap_or(0);
                let resp = pb::WatchResponse {
                    header: Some(self.server.identity.header(revision)),
                    watch_id: id,
                    canceled: true,
                    cancel_reason: e.to_string(),
                    ..Default::default()
                };
                self.send(Ok(resp)).await
            }
            WatcherItem::Ended => {
                // The store stopped: fail the whole stream so the client reconnects.
                self.send(Err(Status::unavailable(StoreError::Stopped.to_string())))
                    .await?;
                Err(Closed)
            }
        }
    }

    /// Forget a watcher; dropping its stream cancels the store's watch.
    fn remove(&mut self, id: i64) -> Option<Watcher> {
        self.fragmenting.remove(&id);
        self.watchers.remove(&id)
    }

    /// etcd's answer for a watcher whose history is compacted away.
    fn compacted(&self, id: i64, revision: i64, compact_revision: i64) -> pb::WatchResponse {
        pb::WatchResponse {
            header: Some(self.server.identity.header(revision)),
            watch_id: id,
            canceled: true,
            compact_revision,
            ..Default::default()
        }
    }

    async fn send(&self, resp: Result<pb::WatchResponse, Status>) -> Result<(), Closed> {
        self.out.send(resp).await.map_err(|_| Closed)
    }
}

/// Split a response larger than the request limit into several, each holding as many
/// events as fit (at least one), all but the last marked `fragment` (etcd's rule).
fn fragments(resp: pb::WatchResponse) -> Vec<pb::WatchResponse> {
    if resp.encoded_len() < MAX_REQUEST_BYTES || resp.events.len() < 2 {
        return vec![resp];
    }
    let template = pb::WatchResponse {
        events: Vec::new(),
        ..resp.clone()
    };
    let base = template.encoded_len();
    let mut parts = Vec::new();
    let mut current = template.clone();
    let mut size = base;
    for event in resp.events {
        let len = event.encoded_len() + 8; // field tag and length prefix, generously
        if !current.events.is_empty() && size + len > MAX_REQUEST_BYTES {
            parts.push(pb::WatchResponse {
                fragment: true,
                ..std::mem::replace(&mut current, template.clone())
            });
            size = base;
        }
        size += len;
        current.events.push(event);
    }
    parts.push(current);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mvccpb;

    fn event(size: usize) -> mvccpb::Event {
        mvccpb::Event {
            r#type: 0,
            kv: Some(mvccpb::KeyValue {
                key: "k".into(),
                value: vec![7u8; size].into(),
                ..Default::default()
            }),
            prev_kv: None,
        }
    }

    #[test]
    fn small_responses_are_not_fragmented() {
        let resp = pb::WatchResponse {
            watch_id: 3,
            events: vec![event(10), event(10)],
            ..Default::default()
        };
        let parts = fragments(resp.clone());
        assert_eq!(parts, vec![resp]);
    }

    #[test]
    fn large_responses_split_with_fragment_flags() {
        let third = MAX_REQUEST_BYTES / 3;
        let resp = pb::WatchResponse {
            watch_id: 3,
            events: (0..5).map(|_| event(third)).collect(),
            ..Default::default()
        };
        let parts = fragments(resp);
        assert!(parts.len() >= 3, "{} parts", parts.len());
        assert_eq!(parts.iter().map(|p| p.events.len()).sum::<usize>(), 5);
        for p in &parts[..parts.len() - 1] {
            assert!(p.fragment);
            assert!(p.encoded_len() <= MAX_REQUEST_BYTES);
        }
        assert!(!parts.last().unwrap().fragment);
        assert!(parts.iter().all(|p| p.watch_id == 3));
    }

    #[test]
    fn one_huge_event_is_sent_whole() {
        let resp = pb::WatchResponse {
            events: vec![event(MAX_REQUEST_BYTES * 2)],
            ..Default::default()
        };
        assert_eq!(fragments(resp).len(), 1);
    }
}
