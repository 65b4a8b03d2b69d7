//! Watches: replay from history with prev_kv, live events, filters, progress.

use std::time::Duration;

use skiff_store::{
    DeleteRangeRequest, EventType, KeyRange, PutRequest, RequestOp, TxnRequest, WatchRequest,
};

use super::util::*;
use super::Store;

async fn delete(store: &Store, key: &str) -> i64 {
    store
        .delete_range(DeleteRangeRequest {
            range: KeyRange::key(b(key)),
            prev_kv: false,
        })
        .await
        .unwrap()
        .header
        .revision
}

/// A watch from an old revision replays the history in order, with the previous
/// version of each key, then goes on with live events.
pub async fn history_with_prev_kv(store: Store) {
    let k = "/conformance/watch_history/k";
    let r1 = put(&store, k, "v1").await;
    let r2 = put(&store, k, "v2").await;
    let r3 = delete(&store, k).await;
    let mut w = store
        .watch(WatchRequest {
            range: KeyRange::key(b(k)),
            start_revision: r1,
            prev_kv: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let ev = collect_events(&mut w, 3).await;
    assert_eq!(ev[0].kind, EventType::Put);
    assert_eq!(
        (
            ev[0].kv.value.as_ref(),
            ev[0].kv.version,
            ev[0].kv.mod_revision
        ),
        (&b"v1"[..], 1, r1)
    );
    assert_eq!(ev[0].prev_kv, None, "creation has no prev_kv");
    assert_eq!(ev[1].kind, EventType::Put);
    assert_eq!(
        (
            ev[1].kv.value.as_ref(),
            ev[1].kv.version,
            ev[1].kv.create_revision
        ),
        (&b"v2"[..], 2, r1)
    );
    let prev = ev[1].prev_kv.as_ref().expect("prev_kv of the overwrite");
    assert_eq!((prev.value.as_ref(), prev.mod_revision), (&b"v1"[..], r1));
    assert_eq!(ev[2].kind, EventType::Delete);
    assert_eq!(ev[2].kv.key.as_ref(), k.as_bytes());
    assert_eq!(
        (
            ev[2].kv.mod_revision,
            ev[2].kv.create_revision,
            ev[2].kv.version,
            ev[2].kv.value.len()
        ),
        (r3, 0, 0, 0),
        "a delete event carries the key and the delete's revision only"
    );
    let prev = ev[2].prev_kv.as_ref().expect("prev_kv of the delete");
    assert_eq!((prev.value.as_ref(), prev.mod_revision), (&b"v2"[..], r2));

    let r4 = put(&store, k, "v3").await;
    let live = collect_events(&mut w, 1).await;
    assert_eq!(
        (live[0].kind, live[0].kv.mod_revision, live[0].kv.version),
        (EventType::Put, r4, 1)
    );
    assert_eq!(live[0].prev_kv, None, "a put after a delete has no prev_kv");
}

/// A prefix watch sees only its keys, and the writes of one transaction share a revision
/// and keep their order.
pub async fn prefix_history_then_live(store: Store) {
    let p = "/conformance/watch_prefix/";
    let r1 = put(&store, &format!("{p}a"), "1").await;
    put(&store, "/conformance/watch_prefix_other", "1").await;
    put(&store, &format!("{p}b"), "1").await;
    let mut w = store
        .watch(WatchRequest {
            range: KeyRange::prefix(b(p)),
            start_revision: r1,
            ..Default::default()
        })
        .await
        .unwrap();
    let ev = collect_events(&mut w, 2).await;
    assert_eq!(
        keys(&[ev[0].kv.clone(), ev[1].kv.clone()]),
        [format!("{p}a"), format!("{p}b")]
    );

    let txn = store
        .txn(TxnRequest {
            compare: vec![],
            success: vec![
                RequestOp::Put(PutRequest::new(b(&format!("{p}d")), b("1"))),
                RequestOp::Put(PutRequest::new(
                    b("/conformance/watch_prefix_other"),
                    b("2"),
                )),
                RequestOp::Put(PutRequest::new(b(&format!("{p}c")), b("1"))),
            ],
            failure: vec![],
        })
        .await
        .unwrap();
    let ev = collect_events(&mut w, 2).await;
    assert_eq!(
        keys(&[ev[0].kv.clone(), ev[1].kv.clone()]),
        [format!("{p}d"), format!("{p}c")],
        "txn order"
    );
    assert!(ev.iter().all(|e| e.kv.mod_revision == txn.header.revision));
    expect_no_events(&mut w, Duration::from_millis(300)).await;
}

/// `no_put` and `no_delete` drop their kind of event.
pub async fn filters(store: Store) {
    let k = "/conformance/watch_filters/k";
    let r1 = put(&store, k, "1").await;
    let rd = delete(&store, k).await;
    let watch = |no_put, no_delete| {
        store.watch(WatchRequest {
            range: KeyRange::key(b(k)),
            start_revision: r1,
            no_put,
            no_delete,
            ..Default::default()
        })
    };
    let mut deletes = watch(true, false).await.unwrap();
    let ev = collect_events(&mut deletes, 1).await;
    assert_eq!(
        (ev[0].kind, ev[0].kv.mod_revision),
        (EventType::Delete, rd),
        "no_put"
    );
    let mut puts = watch(false, true).await.unwrap();
    let ev = collect_events(&mut puts, 1).await;
    assert_eq!(
        (ev[0].kind, ev[0].kv.mod_revision),
        (EventType::Put, r1),
        "no_delete"
    );
    expect_no_events(&mut puts, Duration::from_millis(300)).await;
}

/// A watch from revision 0 starts after the current revision: no history, every write
/// made after `watch` returned.
pub async fn from_now(store: Store) {
    let k = "/conformance/watch_now/k";
    put(&store, k, "old").await;
    let mut w = store
        .watch(WatchRequest {
            range: KeyRange::key(b(k)),
            ..Default::default()
        })
        .await
        .unwrap();
    let r = put(&store, k, "new").await;
    let ev = collect_events(&mut w, 1).await;
    assert_eq!(
        (ev[0].kv.value.as_ref(), ev[0].kv.mod_revision),
        (&b"new"[..], r)
    );
}

/// A progress request is answered by an empty batch whose revision covers every write
/// made before it.
pub async fn progress_request(store: Store) {
    let k = "/conformance/watch_progress/idle";
    let mut w = store
        .watch(WatchRequest {
            range: KeyRange::key(b(k)),
            ..Default::default()
        })
        .await
        .unwrap();
    let r = put(&store, "/conformance/watch_progress/other", "1").await;
    w.request_progress();
    loop {
        match next_batch(&mut w).await {
            Some(Ok(batch)) => {
                assert!(
                    batch.events.is_empty(),
                    "unexpected events {:?}",
                    batch.events
                );
                if batch.header.revision >= r {
                    return;
                }
            }
            other => panic!("expected a progress notification, got {other:?}"),
        }
    }
}

/// A watch may start at a future revision: it reports nothing before it.
pub async fn future_start_revision(store: Store) {
    let k = "/conformance/watch_future/k";
    let now = current_revision(&store).await;
    let mut w = store
        .watch(WatchRequest {
            range: KeyRange::key(b(k)),
            start_revision: now + 3,
            ..Default::default()
        })
        .await
        .expect("a watch from a future revision");
    put(&store, k, "1").await;
    put(&store, k, "2").await;
    let r3 = put(&store, k, "3").await;
    assert_eq!(r3, now + 3);
    let ev = collect_events(&mut w, 1).await;
    assert_eq!(
        (ev[0].kv.mod_revision, ev[0].kv.value.as_ref()),
        (r3, &b"3"[..])
    );
}
