//! Property test: `MvccStore` against a plain model of etcd's history (one full snapshot
//! per revision). Random puts, deletes, guarded transactions and compactions; every
//! snapshot must read back the same at its revision, and a watch from the start must see
//! every change exactly once, in order, with no gaps.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use skiff_store::*;

#[derive(Clone, Debug)]
enum Op {
    Put(u8, u8),
    Delete(u8),
    DeletePrefix,
    /// Put `1` if key's version equals the given number, else delete key 2.
    Guarded(u8, i64, u8),
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u8..6, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        2 => (0u8..6).prop_map(Op::Delete),
        1 => Just(Op::DeletePrefix),
        2 => (0u8..6, 0i64..3, any::<u8>()).prop_map(|(k, ver, v)| Op::Guarded(k, ver, v)),
        1 => Just(Op::Compact),
    ]
}

fn key(k: u8) -> Bytes {
    Bytes::from(format!("k{}", k % 6))
}

/// key -> (value, create_revision, mod_revision, version)
type Snapshot = BTreeMap<Bytes, (Bytes, i64, i64, i64)>;

fn apply_model(snap: &Snapshot, rev: i64, writes: &[(Bytes, Option<Bytes>)]) -> Snapshot {
    let mut next = snap.clone();
    for (k, v) in writes {
        match v {
            Some(v) => {
                let (create, version) = match next.get(k) {
                    Some((_, c, _, ver)) => (*c, ver + 1),
                    None => (rev, 1),
                };
                next.insert(k.clone(), (v.clone(), create, rev, version));
            }
            None => {
                next.remove(k);
            }
        }
    }
    next
}

async fn run(ops: Vec<Op>) -> std::result::Result<(), TestCaseError> {
    let s = MvccStore::in_memory().await;
    let everything = KeyRange::range(Bytes::from_static(b"\0"), Bytes::from_static(b"\0"));
    let mut w = s
        .watch(WatchRequest {
            range: everything.clone(),
            start_revision: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut snaps: BTreeMap<i64, Snapshot> = BTreeMap::from([(1, Snapshot::new())]);
    let mut compacted = 0i64;
    let mut expected_events: Vec<(i64, Bytes, bool)> = Vec::new();
    for op in ops {
        let cur_rev = *snaps.keys().last().unwrap();
        let cur = snaps[&cur_rev].clone();
        let writes: Vec<(Bytes, Option<Bytes>)> = match &op {
            Op::Put(k, v) => {
                s.put(PutRequest::new(key(*k), Bytes::from(vec![*v])))
                    .await
                    .unwrap();
                vec![(key(*k), Some(Bytes::from(vec![*v])))]
            }
            Op::Delete(k) => {
                s.delete_range(DeleteRangeRequest {
                    range: KeyRange::key(key(*k)),
                    prev_kv: false,
                })
                .await
                .unwrap();
                if cur.contains_key(&key(*k)) {
                    vec![(key(*k), None)]
                } else {
                    vec![]
                }
            }
            Op::DeletePrefix => {
                s.delete_range(DeleteRangeRequest {
                    range: KeyRange::prefix(Bytes::from_static(b"k")),
                    prev_kv: false,
                })
                .await
                .unwrap();
                cur.keys().map(|k| (k.clone(), None)).collect()
            }
            Op::Guarded(k, ver, v) => {
                let txn = TxnRequest {
                    compare: vec![Compare {
                        range: KeyRange::key(key(*k)),
                        result: CompareResult::Equal,
                        target: CompareTarget::Version(*ver),
                    }],
                    success: vec![RequestOp::Put(PutRequest::new(
                        key(1),
                        Bytes::from(vec![*v]),
                    ))],
                    failure: vec![RequestOp::DeleteRange(DeleteRangeRequest {
                        range: KeyRange::key(key(2)),
                        prev_kv: false,
                    })],
                };
                let resp = s.txn(txn).await.unwrap();
                let version = cur.get(&key(*k)).map_or(0, |e| e.3);
                prop_assert_eq!(resp.succeeded, version == *ver);
                if resp.succeeded {
                    vec![(key(1), Some(Bytes::from(vec![*v])))]
                } else if cur.contains_key(&key(2)) {
                    vec![(key(2), None)]
                } else {
                    vec![]
                }
            }
            Op::Compact => {
                let target = (compacted + cur_rev) / 2 + 1;
                if target > compacted && target <= cur_rev {
                    s.compact(target).await.unwrap();
                    compacted = target;
                }
                vec![]
            }
        };
        if !writes.is_empty() {
            let rev = cur_rev + 1;
            for (k, v) in &writes {
                expected_events.push((rev, k.clone(), v.is_some()));
            }
            snaps.insert(rev, apply_model(&cur, rev, &writes));
        }
        prop_assert_eq!(s.revision(), *snaps.keys().last().unwrap());
    }
    // Every retained revision reads back as the model says.
    for (rev, snap) in &snaps {
        let resp = s
            .range(RangeRequest {
                range: everything.clone(),
                revision: *rev,
                ..Default::default()
            })
            .await;
        if *rev < compacted {
            prop_assert!(
                matches!(resp, Err(StoreError::Compacted { .. })),
                "rev {rev} should be compacted"
            );
            continue;
        }
        let got: Snapshot = resp
            .unwrap()
            .kvs
            .into_iter()
            .map(|kv| {
                (
                    kv.key,
                    (kv.value, kv.create_revision, kv.mod_revision, kv.version),
                )
            })
            .collect();
        prop_assert_eq!(&got, snap, "snapshot at revision {}", rev);
    }
    // The watch started before any write sees every change once, in order. (It may be
    // cut off by a compaction only if it fell behind, which a prompt reader does not.)
    let mut got = Vec::new();
    while got.len() < expected_events.len() {
        let batch = tokio::time::timeout(Duration::from_secs(5), w.next_batch())
            .await
            .expect("events in time");
        let batch = batch.expect("stream open").expect("no error");
        for e in batch.events {
            got.push((e.kv.mod_revision, e.kv.key, e.kind == EventType::Put));
        }
    }
    prop_assert_eq!(got, expected_events);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run(ops))?;
    }
}
