//! Transactions: compares, branches, nesting, and the transactions etcd refuses.

use skiff_store::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, KeyRange, PutRequest, RangeRequest,
    RequestOp, ResponseOp, StoreError, TxnRequest, TxnResponse, MAX_TXN_OPS,
};

use super::util::*;
use super::Store;

fn cmp(key: &str, result: CompareResult, target: CompareTarget) -> Compare {
    Compare {
        range: KeyRange::key(b(key)),
        result,
        target,
    }
}

fn put_op(key: &str, value: &str) -> RequestOp {
    RequestOp::Put(PutRequest::new(b(key), b(value)))
}

async fn holds(store: &Store, compare: Compare) -> bool {
    store
        .txn(TxnRequest {
            compare: vec![compare],
            success: vec![],
            failure: vec![],
        })
        .await
        .unwrap()
        .succeeded
}

fn range_kvs(resp: &TxnResponse, i: usize) -> &[skiff_store::KeyValue] {
    match &resp.responses[i] {
        ResponseOp::Range(r) => &r.kvs,
        other => panic!("response {i} is not a range: {other:?}"),
    }
}

/// Create-if-absent, compare-and-swap on mod revision, and writes in the failure branch.
pub async fn compares_and_branches(store: Store) {
    let k = "/conformance/txn/k";
    let create = |value: &'static str| TxnRequest {
        compare: vec![cmp(k, CompareResult::Equal, CompareTarget::Version(0))],
        success: vec![put_op(k, value)],
        failure: vec![RequestOp::Range(RangeRequest::key(b(k)))],
    };
    let first = store.txn(create("v1")).await.unwrap();
    assert!(first.succeeded, "create-if-absent on a missing key");
    assert!(
        matches!(first.responses.as_slice(), [ResponseOp::Put(_)]),
        "{first:?}"
    );
    let r1 = first.header.revision;

    let second = store.txn(create("v2")).await.unwrap();
    assert!(!second.succeeded, "create-if-absent on an existing key");
    assert_eq!(
        second.header.revision, r1,
        "a failed compare with a read-only branch writes nothing"
    );
    assert_eq!(values(range_kvs(&second, 0)), ["v1"], "failure branch read");

    let cas = |rev, value: &'static str| TxnRequest {
        compare: vec![cmp(k, CompareResult::Equal, CompareTarget::Mod(rev))],
        success: vec![put_op(k, value)],
        failure: vec![],
    };
    let swapped = store.txn(cas(r1, "v2")).await.unwrap();
    assert!(swapped.succeeded, "CAS at the current mod revision");
    assert_eq!(swapped.header.revision, r1 + 1);
    let stale = store.txn(cas(r1, "v3")).await.unwrap();
    assert!(!stale.succeeded, "CAS at a stale mod revision");
    assert_eq!(
        store
            .get(k.as_bytes())
            .await
            .unwrap()
            .unwrap()
            .value
            .as_ref(),
        b"v2"
    );

    let k2 = "/conformance/txn/failure-write";
    let failed = store
        .txn(TxnRequest {
            compare: vec![cmp(
                k,
                CompareResult::Equal,
                CompareTarget::Value(b("nope")),
            )],
            success: vec![],
            failure: vec![put_op(k2, "from-failure")],
        })
        .await
        .unwrap();
    assert!(!failed.succeeded);
    let kv = store
        .get(k2.as_bytes())
        .await
        .unwrap()
        .expect("failure branch wrote");
    assert_eq!(
        kv.mod_revision, failed.header.revision,
        "failure branch write revision"
    );

    let multi = store
        .txn(TxnRequest {
            compare: vec![],
            success: vec![
                put_op("/conformance/txn/m1", "1"),
                put_op("/conformance/txn/m2", "1"),
                RequestOp::DeleteRange(DeleteRangeRequest {
                    range: KeyRange::key(b(k2)),
                    prev_kv: true,
                }),
            ],
            failure: vec![],
        })
        .await
        .unwrap();
    let rm = multi.header.revision;
    match &multi.responses[2] {
        ResponseOp::DeleteRange(d) => {
            assert_eq!((d.deleted, d.prev_kvs.len()), (1, 1), "delete in txn")
        }
        other => panic!("expected a delete response, got {other:?}"),
    }
    for m in ["/conformance/txn/m1", "/conformance/txn/m2"] {
        assert_eq!(
            store.get(m.as_bytes()).await.unwrap().unwrap().mod_revision,
            rm,
            "{m}"
        );
    }
    assert_eq!(
        get_at(&store, k2, rm).await.unwrap(),
        None,
        "deleted in the same revision"
    );
    assert_eq!(
        current_revision(&store).await,
        rm,
        "one revision for the whole txn"
    );
}

/// Each compare target and result, including on a missing key.
pub async fn compare_targets(store: Store) {
    let k = "/conformance/txn_targets/k";
    let missing = "/conformance/txn_targets/missing";
    let r1 = put(&store, k, "b").await;
    let r2 = put(&store, k, "b").await;
    use CompareResult::*;
    use CompareTarget::*;
    let checks: Vec<(Compare, bool)> = vec![
        (cmp(k, Equal, Version(2)), true),
        (cmp(k, Greater, Version(1)), true),
        (cmp(k, Less, Version(2)), false),
        (cmp(k, NotEqual, Version(2)), false),
        (cmp(k, Equal, Create(r1)), true),
        (cmp(k, Less, Create(r2)), true),
        (cmp(k, Equal, Mod(r2)), true),
        (cmp(k, Greater, Mod(r1)), true),
        (cmp(k, Equal, Value(b("b"))), true),
        (cmp(k, Greater, Value(b("a"))), true),
        (cmp(k, Less, Value(b("c"))), true),
        (cmp(k, Less, Value(b("a"))), false),
        (cmp(k, NotEqual, Value(b("x"))), true),
        (cmp(k, Equal, Lease(0)), true),
        (cmp(missing, Equal, Version(0)), true),
        (cmp(missing, Equal, Create(0)), true),
        (cmp(missing, Equal, Mod(0)), true),
        (cmp(missing, Equal, Lease(0)), true),
        (cmp(missing, Equal, Value(b(""))), false),
        (cmp(missing, NotEqual, Value(b("x"))), false),
    ];
    for (c, want) in checks {
        assert_eq!(holds(&store, c.clone()).await, want, "{c:?}");
    }
}

/// A compare with a range end must hold for every key in the range.
pub async fn range_compare(store: Store) {
    let p = "/conformance/txn_range/";
    put(&store, &format!("{p}a"), "1").await;
    put(&store, &format!("{p}b"), "1").await;
    let over = |result, target| Compare {
        range: KeyRange::prefix(b(p)),
        result,
        target,
    };
    assert!(
        holds(
            &store,
            over(CompareResult::Equal, CompareTarget::Version(1))
        )
        .await,
        "all at version 1"
    );
    put(&store, &format!("{p}b"), "2").await;
    assert!(
        !holds(
            &store,
            over(CompareResult::Equal, CompareTarget::Version(1))
        )
        .await,
        "b at version 2"
    );
    assert!(
        holds(
            &store,
            over(CompareResult::Greater, CompareTarget::Version(0))
        )
        .await,
        "all exist"
    );
    assert!(
        !holds(
            &store,
            over(CompareResult::Equal, CompareTarget::Value(b("1")))
        )
        .await,
        "values differ"
    );
}

/// Read-only transactions write nothing; reads see earlier writes of the same
/// transaction; nested transactions run atomically with their parent.
pub async fn nested_and_read_only(store: Store) {
    let p = "/conformance/txn_nested/";
    let k = format!("{p}k");
    let r0 = put(&store, &k, "v0").await;
    let ro = store
        .txn(TxnRequest {
            compare: vec![],
            success: vec![RequestOp::Range(RangeRequest::key(b(&k)))],
            failure: vec![],
        })
        .await
        .unwrap();
    assert_eq!(
        ro.header.revision, r0,
        "a read-only txn creates no revision"
    );
    assert_eq!(values(range_kvs(&ro, 0)), ["v0"]);

    let rw = store
        .txn(TxnRequest {
            compare: vec![],
            success: vec![put_op(&k, "v1"), RequestOp::Range(RangeRequest::key(b(&k)))],
            failure: vec![],
        })
        .await
        .unwrap();
    let read = range_kvs(&rw, 1);
    assert_eq!(
        values(read),
        ["v1"],
        "a read after a put in one txn sees the put"
    );
    assert_eq!(read[0].mod_revision, rw.header.revision);

    let inner_key = format!("{p}inner");
    let nested = store
        .txn(TxnRequest {
            compare: vec![],
            success: vec![
                put_op(&format!("{p}outer"), "1"),
                RequestOp::Txn(TxnRequest {
                    compare: vec![cmp(&k, CompareResult::Equal, CompareTarget::Value(b("v1")))],
                    success: vec![put_op(&inner_key, "1")],
                    failure: vec![],
                }),
            ],
            failure: vec![],
        })
        .await
        .unwrap();
    match &nested.responses[1] {
        ResponseOp::Txn(inner) => {
            assert!(inner.succeeded, "inner compare");
            assert!(matches!(inner.responses.as_slice(), [ResponseOp::Put(_)]));
        }
        other => panic!("expected a nested txn response, got {other:?}"),
    }
    let kv = store
        .get(inner_key.as_bytes())
        .await
        .unwrap()
        .expect("inner put");
    assert_eq!(
        kv.mod_revision, nested.header.revision,
        "nested writes share the revision"
    );
    assert_eq!(nested.header.revision, rw.header.revision + 1);
}

/// Transactions etcd refuses: a key written twice, a put into a deleted range, too many
/// operations.
pub async fn invalid_txns(store: Store) {
    let k = "/conformance/txn_invalid/k";
    let before = current_revision(&store).await;
    let dup = store
        .txn(TxnRequest {
            compare: vec![],
            success: vec![put_op(k, "1"), put_op(k, "2")],
            failure: vec![],
        })
        .await;
    assert_eq!(
        dup.unwrap_err(),
        StoreError::DuplicateKey,
        "two puts of one key"
    );

    let put_and_delete = store
        .txn(TxnRequest {
            compare: vec![],
            success: vec![
                RequestOp::DeleteRange(DeleteRangeRequest {
                    range: KeyRange::prefix(b("/conformance/txn_invalid/")),
                    prev_kv: false,
                }),
                put_op(k, "1"),
            ],
            failure: vec![],
        })
        .await;
    assert_eq!(
        put_and_delete.unwrap_err(),
        StoreError::DuplicateKey,
        "put into a deleted range"
    );

    let ops = (0..=MAX_TXN_OPS)
        .map(|i| put_op(&format!("/conformance/txn_invalid/{i}"), "1"))
        .collect();
    let too_many = store
        .txn(TxnRequest {
            compare: vec![],
            success: ops,
            failure: vec![],
        })
        .await;
    assert_eq!(
        too_many.unwrap_err(),
        StoreError::TooManyOps,
        "{} ops",
        MAX_TXN_OPS + 1
    );
    assert_eq!(
        current_revision(&store).await,
        before,
        "refused txns write nothing"
    );
}

/// A transaction's reads may name an older revision; a failed compare answers with the
/// current revision.
pub async fn reads_at_old_revisions(store: Store) {
    let k = "/conformance/txn_old_read/k";
    let r1 = put(&store, k, "v1").await;
    let r2 = put(&store, k, "v2").await;
    let resp = store
        .txn(TxnRequest {
            compare: vec![cmp(
                k,
                CompareResult::Equal,
                CompareTarget::Value(b("other")),
            )],
            success: vec![],
            failure: vec![RequestOp::Range(RangeRequest {
                revision: r1,
                ..RangeRequest::key(b(k))
            })],
        })
        .await
        .unwrap();
    assert!(!resp.succeeded);
    assert_eq!(resp.header.revision, r2, "failed compare header");
    assert_eq!(
        values(range_kvs(&resp, 0)),
        ["v1"],
        "read at r1 inside a txn"
    );
}
