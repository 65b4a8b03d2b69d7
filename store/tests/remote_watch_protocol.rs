//! `RemoteStore`'s watch against a scripted Watch server, for the answers a real etcd
//! gives too rarely to test on demand: a watch canceled mid-stream because its history
//! was compacted, and a progress notification.

use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt};
use skiff_store::proto::etcdserverpb as pb;
use skiff_store::proto::etcdserverpb::watch_server::{Watch, WatchServer};
use skiff_store::{KeyRange, KvStore, RemoteOptions, RemoteStore, StoreError, WatchRequest};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

/// The compaction revision the scripted server cancels with.
const COMPACTED_AT: i64 = 42;

/// Answers a create with `created`, a progress request with an empty response at
/// revision 7, and the first progress request after that by canceling the watch as
/// compacted.
struct ScriptedWatch;

fn header(revision: i64) -> Option<pb::ResponseHeader> {
    Some(pb::ResponseHeader {
        revision,
        ..Default::default()
    })
}

#[tonic::async_trait]
impl Watch for ScriptedWatch {
    type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchResponse, Status>> + Send>>;

    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let mut requests = request.into_inner();
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(async move {
            let mut progress_answered = false;
            while let Some(Ok(req)) = requests.next().await {
                let resp = match req.request_union {
                    Some(pb::watch_request::RequestUnion::CreateRequest(_)) => pb::WatchResponse {
                        header: header(5),
                        watch_id: 0,
                        created: true,
                        ..Default::default()
                    },
                    Some(pb::watch_request::RequestUnion::ProgressRequest(_))
                        if !progress_answered =>
                    {
                        progress_answered = true;
                        pb::WatchResponse {
                            header: header(7),
                            watch_id: -1,
                            ..Default::default()
                        }
                    }
                    Some(_) => pb::WatchResponse {
                        header: header(50),
                        watch_id: 0,
                        canceled: true,
                        compact_revision: COMPACTED_AT,
                        cancel_reason: "mvcc: required revision has been compacted".into(),
                        ..Default::default()
                    },
                    None => continue,
                };
                if tx.send(Ok(resp)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

#[tokio::test]
async fn progress_is_forwarded_and_a_compacted_cancel_ends_the_stream() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(WatchServer::new(ScriptedWatch))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let store = RemoteStore::connect(vec![url], RemoteOptions::default())
        .await
        .unwrap();
    let mut w = store
        .watch(WatchRequest {
            range: KeyRange::key("k"),
            ..Default::default()
        })
        .await
        .unwrap();
    let wait = Duration::from_secs(10);

    w.request_progress();
    let progress = tokio::time::timeout(wait, w.next_batch())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (progress.header.revision, progress.events.len()),
        (7, 0),
        "progress notification"
    );

    w.request_progress();
    let err = tokio::time::timeout(wait, w.next_batch())
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::Compacted {
            compact_revision: COMPACTED_AT
        }
    );
    let end = tokio::time::timeout(wait, w.next_batch()).await.unwrap();
    assert!(end.is_none(), "the stream ends after Compacted: {end:?}");
}
