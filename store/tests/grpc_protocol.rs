//! The etcd v3 gRPC facade driven through the generated tonic clients
//! (`skiff_store::proto`), for the parts of etcd's protocol that etcdctl 3.4 cannot
//! show: count-only ranges, watch ID assignment, duplicate IDs, cancels, progress
//! requests, the compacted-watch answer and request size limits.

use std::sync::Arc;
use std::time::Duration;

use skiff_store::grpc::{serve, ServerIdentity};
use skiff_store::proto::etcdserverpb as pb;
use skiff_store::proto::etcdserverpb::kv_client::KvClient;
use skiff_store::proto::etcdserverpb::lease_client::LeaseClient;
use skiff_store::proto::etcdserverpb::maintenance_client::MaintenanceClient;
use skiff_store::proto::etcdserverpb::watch_client::WatchClient;
use skiff_store::proto::etcdserverpb::watch_request::RequestUnion;
use skiff_store::{MemoryBackend, MvccStore, StoreConfig};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic::{Code, Streaming};

const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// A facade over a fresh in-memory store on a random port, stopped when dropped.
struct Server {
    url: String,
    _stop: oneshot::Sender<()>,
}

impl Server {
    async fn start() -> Server {
        Server::start_with(MvccStore::in_memory().await).await
    }

    async fn start_with(store: MvccStore) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let identity = ServerIdentity::new("default", vec![url.clone()]);
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(serve(Arc::new(store), identity, listener, async {
            let _ = rx.await;
        }));
        Server { url, _stop: tx }
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(self.url.clone())
            .expect("url")
            .connect()
            .await
            .expect("connect")
    }

    async fn kv(&self) -> KvClient<Channel> {
        KvClient::new(self.channel().await)
    }

    async fn watch(&self) -> Watcher {
        let (tx, rx) = mpsc::channel(16);
        let mut client = WatchClient::new(self.channel().await);
        let responses = client
            .watch(ReceiverStream::new(rx))
            .await
            .expect("watch stream")
            .into_inner();
        Watcher {
            requests: tx,
            responses,
        }
    }
}

/// One client watch stream.
struct Watcher {
    requests: mpsc::Sender<pb::WatchRequest>,
    responses: Streaming<pb::WatchResponse>,
}

impl Watcher {
    async fn send(&self, req: RequestUnion) {
        self.requests
            .send(pb::WatchRequest {
                request_union: Some(req),
            })
            .await
            .expect("send");
    }

    async fn create(&self, key: &str, start_revision: i64, watch_id: i64) {
        self.send(RequestUnion::CreateRequest(pb::WatchCreateRequest {
            key: key.as_bytes().to_vec().into(),
            start_revision,
            watch_id,
            ..Default::default()
        }))
        .await;
    }

    async fn next(&mut self) -> pb::WatchResponse {
        match tokio::time::timeout(STEP_TIMEOUT, self.responses.next()).await {
            Ok(Some(Ok(resp))) => resp,
            other => panic!("no watch response: {other:?}"),
        }
    }
}

async fn put(kv: &mut KvClient<Channel>, key: &str, value: &str) -> i64 {
    let resp = kv
        .put(pb::PutRequest {
            key: key.as_bytes().to_vec().into(),
            value: value.as_bytes().to_vec().into(),
            ..Default::default()
        })
        .await
        .expect("put")
        .into_inner();
    resp.header.expect("header").revision
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_only_limit_and_headers() {
    let s = Server::start().await;
    let mut kv = s.kv().await;
    for k in ["p/a", "p/b", "p/c"] {
        put(&mut kv, k, "v").await;
    }
    let resp = kv
        .range(pb::RangeRequest {
            key: "p/".into(),
            range_end: "p0".into(),
            count_only: true,
            ..Default::default()
        })
        .await
        .expect("range")
        .into_inner();
    assert_eq!(resp.count, 3);
    assert!(resp.kvs.is_empty());
    let header = resp.header.expect("header");
    assert_eq!(header.revision, 4);
    assert_ne!(header.member_id, 0);
    assert_ne!(header.cluster_id, 0);

    let resp = kv
        .range(pb::RangeRequest {
            key: "p/".into(),
            range_end: "p0".into(),
            limit: 2,
            ..Default::default()
        })
        .await
        .expect("range")
        .into_inner();
    assert_eq!((resp.kvs.len(), resp.more, resp.count), (2, true, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_ids_cancel_and_progress() {
    let s = Server::start().await;
    let mut kv = s.kv().await;
    let mut w = s.watch().await;

    // No watchers yet: a progress request is answered at once, for watch ID -1.
    w.send(RequestUnion::ProgressRequest(pb::WatchProgressRequest {}))
        .await;
    let progress = w.next().await;
    assert_eq!(progress.watch_id, -1);
    assert!(progress.events.is_empty() && !progress.created);

    // IDs are assigned from 0; a client-chosen ID is kept; a duplicate is refused.
    w.create("a", 0, 0).await;
    let created = w.next().await;
    assert!(created.created && !created.canceled);
    assert_eq!(created.watch_id, 0);
    assert_eq!(created.header.expect("header").revision, 1);
    w.create("b", 0, 7).await;
    assert_eq!(w.next().await.watch_id, 7);
    w.create("c", 0, 0).await;
    assert_eq!(w.next().await.watch_id, 1);
    w.create("d", 0, 7).await;
    let dup = w.next().await;
    assert!(dup.created && dup.canceled);
    assert_eq!(dup.watch_id, -1);
    assert_eq!(
        dup.cancel_reason,
        "mvcc: duplicate watch ID provided on the WatchStream"
    );

    // Events reach the right watcher.
    let rev = put(&mut kv, "b", "1").await;
    let ev = w.next().await;
    assert_eq!(ev.watch_id, 7);
    assert_eq!(ev.events.len(), 1);
    assert_eq!(ev.events[0].kv.as_ref().expect("kv").mod_revision, rev);
    assert_eq!(ev.header.expect("header").revision, rev);

    // Cancel: answered for a live watcher, silently ignored for an unknown one.
    w.send(RequestUnion::CancelRequest(pb::WatchCancelRequest {
        watch_id: 99,
    }))
    .await;
    w.send(RequestUnion::CancelRequest(pb::WatchCancelRequest {
        watch_id: 7,
    }))
    .await;
    let canceled = w.next().await;
    assert_eq!((canceled.watch_id, canceled.canceled), (7, true));
    put(&mut kv, "b", "2").await;
    let rev = put(&mut kv, "a", "1").await;
    let ev = w.next().await;
    assert_eq!(ev.watch_id, 0, "the canceled watcher sent nothing: {ev:?}");
    assert_eq!(ev.events[0].kv.as_ref().expect("kv").mod_revision, rev);

    // With watchers, each one answers a progress request once caught up.
    w.send(RequestUnion::ProgressRequest(pb::WatchProgressRequest {}))
        .await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let p = w.next().await;
        assert!(p.events.is_empty(), "{p:?}");
        assert_eq!(p.header.expect("header").revision, rev);
        ids.push(p.watch_id);
    }
    ids.sort();
    assert_eq!(ids, [0, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_start_revision_is_created_then_canceled() {
    let s = Server::start().await;
    let mut kv = s.kv().await;
    for v in ["1", "2", "3"] {
        put(&mut kv, "k", v).await; // revisions 2, 3, 4
    }
    kv.compact(pb::CompactionRequest {
        revision: 3,
        physical: true,
    })
    .await
    .expect("compact");
    let mut w = s.watch().await;
    w.create("k", 2, 0).await;
    let created = w.next().await;
    assert!(created.created && !created.canceled);
    let canceled = w.next().await;
    assert_eq!(canceled.watch_id, created.watch_id);
    assert!(canceled.canceled);
    assert_eq!(canceled.compact_revision, 3);

    // The stream still serves other watchers.
    w.create("k", 3, 0).await;
    let created = w.next().await;
    assert!(created.created && !created.canceled);
    let ev = w.next().await;
    assert_eq!(ev.events.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_etcds_codes_and_messages() {
    let s = Server::start().await;
    let mut kv = s.kv().await;

    let err = kv
        .put(pb::PutRequest::default())
        .await
        .expect_err("empty key");
    assert_eq!(
        (err.code(), err.message()),
        (Code::InvalidArgument, "etcdserver: key is not provided")
    );

    let err = kv
        .range(pb::RangeRequest {
            key: "k".into(),
            revision: 50,
            ..Default::default()
        })
        .await
        .expect_err("future revision");
    assert_eq!(
        (err.code(), err.message()),
        (
            Code::OutOfRange,
            "etcdserver: mvcc: required revision is a future revision"
        )
    );

    let big = pb::PutRequest {
        key: "k".into(),
        value: vec![0u8; 1_600 * 1024].into(),
        ..Default::default()
    };
    let err = kv.put(big).await.expect_err("too large");
    assert_eq!(
        (err.code(), err.message()),
        (Code::InvalidArgument, "etcdserver: request is too large")
    );

    // Past the gRPC limit (request limit + 512 KiB) the message is not even decoded.
    let huge = pb::PutRequest {
        key: "k".into(),
        value: vec![0u8; 3 * 1024 * 1024].into(),
        ..Default::default()
    };
    let err = kv.put(huge).await.expect_err("over the gRPC limit");
    assert_ne!(err.code(), Code::Ok);

    let mut lease = LeaseClient::new(s.channel().await);
    let err = lease
        .lease_revoke(pb::LeaseRevokeRequest { id: 42 })
        .await
        .expect_err("unknown lease");
    assert_eq!(
        (err.code(), err.message()),
        (Code::NotFound, "etcdserver: requested lease not found")
    );
    // Unknown leases: time-to-live answers TTL -1, keep-alive TTL 0, as etcd does.
    let ttl = lease
        .lease_time_to_live(pb::LeaseTimeToLiveRequest { id: 42, keys: true })
        .await
        .expect("ttl")
        .into_inner();
    assert_eq!(ttl.ttl, -1);
    let (tx, rx) = mpsc::channel(1);
    tx.send(pb::LeaseKeepAliveRequest { id: 42 })
        .await
        .expect("send");
    let mut answers = lease
        .lease_keep_alive(ReceiverStream::new(rx))
        .await
        .expect("keep-alive")
        .into_inner();
    let answer = tokio::time::timeout(STEP_TIMEOUT, answers.next())
        .await
        .expect("answer")
        .expect("some")
        .expect("ok");
    assert_eq!((answer.id, answer.ttl), (42, 0));

    let mut maintenance = MaintenanceClient::new(s.channel().await);
    let err = maintenance
        .defragment(pb::DefragmentRequest {})
        .await
        .expect_err("unsupported");
    assert_eq!(err.code(), Code::Unimplemented);
    let alarms = maintenance
        .alarm(pb::AlarmRequest::default())
        .await
        .expect("alarm list")
        .into_inner();
    assert!(alarms.alarms.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_prev_kv_and_progress_notify() {
    let config = StoreConfig {
        progress_interval: Duration::from_millis(200),
        ..StoreConfig::default()
    };
    let store = MvccStore::open(MemoryBackend, config).await.expect("store");
    let s = Server::start_with(store).await;
    let mut kv = s.kv().await;
    put(&mut kv, "f", "old").await;
    let mut w = s.watch().await;
    w.send(RequestUnion::CreateRequest(pb::WatchCreateRequest {
        key: "f".into(),
        filters: vec![pb::watch_create_request::FilterType::Noput as i32],
        prev_kv: true,
        ..Default::default()
    }))
    .await;
    let created = w.next().await;
    assert!(created.created);
    put(&mut kv, "f", "new").await; // filtered out
    let del = kv
        .delete_range(pb::DeleteRangeRequest {
            key: "f".into(),
            ..Default::default()
        })
        .await
        .expect("delete")
        .into_inner();
    let ev = w.next().await;
    assert_eq!(ev.events.len(), 1, "{ev:?}");
    let event = &ev.events[0];
    assert_eq!(
        event.r#type,
        skiff_store::proto::mvccpb::event::EventType::Delete as i32
    );
    assert_eq!(
        event.kv.as_ref().expect("kv").mod_revision,
        del.header.expect("header").revision
    );
    assert_eq!(event.prev_kv.as_ref().expect("prev_kv").value, "new");

    // A watcher asking for progress notifications gets empty responses while idle.
    w.send(RequestUnion::CreateRequest(pb::WatchCreateRequest {
        key: "idle".into(),
        progress_notify: true,
        ..Default::default()
    }))
    .await;
    let created = w.next().await;
    assert!(created.created);
    let progress = w.next().await;
    assert_eq!(progress.watch_id, created.watch_id);
    assert!(progress.events.is_empty() && !progress.canceled);
    assert_eq!(
        progress.header.expect("header").revision,
        del.header.expect("header").revision
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_watch_streams_with_unavailable() {
    let s = Server::start().await;
    let mut w = s.watch().await;
    w.create("k", 0, 0).await;
    assert!(w.next().await.created);
    let Server { _stop: stop, .. } = s;
    let _ = stop.send(());
    match tokio::time::timeout(STEP_TIMEOUT, w.responses.next()).await {
        Ok(Some(Err(status))) => {
            assert_eq!(status.code(), Code::Unavailable);
            assert_eq!(status.message(), "etcdserver: server stopped");
        }
        other => panic!("expected the stream to end with Unavailable: {other:?}"),
    }
}
