//! Leases: grant, attach, time-to-live, keep-alive, revoke, expiry.

use std::time::Duration;

use skiff_store::{
    EventType, KeyRange, PutRequest, RangeRequest, StoreError, WatchRequest, MAX_LEASE_TTL,
};

use super::util::*;
use super::Store;

async fn put_with_lease(store: &Store, key: &str, lease: i64) -> i64 {
    store
        .put(PutRequest {
            lease,
            ..PutRequest::new(b(key), b("leased"))
        })
        .await
        .unwrap_or_else(|e| panic!("put {key} with lease {lease:x}: {e}"))
        .header
        .revision
}

/// A lease keeps its keys until revoked; revoking deletes them all at one revision.
pub async fn grant_attach_revoke(store: Store) {
    let p = "/conformance/lease/";
    let granted = store.lease_grant(0, 30).await.unwrap();
    let id = granted.id;
    assert!(id > 0, "chosen lease id {id}");
    assert_eq!(granted.ttl, 30);
    put_with_lease(&store, &format!("{p}a"), id).await;
    put_with_lease(&store, &format!("{p}b"), id).await;
    let kv = store
        .get(format!("{p}a").as_bytes())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kv.lease, id, "key attached");

    let ttl = store.lease_time_to_live(id, true).await.unwrap();
    assert_eq!((ttl.id, ttl.granted_ttl), (id, 30));
    assert!(ttl.ttl > 0 && ttl.ttl <= 30, "remaining ttl {}", ttl.ttl);
    let mut attached: Vec<String> = ttl
        .keys
        .iter()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    attached.sort();
    assert_eq!(attached, [format!("{p}a"), format!("{p}b")]);
    let no_keys = store.lease_time_to_live(id, false).await.unwrap();
    assert!(no_keys.keys.is_empty(), "keys only when asked");

    assert!(store.lease_leases().await.unwrap().contains(&id), "listed");
    let kept = store.lease_keep_alive(id).await.unwrap();
    assert_eq!(
        (kept.id, kept.ttl),
        (id, 30),
        "keep-alive renews to the granted ttl"
    );

    let r = store
        .put(PutRequest {
            ignore_lease: true,
            ..PutRequest::new(b(&format!("{p}a")), b("new"))
        })
        .await
        .unwrap()
        .header
        .revision;
    let kv = store
        .get(format!("{p}a").as_bytes())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (kv.lease, kv.value.as_ref(), kv.mod_revision),
        (id, &b"new"[..], r),
        "ignore_lease"
    );

    let explicit = 0x5eed_0000 + i64::from(std::process::id());
    let g = store.lease_grant(explicit, 30).await.unwrap();
    assert_eq!(g.id, explicit, "requested id");
    assert_eq!(
        store.lease_grant(explicit, 30).await.unwrap_err(),
        StoreError::LeaseExists
    );

    let rr = store.lease_revoke(id).await.unwrap().revision;
    assert_eq!(
        rr,
        r + 1,
        "revoke deletes at one new revision (a grant writes none)"
    );
    let left = store.range(RangeRequest::prefix(b(p))).await.unwrap();
    assert_eq!(left.count, 0, "keys deleted with their lease");
    let before = store
        .range(RangeRequest {
            revision: rr - 1,
            ..RangeRequest::prefix(b(p))
        })
        .await
        .unwrap();
    assert_eq!(before.count, 2, "both keys until the revoke");
    assert!(
        !store.lease_leases().await.unwrap().contains(&id),
        "revoked lease not listed"
    );
    assert_eq!(
        store.lease_revoke(id).await.unwrap_err(),
        StoreError::LeaseNotFound,
        "second revoke"
    );
    store.lease_revoke(explicit).await.unwrap();
}

/// Operations on a lease that does not exist, and a TTL above the maximum.
pub async fn lease_errors(store: Store) {
    let unknown = 0x0bad_1ea5e;
    assert_eq!(
        store.lease_revoke(unknown).await.unwrap_err(),
        StoreError::LeaseNotFound,
        "revoke"
    );
    assert_eq!(
        store.lease_keep_alive(unknown).await.unwrap_err(),
        StoreError::LeaseNotFound,
        "keep-alive"
    );
    assert_eq!(
        store.lease_time_to_live(unknown, true).await.unwrap_err(),
        StoreError::LeaseNotFound,
        "ttl"
    );
    let put = PutRequest {
        lease: unknown,
        ..PutRequest::new(b("/conformance/lease_errors/k"), b("v"))
    };
    assert_eq!(
        store.put(put).await.unwrap_err(),
        StoreError::LeaseNotFound,
        "put with an unknown lease"
    );
    assert_eq!(
        store.lease_grant(0, MAX_LEASE_TTL + 1).await.unwrap_err(),
        StoreError::LeaseTtlTooLarge
    );
}

/// An expired lease deletes its keys at one revision, and watchers see the deletes.
pub async fn expiry_deletes_keys(store: Store) {
    let p = "/conformance/lease_expiry/";
    let g = store.lease_grant(0, 1).await.unwrap();
    assert!(g.ttl >= 1, "granted ttl {}", g.ttl);
    let mut w = store
        .watch(WatchRequest {
            range: KeyRange::prefix(b(p)),
            ..Default::default()
        })
        .await
        .unwrap();
    put_with_lease(&store, &format!("{p}a"), g.id).await;
    put_with_lease(&store, &format!("{p}b"), g.id).await;
    collect_events(&mut w, 2).await;
    let expiry = Duration::from_secs(g.ttl as u64) + WAIT;
    wait_until(expiry, "the leased keys to expire", || {
        let store = store.clone();
        async move { store.range(RangeRequest::prefix(b(p))).await.unwrap().count == 0 }
    })
    .await;
    let ev = collect_events(&mut w, 2).await;
    assert!(ev.iter().all(|e| e.kind == EventType::Delete), "{ev:?}");
    assert_eq!(
        ev[0].kv.mod_revision, ev[1].kv.mod_revision,
        "one revision for the expiry"
    );
    assert_eq!(
        store.lease_time_to_live(g.id, false).await.unwrap_err(),
        StoreError::LeaseNotFound
    );
}

/// A put without a lease detaches the key from its lease: revoking the lease then
/// leaves the key alone.
pub async fn put_without_lease_detaches(store: Store) {
    let k = "/conformance/lease_detach/k";
    let g = store.lease_grant(0, 30).await.unwrap();
    put_with_lease(&store, k, g.id).await;
    put(&store, k, "no lease").await;
    let ttl = store.lease_time_to_live(g.id, true).await.unwrap();
    assert!(
        ttl.keys.is_empty(),
        "detached key still listed: {:?}",
        ttl.keys
    );
    store.lease_revoke(g.id).await.unwrap();
    let kv = store
        .get(k.as_bytes())
        .await
        .unwrap()
        .expect("detached key survives the revoke");
    assert_eq!((kv.lease, kv.value.as_ref()), (0, &b"no lease"[..]));
}

/// Revoking a lease with no keys deletes nothing, so it creates no revision; a
/// transaction that puts with an unknown lease fails as a whole.
pub async fn revoke_without_keys_and_txn_lease(store: Store) {
    let g = store.lease_grant(0, 30).await.unwrap();
    let before = current_revision(&store).await;
    let header = store.lease_revoke(g.id).await.unwrap();
    assert_eq!(header.revision, before, "revoking a lease without keys");
    assert_eq!(current_revision(&store).await, before);

    let txn = skiff_store::TxnRequest {
        compare: vec![],
        success: vec![
            skiff_store::RequestOp::Put(PutRequest::new(b("/conformance/lease_txn/a"), b("1"))),
            skiff_store::RequestOp::Put(PutRequest {
                lease: g.id,
                ..PutRequest::new(b("/conformance/lease_txn/b"), b("1"))
            }),
        ],
        failure: vec![],
    };
    assert_eq!(
        store.txn(txn).await.unwrap_err(),
        StoreError::LeaseNotFound,
        "txn put with a revoked lease"
    );
    assert_eq!(
        current_revision(&store).await,
        before,
        "the whole txn is refused"
    );
}

/// A watch with prev_kv sees the expired keys' last values in the delete events.
pub async fn expiry_events_carry_prev_kv(store: Store) {
    let p = "/conformance/lease_expiry_prev/";
    let g = store.lease_grant(0, 1).await.unwrap();
    put_with_lease(&store, &format!("{p}a"), g.id).await;
    let mut w = store
        .watch(WatchRequest {
            range: KeyRange::prefix(b(p)),
            prev_kv: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let deadline = Duration::from_secs(g.ttl as u64) + WAIT;
    let ev = tokio::time::timeout(deadline, collect_events(&mut w, 1))
        .await
        .expect("expiry event");
    assert_eq!(ev[0].kind, EventType::Delete);
    let prev = ev[0].prev_kv.as_ref().expect("prev_kv of an expiry");
    assert_eq!((prev.value.as_ref(), prev.lease), (&b"leased"[..], g.id));
}
