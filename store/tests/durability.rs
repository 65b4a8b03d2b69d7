//! `MvccStore` on `RedbBackend`: everything written comes back after the store is
//! dropped and reopened (history, tombstones, leases, the compaction revision), and a
//! compaction interrupted after it was scheduled is finished on reopen.

mod common;

use bytes::Bytes;
use skiff_store::backend::{Backend, CommitBatch};
use skiff_store::*;

use common::*;

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

/// Everything a reader can observe about a store's retained data.
#[derive(Debug, PartialEq)]
struct Observed {
    revision: Revision,
    compact_revision: Revision,
    /// The full range at every retained revision.
    ranges: Vec<(Revision, Vec<KeyValue>)>,
    /// Every retained event.
    events: Vec<Event>,
    /// Live leases, with granted TTL and attached keys.
    leases: Vec<(LeaseId, i64, Vec<Bytes>)>,
}

async fn observe(s: &MvccStore) -> Observed {
    let status = s.status().await.unwrap();
    let (revision, compact_revision) = (status.header.revision, status.compact_revision);
    let first = compact_revision.max(1);
    let mut ranges = Vec::new();
    for rev in first..=revision {
        ranges.push((rev, s.range(everything(rev)).await.unwrap().kvs));
    }
    let events = history(s, first + 1, revision).await;
    let mut ids = s.lease_leases().await.unwrap();
    ids.sort();
    let mut leases = Vec::new();
    for id in ids {
        let ttl = s.lease_time_to_live(id, true).await.unwrap();
        leases.push((id, ttl.granted_ttl, ttl.keys));
    }
    Observed {
        revision,
        compact_revision,
        ranges,
        events,
        leases,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_tombstones_leases_and_compaction_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let s = open_store(dir.path()).await;
        assert_eq!(s.status().await.unwrap().engine, "redb");
        put(&s, "a", "1").await; // 2
        put(&s, "b", "1").await; // 3
        put(&s, "a", "2").await; // 4
        let t = s
            .txn(TxnRequest {
                compare: vec![Compare {
                    range: KeyRange::key(b("a")),
                    result: CompareResult::Equal,
                    target: CompareTarget::Mod(4),
                }],
                success: vec![
                    RequestOp::Put(PutRequest::new(b("c"), b("1"))),
                    RequestOp::DeleteRange(DeleteRangeRequest {
                        range: KeyRange::key(b("b")),
                        prev_kv: false,
                    }),
                ],
                failure: vec![],
            })
            .await
            .unwrap();
        assert!(t.succeeded);
        assert_eq!(t.header.revision, 5);
        let lease = s.lease_grant(100, 600).await.unwrap();
        assert_eq!(lease.id, 100);
        s.put(PutRequest {
            lease: 100,
            ..PutRequest::new(b("d"), b("leased"))
        })
        .await
        .unwrap(); // 6
        s.lease_grant(200, 30).await.unwrap();
        s.lease_grant(300, 30).await.unwrap();
        s.lease_revoke(300).await.unwrap();
        put(&s, "a", "3").await; // 7
        s.delete_range(DeleteRangeRequest {
            range: KeyRange::key(b("c")),
            prev_kv: false,
        })
        .await
        .unwrap(); // 8
        s.compact(3).await.unwrap();
        put(&s, "e", "1").await; // 9
        let observed = observe(&s).await;
        assert_eq!(observed.revision, 9);
        assert_eq!(observed.compact_revision, 3);
        assert_eq!(
            observed.leases,
            vec![(100, 600, vec![b("d")]), (200, 30, vec![])]
        );
        observed
    };

    let s = open_store(dir.path()).await;
    let after = observe(&s).await;
    assert_eq!(after, before);

    // Reads below the compaction still fail as compacted.
    let old = s.range(everything(2)).await;
    assert_eq!(
        old,
        Err(StoreError::Compacted {
            compact_revision: 3
        })
    );
    // The tombstones are history: b existed at 4, not at 5.
    let at = |rev| RangeRequest {
        revision: rev,
        ..RangeRequest::key(b("b"))
    };
    assert_eq!(s.range(at(4)).await.unwrap().kvs.len(), 1);
    assert_eq!(s.range(at(5)).await.unwrap().kvs.len(), 0);

    // The store carries on where it stopped: revisions, versions, leases.
    let r = s
        .put(PutRequest {
            prev_kv: true,
            ..PutRequest::new(b("a"), b("4"))
        })
        .await
        .unwrap();
    assert_eq!(r.header.revision, 10);
    let prev = r.prev_kv.unwrap();
    assert_eq!(
        (prev.value, prev.version, prev.create_revision),
        (b("3"), 3, 2)
    );
    let revoked = s.lease_revoke(100).await.unwrap();
    assert_eq!(revoked.revision, 11);
    assert!(s.get(b"d").await.unwrap().is_none());
    assert_eq!(s.lease_leases().await.unwrap(), vec![200]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_compaction_is_finished_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open_store(dir.path()).await;
        for i in 0..50 {
            put(&s, &format!("k{}", i % 5), &i.to_string()).await; // revisions 2..=51
        }
        s.delete_range(DeleteRangeRequest {
            range: KeyRange::key(b("k0")),
            prev_kv: false,
        })
        .await
        .unwrap(); // 52
        put(&s, "z", "last").await; // 53
    }
    let expected_at_52 = {
        let s = open_store(dir.path()).await;
        s.range(everything(52)).await.unwrap().kvs
    };

    // The crash: the compaction at 52 was committed as scheduled, and the process died
    // before deleting any record.
    let records_before = {
        let backend = open_backend_when_released(dir.path());
        backend
            .commit(&CommitBatch {
                compact_scheduled: Some(52),
                ..Default::default()
            })
            .unwrap();
        let loaded = backend.load().unwrap();
        assert_eq!((loaded.compact_scheduled, loaded.compact_finished), (52, 0));
        loaded.records.len()
    };
    assert_eq!(records_before, 52);

    {
        let s = open_store(dir.path()).await;
        let status = s.status().await.unwrap();
        assert_eq!((status.header.revision, status.compact_revision), (53, 52));
        assert_eq!(
            s.range(everything(51)).await,
            Err(StoreError::Compacted {
                compact_revision: 52
            })
        );
        assert_eq!(s.range(everything(52)).await.unwrap().kvs, expected_at_52);
    }

    // On disk: finished, and only the latest live version of each key at or below 52
    // (k1..k4, no k0: its tombstone went too) plus z at 53 remain.
    let backend = open_backend_when_released(dir.path());
    let loaded = backend.load().unwrap();
    assert_eq!(
        (loaded.compact_scheduled, loaded.compact_finished),
        (52, 52)
    );
    let keys: Vec<(Revision, Bytes)> = loaded
        .records
        .iter()
        .map(|(rev, r)| (rev.main, r.key.clone()))
        .collect();
    assert_eq!(
        keys,
        vec![
            (48, b("k1")),
            (49, b("k2")),
            (50, b("k3")),
            (51, b("k4")),
            (53, b("z"))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revisions_continue_across_many_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let mut expected_rev = 1;
    for session in 0..5 {
        let s = open_store(dir.path()).await;
        assert_eq!(s.revision(), expected_rev, "session {session}");
        for i in 0..20 {
            expected_rev += 1;
            assert_eq!(
                put(&s, &format!("k{i}"), &format!("{session}")).await,
                expected_rev
            );
        }
        let kv = s.get(b"k7").await.unwrap().unwrap();
        assert_eq!((kv.version, kv.create_revision), (session + 1, 9));
        let status = s.status().await.unwrap();
        assert!(
            status.db_size > 0 && status.db_size_in_use > 0,
            "{status:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_store_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _s = open_store(dir.path()).await;
    match RedbBackend::open(dir.path()) {
        Err(StoreError::Open(m)) => assert!(m.contains("already open"), "{m}"),
        other => panic!("expected the second open to be refused, got {other:?}"),
    }
}
