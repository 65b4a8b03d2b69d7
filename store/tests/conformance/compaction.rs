//! Compaction: reads and watches below it fail with the compaction revision.

use skiff_store::{KeyRange, StoreError, WatchRequest};

use super::util::*;
use super::Store;

/// After `compact(r)`, reads and watches below `r` fail with `Compacted { r }`; the
/// latest versions survive; compacting again at or below `r`, or in the future, fails.
pub async fn compacted_reads_and_watches(store: Store) {
    let k = "/conformance/compaction/k";
    let r1 = put(&store, k, "v1").await;
    let r2 = put(&store, k, "v2").await;
    let r3 = put(&store, k, "v3").await;
    put(&store, "/conformance/compaction/other", "x").await;
    store.compact(r3).await.expect("compact");
    let compacted = StoreError::Compacted {
        compact_revision: r3,
    };

    assert_eq!(
        get_at(&store, k, r1).await.unwrap_err(),
        compacted,
        "read at r1"
    );
    assert_eq!(
        get_at(&store, k, r2).await.unwrap_err(),
        compacted,
        "read at r2"
    );
    let at3 = get_at(&store, k, r3)
        .await
        .unwrap()
        .expect("k at the compaction revision");
    assert_eq!(
        (at3.value.as_ref(), at3.create_revision),
        (&b"v3"[..], r1),
        "kept version"
    );
    assert_eq!(
        store.get(k.as_bytes()).await.unwrap().unwrap().version,
        3,
        "latest version kept"
    );

    let watch = |start| {
        store.watch(WatchRequest {
            range: KeyRange::key(b(k)),
            start_revision: start,
            ..Default::default()
        })
    };
    assert_eq!(
        watch(r2).await.unwrap_err(),
        compacted,
        "watch below the compaction"
    );
    let mut w = watch(r3).await.expect("watch at the compaction revision");
    let ev = collect_events(&mut w, 1).await;
    assert_eq!(
        (ev[0].kv.mod_revision, ev[0].kv.value.as_ref()),
        (r3, &b"v3"[..])
    );

    assert_eq!(
        store.compact(r2).await.unwrap_err(),
        compacted,
        "compact below"
    );
    assert_eq!(
        store.compact(r3).await.unwrap_err(),
        compacted,
        "compact again"
    );
    let current = current_revision(&store).await;
    assert_eq!(
        store.compact(current + 100).await.unwrap_err(),
        StoreError::FutureRevision {
            current_revision: current
        },
        "compact in the future"
    );
    assert_eq!(store.status().await.unwrap().compact_revision, r3, "status");
}
