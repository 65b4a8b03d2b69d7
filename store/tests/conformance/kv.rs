//! Revisions, history, tombstones and the options of a range.

use bytes::Bytes;
use skiff_store::{
    DeleteRangeRequest, KeyRange, PutRequest, RangeRequest, RequestOp, SortOrder, SortTarget,
    StoreError, TxnRequest,
};

use super::util::*;
use super::Store;

/// Each write creates one revision; a write that changes nothing creates none; a put
/// bumps the version and keeps the create revision.
pub async fn revisions(store: Store) {
    let p = "/conformance/revisions/";
    let r0 = current_revision(&store).await;
    let r1 = put(&store, &format!("{p}a"), "1").await;
    assert_eq!(r1, r0 + 1, "first put");
    let r2 = put(&store, &format!("{p}b"), "1").await;
    assert_eq!(r2, r1 + 1, "second put");

    let resp = store
        .put(PutRequest {
            prev_kv: true,
            ..PutRequest::new(b(&format!("{p}a")), b("2"))
        })
        .await
        .unwrap();
    let r3 = resp.header.revision;
    assert_eq!(r3, r2 + 1, "overwrite");
    let prev = resp.prev_kv.expect("prev_kv of an overwrite");
    assert_eq!(
        (
            prev.value.as_ref(),
            prev.version,
            prev.create_revision,
            prev.mod_revision
        ),
        (&b"1"[..], 1, r1, r1),
        "prev_kv"
    );

    let a = store
        .get(format!("{p}a").as_bytes())
        .await
        .unwrap()
        .expect("a exists");
    assert_eq!(
        (
            a.value.as_ref(),
            a.version,
            a.create_revision,
            a.mod_revision,
            a.lease
        ),
        (&b"2"[..], 2, r1, r3, 0),
        "a after overwrite"
    );

    let del = store
        .delete_range(DeleteRangeRequest {
            range: KeyRange::key(b(&format!("{p}missing"))),
            prev_kv: false,
        })
        .await
        .unwrap();
    assert_eq!(del.deleted, 0, "delete of a missing key");
    assert_eq!(
        del.header.revision, r3,
        "a delete that deletes nothing creates no revision"
    );
    assert_eq!(
        current_revision(&store).await,
        r3,
        "current revision after a no-op delete"
    );

    let txn = store
        .txn(TxnRequest {
            compare: vec![],
            success: vec![
                RequestOp::Put(PutRequest::new(b(&format!("{p}c")), b("1"))),
                RequestOp::Put(PutRequest::new(b(&format!("{p}d")), b("1"))),
            ],
            failure: vec![],
        })
        .await
        .unwrap();
    let r4 = txn.header.revision;
    assert_eq!(r4, r3 + 1, "a transaction creates one revision");
    for k in ["c", "d"] {
        let kv = store
            .get(format!("{p}{k}").as_bytes())
            .await
            .unwrap()
            .expect("txn key");
        assert_eq!(
            (kv.mod_revision, kv.create_revision, kv.version),
            (r4, r4, 1),
            "{k}"
        );
    }

    let del = store
        .delete_range(DeleteRangeRequest {
            range: KeyRange::prefix(b(p)),
            prev_kv: false,
        })
        .await
        .unwrap();
    assert_eq!(
        (del.deleted, del.header.revision),
        (4, r4 + 1),
        "delete of the prefix"
    );
    let left = store.range(RangeRequest::prefix(b(p))).await.unwrap();
    assert_eq!(
        (left.kvs.len(), left.count, left.header.revision),
        (0, 0, r4 + 1)
    );
}

/// Old revisions stay readable: each read sees the key as it was at that revision.
pub async fn history_reads(store: Store) {
    let k = "/conformance/history/k";
    let r1 = put(&store, k, "v1").await;
    let r2 = put(&store, k, "v2").await;
    let r3 = store
        .delete_range(DeleteRangeRequest {
            range: KeyRange::key(b(k)),
            prev_kv: false,
        })
        .await
        .unwrap()
        .header
        .revision;
    assert_eq!(r3, r2 + 1);

    let at1 = get_at(&store, k, r1).await.unwrap().expect("k at r1");
    assert_eq!(
        (
            at1.value.as_ref(),
            at1.version,
            at1.create_revision,
            at1.mod_revision
        ),
        (&b"v1"[..], 1, r1, r1)
    );
    let at2 = get_at(&store, k, r2).await.unwrap().expect("k at r2");
    assert_eq!(
        (
            at2.value.as_ref(),
            at2.version,
            at2.create_revision,
            at2.mod_revision
        ),
        (&b"v2"[..], 2, r1, r2)
    );
    assert_eq!(
        get_at(&store, k, r3).await.unwrap(),
        None,
        "k at its delete"
    );
    assert_eq!(
        get_at(&store, k, r1 - 1).await.unwrap(),
        None,
        "k before its creation"
    );
    assert_eq!(get_at(&store, k, 0).await.unwrap(), None, "k now");

    let resp = store
        .range(RangeRequest {
            revision: r2,
            ..RangeRequest::prefix(b("/conformance/history/"))
        })
        .await
        .unwrap();
    assert_eq!(resp.count, 1, "prefix read at r2");
    assert_eq!(
        resp.header.revision, r3,
        "etcd answers a read at an old revision with the current revision in the header"
    );

    let r4 = put(&store, k, "v3").await;
    let now = store.get(k.as_bytes()).await.unwrap().expect("recreated");
    assert_eq!(
        (now.version, now.create_revision, now.mod_revision),
        (1, r4, r4),
        "a new generation"
    );

    let current = current_revision(&store).await;
    let err = get_at(&store, k, current + 100).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::FutureRevision {
            current_revision: current
        },
        "future read"
    );
}

/// A delete leaves a tombstone: the deleted versions stay in history, and a range delete
/// removes every key at one revision.
pub async fn tombstones(store: Store) {
    let p = "/conformance/tombstones/";
    for k in ["a", "b", "c"] {
        put(&store, &format!("{p}{k}"), &format!("value-{k}")).await;
    }
    let before = current_revision(&store).await;
    let del = store
        .delete_range(DeleteRangeRequest {
            range: KeyRange::prefix(b(p)),
            prev_kv: true,
        })
        .await
        .unwrap();
    let rd = del.header.revision;
    assert_eq!(
        (del.deleted, rd),
        (3, before + 1),
        "one revision for the whole delete"
    );
    assert_eq!(
        keys(&del.prev_kvs),
        vec![format!("{p}a"), format!("{p}b"), format!("{p}c")]
    );
    assert_eq!(values(&del.prev_kvs), vec!["value-a", "value-b", "value-c"]);

    let old = store
        .range(RangeRequest {
            revision: before,
            ..RangeRequest::prefix(b(p))
        })
        .await
        .unwrap();
    assert_eq!(old.count, 3, "keys readable before the delete");
    let gone = store
        .range(RangeRequest {
            revision: rd,
            ..RangeRequest::prefix(b(p))
        })
        .await
        .unwrap();
    assert_eq!(gone.count, 0, "keys gone at the delete");

    let again = store
        .delete_range(DeleteRangeRequest {
            range: KeyRange::prefix(b(p)),
            prev_kv: true,
        })
        .await
        .unwrap();
    assert_eq!(
        (again.deleted, again.header.revision, again.prev_kvs.len()),
        (0, rd, 0),
        "deleting tombstones"
    );

    let r = put(&store, &format!("{p}a"), "again").await;
    let kv = store
        .get(format!("{p}a").as_bytes())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (kv.create_revision, kv.version),
        (r, 1),
        "recreated after a tombstone"
    );
}

/// Limit, count, keys-only, and the forms of a range.
pub async fn range_options(store: Store) {
    let p = "/conformance/range_options/";
    for k in ["a", "b", "c", "d", "e"] {
        put(&store, &format!("{p}{k}"), &format!("value-{k}")).await;
    }
    let key = |k: &str| b(&format!("{p}{k}"));

    let limited = store
        .range(RangeRequest {
            limit: 2,
            ..RangeRequest::prefix(b(p))
        })
        .await
        .unwrap();
    assert_eq!(
        keys(&limited.kvs),
        vec![format!("{p}a"), format!("{p}b")],
        "limit 2"
    );
    assert_eq!(
        (limited.more, limited.count),
        (true, 5),
        "limit 2: more and count"
    );
    let exact = store
        .range(RangeRequest {
            limit: 5,
            ..RangeRequest::prefix(b(p))
        })
        .await
        .unwrap();
    assert_eq!(
        (exact.kvs.len(), exact.more, exact.count),
        (5, false, 5),
        "limit == count"
    );

    let counted = store
        .range(RangeRequest {
            count_only: true,
            ..RangeRequest::prefix(b(p))
        })
        .await
        .unwrap();
    assert_eq!(
        (counted.kvs.len(), counted.count, counted.more),
        (0, 5, false),
        "count only"
    );

    let keys_only = store
        .range(RangeRequest {
            keys_only: true,
            ..RangeRequest::prefix(b(p))
        })
        .await
        .unwrap();
    assert_eq!(keys_only.kvs.len(), 5);
    assert!(
        keys_only.kvs.iter().all(|kv| kv.value.is_empty()),
        "keys only has no values"
    );
    assert!(
        keys_only
            .kvs
            .iter()
            .all(|kv| kv.version == 1 && kv.mod_revision > 0),
        "keys only keeps metadata"
    );

    let half_open = store
        .range(RangeRequest {
            range: KeyRange::range(key("b"), key("d")),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        keys(&half_open.kvs),
        vec![format!("{p}b"), format!("{p}c")],
        "[b, d)"
    );

    let from_key = store
        .range(RangeRequest {
            range: KeyRange::range(key("c"), Bytes::from_static(&[0])),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(from_key.count >= 3, "from c to the end");
    assert_eq!(
        keys(&from_key.kvs[..3]),
        vec![format!("{p}c"), format!("{p}d"), format!("{p}e")]
    );

    let reversed = store
        .range(RangeRequest {
            range: KeyRange::range(key("d"), key("b")),
            ..Default::default()
        })
        .await
        .expect("etcd answers a range whose end sorts before its key with no keys, not an error");
    assert_eq!(
        (reversed.kvs.len(), reversed.count),
        (0, 0),
        "end before key"
    );

    let missing = store.range(RangeRequest::key(key("zz"))).await.unwrap();
    assert_eq!(
        (missing.kvs.len(), missing.count, missing.more),
        (0, 0, false),
        "missing key"
    );
}

/// Every key is `[0]` to `[0]` (etcdctl's `get --prefix ""`); an empty key is refused
/// even with range end `[0]`, as etcd does.
pub async fn every_key_spellings(store: Store) {
    put(&store, "/conformance/every_key/a", "1").await;
    let all = store
        .range(RangeRequest {
            range: KeyRange::range(Bytes::from_static(&[0]), Bytes::from_static(&[0])),
            count_only: true,
            ..Default::default()
        })
        .await
        .expect("key [0] with range end [0] means every key");
    let prefix_zero = store
        .range(RangeRequest {
            range: KeyRange::prefix(Bytes::from_static(&[0])),
            count_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        all.count >= 1 && all.count > prefix_zero.count,
        "every key: {} keys",
        all.count
    );
    let empty = store
        .range(RangeRequest {
            range: KeyRange::range(Bytes::new(), Bytes::from_static(&[0])),
            count_only: true,
            ..Default::default()
        })
        .await;
    assert_eq!(
        empty.unwrap_err(),
        StoreError::EmptyKey,
        "an empty key with range end [0]"
    );
}

/// Sorting by each target, etcd's default order for a non-key target, and sort with limit.
pub async fn range_sorting(store: Store) {
    let p = "/conformance/range_sorting/";
    let k = |s: &str| format!("{p}{s}");
    for s in ["a", "b", "c", "d"] {
        put(&store, &k(s), &format!("{s}0")).await;
    }
    // Final state: a="5" v2, b="0" v3, c="c0" v1, d="2" v4;
    // mod order c < a < d < b; create order a < b < c < d.
    for (s, v) in [
        ("b", "9"),
        ("d", "8"),
        ("d", "7"),
        ("a", "5"),
        ("d", "2"),
        ("b", "0"),
    ] {
        put(&store, &k(s), v).await;
    }
    let sorted = |order, target, limit| {
        let store = store.clone();
        async move {
            let resp = store
                .range(RangeRequest {
                    sort_order: order,
                    sort_target: target,
                    limit,
                    ..RangeRequest::prefix(b(p))
                })
                .await
                .unwrap();
            let names: Vec<String> = keys(&resp.kvs)
                .into_iter()
                .map(|s| s[p.len()..].to_string())
                .collect();
            (names, resp.more, resp.count)
        }
    };
    use SortOrder::*;
    use SortTarget::*;
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        sorted(Descend, Key, 0).await.0,
        v(&["d", "c", "b", "a"]),
        "key descend"
    );
    assert_eq!(
        sorted(Ascend, Key, 0).await.0,
        v(&["a", "b", "c", "d"]),
        "key ascend"
    );
    assert_eq!(
        sorted(Ascend, Value, 0).await.0,
        v(&["b", "d", "a", "c"]),
        "value ascend"
    );
    assert_eq!(
        sorted(Descend, Value, 0).await.0,
        v(&["c", "a", "d", "b"]),
        "value descend"
    );
    assert_eq!(
        sorted(Ascend, Version, 0).await.0,
        v(&["c", "a", "b", "d"]),
        "version ascend"
    );
    assert_eq!(
        sorted(Descend, Create, 0).await.0,
        v(&["d", "c", "b", "a"]),
        "create descend"
    );
    assert_eq!(
        sorted(Ascend, Mod, 0).await.0,
        v(&["c", "a", "d", "b"]),
        "mod ascend"
    );
    assert_eq!(
        sorted(Descend, Mod, 0).await.0,
        v(&["b", "d", "a", "c"]),
        "mod descend"
    );
    assert_eq!(
        sorted(None, Value, 0).await.0,
        v(&["b", "d", "a", "c"]),
        "no order with a non-key target sorts ascending (etcd)"
    );
    assert_eq!(
        sorted(Descend, Mod, 2).await,
        (v(&["b", "d"]), true, 4),
        "sort then limit"
    );
}

/// The min/max mod and create revision filters.
pub async fn range_filters(store: Store) {
    let p = "/conformance/range_filters/";
    let k = |s: &str| format!("{p}{s}");
    let r1 = put(&store, &k("a"), "1").await;
    let r2 = put(&store, &k("b"), "1").await;
    let r3 = put(&store, &k("c"), "1").await;
    let r4 = put(&store, &k("a"), "2").await;
    assert!(r1 < r2 && r2 < r3 && r3 < r4);
    let names = |req: RangeRequest| {
        let store = store.clone();
        async move {
            let resp = store.range(req).await.unwrap();
            keys(&resp.kvs)
                .into_iter()
                .map(|s| s[p.len()..].to_string())
                .collect::<Vec<_>>()
        }
    };
    let base = RangeRequest::prefix(b(p));
    assert_eq!(
        names(RangeRequest {
            min_mod_revision: r3,
            ..base.clone()
        })
        .await,
        ["a", "c"],
        "min mod"
    );
    assert_eq!(
        names(RangeRequest {
            max_mod_revision: r3,
            ..base.clone()
        })
        .await,
        ["b", "c"],
        "max mod"
    );
    assert_eq!(
        names(RangeRequest {
            min_create_revision: r2,
            ..base.clone()
        })
        .await,
        ["b", "c"],
        "min create"
    );
    assert_eq!(
        names(RangeRequest {
            max_create_revision: r2,
            ..base.clone()
        })
        .await,
        ["a", "b"],
        "max create"
    );
}

/// `ignore_value` keeps the value; `prev_kv` of a new key is absent.
pub async fn put_options(store: Store) {
    let k = "/conformance/put_options/k";
    let fresh = store
        .put(PutRequest {
            prev_kv: true,
            ..PutRequest::new(b(k), b("v1"))
        })
        .await
        .unwrap();
    assert_eq!(fresh.prev_kv, None, "prev_kv of a new key");
    let r = store
        .put(PutRequest {
            ignore_value: true,
            ..PutRequest::new(b(k), Bytes::new())
        })
        .await
        .unwrap()
        .header
        .revision;
    let kv = store.get(k.as_bytes()).await.unwrap().unwrap();
    assert_eq!(
        (kv.value.as_ref(), kv.version, kv.mod_revision),
        (&b"v1"[..], 2, r),
        "ignore_value"
    );
}

/// Count and limit see only live keys: tombstones are not counted.
pub async fn count_skips_tombstones(store: Store) {
    let p = "/conformance/count_tombstones/";
    for k in ["a", "b", "c", "d"] {
        put(&store, &format!("{p}{k}"), "1").await;
    }
    store
        .delete_range(DeleteRangeRequest {
            range: KeyRange::key(b(&format!("{p}b"))),
            prev_kv: false,
        })
        .await
        .unwrap();
    let resp = store
        .range(RangeRequest {
            limit: 2,
            ..RangeRequest::prefix(b(p))
        })
        .await
        .unwrap();
    assert_eq!(keys(&resp.kvs), [format!("{p}a"), format!("{p}c")]);
    assert_eq!((resp.count, resp.more), (3, true));
}
