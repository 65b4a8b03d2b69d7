//! Requests etcd refuses, with the error it answers.

use bytes::Bytes;
use skiff_store::{
    DeleteRangeRequest, KeyRange, PutRequest, RangeRequest, StoreError, MAX_REQUEST_BYTES,
};

use super::util::*;
use super::Store;

/// Empty keys, put flags without a key or with a value, and oversized requests.
pub async fn request_errors(store: Store) {
    let k = "/conformance/errors/k";
    let before = current_revision(&store).await;
    assert_eq!(
        store
            .put(PutRequest::new(Bytes::new(), b("v")))
            .await
            .unwrap_err(),
        StoreError::EmptyKey,
        "put"
    );
    assert_eq!(
        store
            .range(RangeRequest::key(Bytes::new()))
            .await
            .unwrap_err(),
        StoreError::EmptyKey,
        "range"
    );
    assert_eq!(
        store
            .delete_range(DeleteRangeRequest {
                range: KeyRange::key(Bytes::new()),
                prev_kv: false
            })
            .await
            .unwrap_err(),
        StoreError::EmptyKey,
        "delete"
    );
    let missing = PutRequest {
        ignore_value: true,
        ..PutRequest::new(b(k), Bytes::new())
    };
    assert_eq!(
        store.put(missing).await.unwrap_err(),
        StoreError::KeyNotFound,
        "ignore_value on a missing key"
    );
    let with_value = PutRequest {
        ignore_value: true,
        ..PutRequest::new(b(k), b("v"))
    };
    assert_eq!(
        store.put(with_value).await.unwrap_err(),
        StoreError::ValueProvided,
        "ignore_value with a value"
    );
    let with_lease = PutRequest {
        ignore_lease: true,
        lease: 7,
        ..PutRequest::new(b(k), b("v"))
    };
    assert_eq!(
        store.put(with_lease).await.unwrap_err(),
        StoreError::LeaseProvided,
        "ignore_lease with a lease"
    );
    let big = Bytes::from(vec![b'x'; MAX_REQUEST_BYTES + 64 * 1024]);
    assert_eq!(
        store.put(PutRequest::new(b(k), big)).await.unwrap_err(),
        StoreError::RequestTooLarge,
        "big value"
    );
    assert_eq!(
        current_revision(&store).await,
        before,
        "refused requests write nothing"
    );
}
