//! etcd semantics of `MvccStore` on the in-memory backend: revisions, history,
//! transactions, watches, leases and compaction.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use skiff_store::*;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn put(s: &MvccStore, k: &str, v: &str) -> Revision {
    s.put(PutRequest::new(b(k), b(v)))
        .await
        .unwrap()
        .header
        .revision
}

async fn value_at(s: &MvccStore, k: &str, rev: Revision) -> Result<Option<Bytes>> {
    let resp = s
        .range(RangeRequest {
            revision: rev,
            ..RangeRequest::key(b(k))
        })
        .await?;
    Ok(resp.kvs.into_iter().next().map(|kv| kv.value))
}

/// The next batch of a watch, failing the test after 5 s.
async fn next(w: &mut WatchStream) -> Result<WatchResponse> {
    tokio::time::timeout(Duration::from_secs(5), w.next_batch())
        .await
        .expect("watch batch within 5s")
        .expect("watch stream still open")
}

#[tokio::test]
async fn revisions_count_transactions_not_keys() {
    let s = MvccStore::in_memory().await;
    assert_eq!(s.revision(), 1, "an empty store is at revision 1, as etcd");
    assert_eq!(put(&s, "a", "1").await, 2);
    // A delete of nothing changes nothing.
    let d = s
        .delete_range(DeleteRangeRequest {
            range: KeyRange::key(b("zz")),
            prev_kv: false,
        })
        .await
        .unwrap();
    assert_eq!((d.deleted, d.header.revision), (0, 2));
    // One transaction, two keys, one revision.
    let t = s
        .txn(TxnRequest {
            success: vec![
                RequestOp::Put(PutRequest::new(b("b"), b("1"))),
                RequestOp::Put(PutRequest::new(b("c"), b("1"))),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(t.header.revision, 3);
    let all = s.range(RangeRequest::prefix(b(""))).await;
    assert_eq!(all, Err(StoreError::EmptyKey));
    let all = s
        .range(RangeRequest {
            range: KeyRange::range(b("\0"), b("\0")),
            ..Default::default()
        })
        .await
        .unwrap();
    let mods: Vec<_> = all
        .kvs
        .iter()
        .map(|kv| (kv.key.clone(), kv.mod_revision, kv.version))
        .collect();
    assert_eq!(mods, vec![(b("a"), 2, 1), (b("b"), 3, 1), (b("c"), 3, 1)]);
    put(&s, "a", "2").await;
    let a = s.get(b"a").await.unwrap().unwrap();
    assert_eq!((a.create_revision, a.mod_revision, a.version), (2, 4, 2));
}

#[tokio::test]
async fn history_tombstones_and_compaction() {
    let s = MvccStore::in_memory().await;
    put(&s, "k", "v1").await; // 2
    put(&s, "k", "v2").await; // 3
    s.delete_range(DeleteRangeRequest {
        range: KeyRange::key(b("k")),
        prev_kv: true,
    })
    .await
    .unwrap(); // 4
    put(&s, "k", "v3").await; // 5
    assert_eq!(value_at(&s, "k", 2).await.unwrap(), Some(b("v1")));
    assert_eq!(value_at(&s, "k", 4).await.unwrap(), None);
    let k = s.get(b"k").await.unwrap().unwrap();
    assert_eq!(
        (k.create_revision, k.version),
        (5, 1),
        "a delete starts a new generation"
    );
    assert!(matches!(
        value_at(&s, "k", 9).await,
        Err(StoreError::FutureRevision {
            current_revision: 5
        })
    ));

    s.compact(3).await.unwrap();
    assert_eq!(value_at(&s, "k", 3).await.unwrap(), Some(b("v2")));
    assert!(matches!(
        value_at(&s, "k", 2).await,
        Err(StoreError::Compacted {
            compact_revision: 3
        })
    ));
    assert!(matches!(
        s.compact(3).await,
        Err(StoreError::Compacted { .. })
    ));
    assert!(matches!(
        s.compact(99).await,
        Err(StoreError::FutureRevision { .. })
    ));
    assert_eq!(s.status().await.unwrap().compact_revision, 3);
}

#[tokio::test]
async fn transactions_compare_and_branch_atomically() {
    let s = MvccStore::in_memory().await;
    // create-if-absent: create_revision == 0
    let create = |v: &str| TxnRequest {
        compare: vec![Compare {
            range: KeyRange::key(b("lock")),
            result: CompareResult::Equal,
            target: CompareTarget::Create(0),
        }],
        success: vec![RequestOp::Put(PutRequest::new(b("lock"), b(v)))],
        failure: vec![RequestOp::Range(RangeRequest::key(b("lock")))],
    };
    let first = s.txn(create("one")).await.unwrap();
    assert!(first.succeeded);
    let second = s.txn(create("two")).await.unwrap();
    assert!(!second.succeeded);
    match &second.responses[0] {
        ResponseOp::Range(r) => assert_eq!(r.kvs[0].value, b("one")),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        second.header.revision, first.header.revision,
        "a failed guard writes nothing"
    );

    // Optimistic concurrency on mod_revision, as the API server does.
    let rev = first.header.revision;
    let update = |m: Revision| TxnRequest {
        compare: vec![Compare {
            range: KeyRange::key(b("lock")),
            result: CompareResult::Equal,
            target: CompareTarget::Mod(m),
        }],
        success: vec![RequestOp::Put(PutRequest {
            prev_kv: true,
            ..PutRequest::new(b("lock"), b("three"))
        })],
        failure: vec![],
    };
    assert!(s.txn(update(rev)).await.unwrap().succeeded);
    assert!(!s.txn(update(rev)).await.unwrap().succeeded);

    // A value compare on a missing key fails; a version compare sees 0.
    let missing = |target| TxnRequest {
        compare: vec![Compare {
            range: KeyRange::key(b("nope")),
            result: CompareResult::Equal,
            target,
        }],
        ..Default::default()
    };
    assert!(
        !s.txn(missing(CompareTarget::Value(b(""))))
            .await
            .unwrap()
            .succeeded
    );
    assert!(
        s.txn(missing(CompareTarget::Version(0)))
            .await
            .unwrap()
            .succeeded
    );

    // Reads inside a transaction see its earlier writes.
    let t = s
        .txn(TxnRequest {
            success: vec![
                RequestOp::Put(PutRequest::new(b("x"), b("1"))),
                RequestOp::Range(RangeRequest::key(b("x"))),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    match &t.responses[1] {
        ResponseOp::Range(r) => assert_eq!(r.kvs.len(), 1),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    let s = MvccStore::in_memory().await;
    put(&s, "keep", "me").await;
    let before = s.revision();
    let dup = TxnRequest {
        success: vec![
            RequestOp::Put(PutRequest::new(b("a"), b("1"))),
            RequestOp::Put(PutRequest::new(b("a"), b("2"))),
        ],
        ..Default::default()
    };
    assert_eq!(s.txn(dup).await, Err(StoreError::DuplicateKey));
    let put_in_deleted = TxnRequest {
        success: vec![
            RequestOp::DeleteRange(DeleteRangeRequest {
                range: KeyRange::prefix(b("a")),
                prev_kv: false,
            }),
            RequestOp::Put(PutRequest::new(b("ab"), b("2"))),
        ],
        ..Default::default()
    };
    assert_eq!(s.txn(put_in_deleted).await, Err(StoreError::DuplicateKey));
    let many = TxnRequest {
        success: (0..129)
            .map(|i| RequestOp::Put(PutRequest::new(Bytes::from(format!("k{i}")), b("v"))))
            .collect(),
        ..Default::default()
    };
    assert_eq!(s.txn(many).await, Err(StoreError::TooManyOps));
    assert_eq!(
        s.put(PutRequest::new(b(""), b("v"))).await,
        Err(StoreError::EmptyKey)
    );
    let huge = Bytes::from(vec![0u8; MAX_REQUEST_BYTES + 1]);
    assert_eq!(
        s.put(PutRequest::new(b("big"), huge)).await,
        Err(StoreError::RequestTooLarge)
    );
    assert_eq!(
        s.put(PutRequest {
            lease: 42,
            ..PutRequest::new(b("l"), b("v"))
        })
        .await,
        Err(StoreError::LeaseNotFound)
    );
    let ignore = PutRequest {
        ignore_value: true,
        ..PutRequest::new(b("missing"), b(""))
    };
    assert_eq!(s.put(ignore).await, Err(StoreError::KeyNotFound));
    // A txn whose second put names a missing lease writes neither put.
    let partial = TxnRequest {
        success: vec![
            RequestOp::Put(PutRequest::new(b("p1"), b("v"))),
            RequestOp::Put(PutRequest {
                lease: 77,
                ..PutRequest::new(b("p2"), b("v"))
            }),
        ],
        ..Default::default()
    };
    assert_eq!(s.txn(partial).await, Err(StoreError::LeaseNotFound));
    assert_eq!(s.revision(), before);
    assert_eq!(s.get(b"keep").await.unwrap().unwrap().value, b("me"));
    assert_eq!(s.get(b"p1").await.unwrap(), None);
}

#[tokio::test]
async fn watch_replays_history_then_follows_live_writes() {
    let s = MvccStore::in_memory().await;
    put(&s, "w/a", "1").await; // 2
    put(&s, "other", "x").await; // 3
    put(&s, "w/a", "2").await; // 4
    s.delete_range(DeleteRangeRequest {
        range: KeyRange::key(b("w/a")),
        prev_kv: false,
    })
    .await
    .unwrap(); // 5
    let mut w = s
        .watch(WatchRequest {
            range: KeyRange::prefix(b("w/")),
            start_revision: 2,
            prev_kv: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        for ev in next(&mut w).await.unwrap().events {
            seen.push(ev);
        }
    }
    let revs: Vec<_> = seen.iter().map(|e| (e.kind, e.kv.mod_revision)).collect();
    assert_eq!(
        revs,
        vec![
            (EventType::Put, 2),
            (EventType::Put, 4),
            (EventType::Delete, 5)
        ]
    );
    assert_eq!(seen[1].prev_kv.as_ref().unwrap().value, b("1"));
    assert_eq!(seen[2].prev_kv.as_ref().unwrap().value, b("2"));
    put(&s, "w/b", "live").await; // 6
    let live = next(&mut w).await.unwrap();
    assert_eq!(live.events.len(), 1);
    assert_eq!(
        (
            live.events[0].kv.mod_revision,
            live.events[0].kv.value.clone()
        ),
        (6, b("live"))
    );

    // Progress on request, once caught up.
    w.request_progress();
    let p = next(&mut w).await.unwrap();
    assert!(p.events.is_empty());
    assert_eq!(p.header.revision, 6);
}

#[tokio::test]
async fn watch_filters_and_compacted_start() {
    let s = MvccStore::in_memory().await;
    for i in 0..5 {
        put(&s, "f", &i.to_string()).await;
    }
    s.compact(4).await.unwrap();
    let err = s
        .watch(WatchRequest {
            range: KeyRange::key(b("f")),
            start_revision: 2,
            ..Default::default()
        })
        .await;
    assert!(matches!(
        err,
        Err(StoreError::Compacted {
            compact_revision: 4
        })
    ));
    let mut w = s
        .watch(WatchRequest {
            range: KeyRange::key(b("f")),
            no_put: true,
            ..Default::default()
        })
        .await
        .unwrap();
    put(&s, "f", "ignored").await;
    s.delete_range(DeleteRangeRequest {
        range: KeyRange::key(b("f")),
        prev_kv: false,
    })
    .await
    .unwrap();
    let batch = next(&mut w).await.unwrap();
    assert_eq!(batch.events.len(), 1);
    assert_eq!(batch.events[0].kind, EventType::Delete);
    assert!(batch.events[0].prev_kv.is_none(), "prev_kv only when asked");
}

#[tokio::test]
async fn slow_watcher_does_not_stall_writers_and_gets_every_event_once() {
    let cfg = StoreConfig {
        watch_buffer: 2,
        ..Default::default()
    };
    let s = MvccStore::open(MemoryBackend, cfg).await.unwrap();
    let mut slow = s
        .watch(WatchRequest {
            range: KeyRange::prefix(b("s/")),
            ..Default::default()
        })
        .await
        .unwrap();
    let start = s.revision();
    // Writers finish although nobody reads the watch.
    let n = 3000;
    let writes = async {
        for i in 0..n {
            s.put(PutRequest::new(
                Bytes::from(format!("s/{}", i % 50)),
                Bytes::from(i.to_string()),
            ))
            .await
            .unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(60), writes)
        .await
        .expect("writes are not blocked by a slow watcher");
    let mut revs = Vec::new();
    while revs.len() < n {
        for ev in next(&mut slow).await.unwrap().events {
            revs.push(ev.kv.mod_revision);
        }
    }
    let expected: Vec<Revision> = (start + 1..=start + n as i64).collect();
    assert_eq!(
        revs, expected,
        "every event exactly once, in order, no gaps"
    );
}

#[tokio::test]
async fn slow_watcher_past_a_compaction_is_told_compacted() {
    let cfg = StoreConfig {
        watch_buffer: 1,
        ..Default::default()
    };
    let s = MvccStore::open(MemoryBackend, cfg).await.unwrap();
    let mut w = s
        .watch(WatchRequest {
            range: KeyRange::key(b("c")),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut last = 0;
    for i in 0..50 {
        last = put(&s, "c", &i.to_string()).await;
    }
    s.compact(last).await.unwrap();
    let mut outcome = None;
    for _ in 0..100 {
        match next(&mut w).await {
            Ok(_) => continue,
            Err(e) => {
                outcome = Some(e);
                break;
            }
        }
    }
    assert_eq!(
        outcome,
        Some(StoreError::Compacted {
            compact_revision: last
        })
    );
}

#[tokio::test]
async fn leases_expire_and_revoke_delete_their_keys() {
    let cfg = StoreConfig {
        min_lease_ttl: 1,
        lease_check_interval: Duration::from_millis(20),
        ..Default::default()
    };
    let s = MvccStore::open(MemoryBackend, cfg).await.unwrap();
    let lease = s.lease_grant(0, 1).await.unwrap();
    assert_eq!(lease.ttl, 1);
    for k in ["l/a", "l/b"] {
        s.put(PutRequest {
            lease: lease.id,
            ..PutRequest::new(b(k), b("v"))
        })
        .await
        .unwrap();
    }
    let ttl = s.lease_time_to_live(lease.id, true).await.unwrap();
    assert_eq!(ttl.keys, vec![b("l/a"), b("l/b")]);
    assert_eq!(ttl.granted_ttl, 1);
    let mut w = s
        .watch(WatchRequest {
            range: KeyRange::prefix(b("l/")),
            ..Default::default()
        })
        .await
        .unwrap();
    let rev_before = s.revision();
    // Expiry deletes both keys in one new revision.
    let batch = next(&mut w).await.unwrap();
    assert_eq!(batch.events.len(), 2);
    assert!(batch
        .events
        .iter()
        .all(|e| e.kind == EventType::Delete && e.kv.mod_revision == rev_before + 1));
    assert_eq!(
        s.lease_time_to_live(lease.id, false).await,
        Err(StoreError::LeaseNotFound)
    );
    assert_eq!(
        s.lease_keep_alive(lease.id).await,
        Err(StoreError::LeaseNotFound)
    );

    let long = s.lease_grant(1234, 60).await.unwrap();
    assert_eq!(long.id, 1234);
    assert_eq!(s.lease_grant(1234, 60).await, Err(StoreError::LeaseExists));
    assert_eq!(s.lease_keep_alive(1234).await.unwrap().ttl, 60);
    s.put(PutRequest {
        lease: 1234,
        ..PutRequest::new(b("l/c"), b("v"))
    })
    .await
    .unwrap();
    assert_eq!(s.lease_leases().await.unwrap(), vec![1234]);
    s.lease_revoke(1234).await.unwrap();
    assert_eq!(s.get(b"l/c").await.unwrap(), None);
    assert_eq!(s.lease_revoke(1234).await, Err(StoreError::LeaseNotFound));
}

#[tokio::test]
async fn concurrent_writers_get_distinct_revisions() {
    let s = MvccStore::in_memory().await;
    let mut tasks = Vec::new();
    for t in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..100 {
                revs.push(
                    s.put(PutRequest::new(Bytes::from(format!("c/{t}/{i}")), b("v")))
                        .await
                        .unwrap()
                        .header
                        .revision,
                );
            }
            revs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 1600);
    assert_eq!(s.revision(), 1601);
}

#[tokio::test]
async fn watch_stream_is_a_futures_stream_and_cancels_on_drop() {
    let s = MvccStore::in_memory().await;
    let w = s
        .watch(WatchRequest {
            range: KeyRange::key(b("d")),
            ..Default::default()
        })
        .await
        .unwrap();
    put(&s, "d", "1").await;
    let mut w = w;
    let first = tokio::time::timeout(Duration::from_secs(5), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.events.len(), 1);
    drop(w);
    // Writes go on after the watcher is gone.
    put(&s, "d", "2").await;
    assert_eq!(s.get(b"d").await.unwrap().unwrap().version, 2);
}

#[tokio::test]
async fn close_releases_the_store() {
    let s = MvccStore::in_memory().await;
    put(&s, "x", "1").await;
    tokio::time::timeout(Duration::from_secs(5), s.close())
        .await
        .expect("close returns once the writer stopped");
}
