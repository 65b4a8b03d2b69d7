//! `RemoteStore` against the real etcd (`/usr/bin/etcd`): the conformance suite, then
//! what only a client of a remote store has to get right (failover, watch resumption
//! across a restart, keep-alives over one stream).

mod conformance;
mod support;

use std::sync::Arc;
use std::time::Duration;

use skiff_store::{
    KeyRange, KvStore, PutRequest, RemoteOptions, RemoteStore, StoreError, WatchRequest,
};
use support::etcd::{free_port, EtcdProcess};

async fn connect(endpoints: Vec<String>) -> RemoteStore {
    let options = RemoteOptions {
        dial_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    RemoteStore::connect(endpoints, options)
        .await
        .expect("connect to etcd")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_against_real_etcd() {
    let Some(etcd) = EtcdProcess::start() else {
        return;
    };
    let store = connect(vec![etcd.client_url.clone()]).await;
    conformance::run("etcd", Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_past_an_unreachable_endpoint() {
    let Some(etcd) = EtcdProcess::start() else {
        return;
    };
    let dead = format!("127.0.0.1:{}", free_port());
    let store = connect(vec![dead.clone(), etcd.client_url.clone()]).await;
    let rev = store
        .put(PutRequest::new("k", "v"))
        .await
        .unwrap()
        .header
        .revision;
    assert_eq!(store.get(b"k").await.unwrap().unwrap().mod_revision, rev);

    let none = RemoteStore::connect(
        vec![dead],
        RemoteOptions {
            dial_timeout: Duration::from_millis(500),
            ..Default::default()
        },
    )
    .await;
    assert!(
        matches!(none, Err(StoreError::Remote(_))),
        "no endpoint reachable: {none:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_after_the_server_restarts() {
    let Some(mut etcd) = EtcdProcess::start() else {
        return;
    };
    let store = connect(vec![etcd.client_url.clone()]).await;
    let r1 = store
        .put(PutRequest::new("w/a", "1"))
        .await
        .unwrap()
        .header
        .revision;
    let mut w = store
        .watch(WatchRequest {
            range: KeyRange::prefix("w/"),
            start_revision: r1,
            ..Default::default()
        })
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), w.next_batch())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.events[0].kv.mod_revision, r1);

    etcd.restart();
    // Writes made while the watch is reconnecting are delivered once, in order.
    let mut revs = Vec::new();
    for i in 0..3 {
        let put = tokio::time::timeout(
            Duration::from_secs(20),
            store.put(PutRequest::new("w/b", format!("{i}"))),
        );
        revs.push(
            put.await
                .expect("put after restart in time")
                .expect("put after restart")
                .header
                .revision,
        );
    }
    let mut seen = Vec::new();
    while seen.len() < revs.len() {
        let batch = tokio::time::timeout(Duration::from_secs(20), w.next_batch())
            .await
            .expect("events after the restart")
            .expect("watch still open")
            .expect("no watch error");
        seen.extend(batch.events.iter().map(|e| e.kv.mod_revision));
    }
    assert_eq!(seen, revs, "every event once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_keep_alives_share_one_stream() {
    let Some(etcd) = EtcdProcess::start() else {
        return;
    };
    let store = connect(vec![etcd.client_url.clone()]).await;
    let mut leases = Vec::new();
    for ttl in [10, 20, 30, 40] {
        leases.push(store.lease_grant(0, ttl).await.unwrap());
    }
    let renewals = (0..40).map(|i| {
        let store = store.clone();
        let lease = leases[i % leases.len()];
        tokio::spawn(async move { (lease, store.lease_keep_alive(lease.id).await) })
    });
    for r in futures::future::join_all(renewals).await {
        let (lease, resp) = r.unwrap();
        let resp = resp.expect("renewal");
        assert_eq!(
            (resp.id, resp.ttl),
            (lease.id, lease.ttl),
            "each caller gets its own lease's answer"
        );
    }
    store.lease_revoke(leases[0].id).await.unwrap();
    assert_eq!(
        store.lease_keep_alive(leases[0].id).await.unwrap_err(),
        StoreError::LeaseNotFound
    );
}
