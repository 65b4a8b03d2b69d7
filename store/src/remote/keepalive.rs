//! Lease renewals over etcd's bidirectional LeaseKeepAlive stream: one stream shared by
//! every [`KvStore::lease_keep_alive`] call of a store, opened on first use and again
//! after it breaks.
//!
//! etcd answers the requests of one stream in order, one response each; responses are
//! matched to waiting callers by lease ID, first come first served.
//!
//! [`KvStore::lease_keep_alive`]: crate::KvStore::lease_keep_alive

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

use crate::error::{Result, StoreError};
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::lease_client::LeaseClient;
use crate::remote::connection::{Conn, Connections};
use crate::remote::status::{classify, Failure};
use crate::types::LeaseId;

type Reply = oneshot::Sender<Result<pb::LeaseKeepAliveResponse>>;

/// The handle callers renew leases through; the stream lives in a task that ends when
/// every handle is dropped.
#[derive(Debug)]
pub(crate) struct KeepAlives {
    tx: mpsc::Sender<(LeaseId, Reply)>,
}

/// Whether an error came from the stream breaking (so a renewal may be sent again).
fn stream_broke(e: &StoreError) -> bool {
    matches!(e, StoreError::Remote(m) if m.starts_with(BROKE))
}

const BROKE: &str = "lease keep-alive stream broke";

impl KeepAlives {
    /// Start the task that owns the stream.
    pub fn start(conns: Arc<Connections>) -> KeepAlives {
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(run(conns, rx));
        KeepAlives { tx }
    }

    /// Renew `id` once; sent again on a new stream if the stream breaks meanwhile (a
    /// renewal is idempotent).
    pub async fn renew(&self, id: LeaseId) -> Result<pb::LeaseKeepAliveResponse> {
        let mut attempt = 0;
        loop {
            let (reply, wait) = oneshot::channel();
            self.tx
                .send((id, reply))
                .await
                .map_err(|_| StoreError::Remote("lease keep-alive task stopped".into()))?;
            let result = wait
                .await
                .unwrap_or_else(|_| Err(StoreError::Remote(format!("{BROKE}: task ended"))));
            match result {
                Err(e) if stream_broke(&e) && attempt < 2 => attempt += 1,
                other => return other,
            }
        }
    }
}

/// The open stream: where requests go, where responses come from, who waits for them.
struct Stream {
    requests: mpsc::Sender<pb::LeaseKeepAliveRequest>,
    responses: tonic::Streaming<pb::LeaseKeepAliveResponse>,
    conn: Conn,
}

async fn open(conns: &Connections, first: LeaseId) -> Result<Stream> {
    let conn = conns.get().await?;
    let (requests, rx) = mpsc::channel(256);
    // etcd sends response headers with its first response: queue the first request
    // before awaiting the call.
    let _ = requests.send(pb::LeaseKeepAliveRequest { id: first }).await;
    match LeaseClient::new(conn.channel.clone())
        .lease_keep_alive(ReceiverStream::new(rx))
        .await
    {
        Ok(resp) => Ok(Stream {
            requests,
            responses: resp.into_inner(),
            conn,
        }),
        Err(status) => {
            let e = match classify(&status) {
                Failure::Etcd(e) => e,
                Failure::NotSent(t) | Failure::InFlight(t) => {
                    conns.failed(&conn).await;
                    StoreError::Remote(format!("{BROKE}: {t}"))
                }
            };
            Err(e)
        }
    }
}

fn fail_all(pending: &mut VecDeque<(LeaseId, Reply)>, why: &str) {
    for (_, reply) in pending.drain(..) {
        let _ = reply.send(Err(StoreError::Remote(format!("{BROKE}: {why}"))));
    }
}

/// The next response of the stream; never ready while there is no stream.
async fn next_response(
    stream: &mut Option<Stream>,
) -> Result<Option<pb::LeaseKeepAliveResponse>, tonic::Status> {
    match stream.as_mut() {
        Some(s) => s.responses.message().await,
        None => std::future::pending().await,
    }
}

async fn run(conns: Arc<Connections>, mut rx: mpsc::Receiver<(LeaseId, Reply)>) {
    let mut pending: VecDeque<(LeaseId, Reply)> = VecDeque::new();
    let mut stream: Option<Stream> = None;
    loop {
        tokio::select! {
            req = rx.recv() => {
                let Some((id, reply)) = req else { return };
                match stream.as_ref() {
                    None => match open(&conns, id).await {
                        Ok(s) => stream = Some(s),
                        Err(e) => {
                            let _ = reply.send(Err(e));
                            continue;
                        }
                    },
                    Some(s) => {
                        if s.requests.send(pb::LeaseKeepAliveRequest { id }).await.is_err() {
                            fail_all(&mut pending, "request stream closed");
                            stream = None;
                            let _ = reply.send(Err(StoreError::Remote(format!("{BROKE}: request stream closed"))));
                            continue;
                        }
                    }
                }
                pending.push_back((id, reply));
            }
            msg = next_response(&mut stream) => match msg {
                Ok(Some(resp)) => {
                    if let Some(pos) = pending.iter().position(|(id, _)| *id == resp.id) {
                        if let Some((_, reply)) = pending.remove(pos) {
                            let _ = reply.send(Ok(resp));
                        }
                    }
                }
                Ok(None) => {
                    fail_all(&mut pending, "stream ended");
                    stream = None;
                }
                Err(status) => {
                    let failure = classify(&status);
                    if let Some(s) = stream.take() {
                        if !matches!(failure, Failure::Etcd(_)) {
                            conns.failed(&s.conn).await;
                        }
                    }
                    match failure {
                        Failure::Etcd(e) => {
                            for (_, reply) in pending.drain(..) {
                                let _ = reply.send(Err(e.clone()));
                            }
                        }
                        Failure::NotSent(t) | Failure::InFlight(t) => fail_all(&mut pending, &t),
                    }
                }
            }
        }
    }
}
