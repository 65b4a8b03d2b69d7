//! Helpers shared by the conformance cases.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use skiff_store::{
    Event, KeyValue, PutRequest, RangeRequest, Result, Revision, WatchResponse, WatchStream,
};

use super::Store;

/// How long a case waits for a watch event or a condition before failing.
pub const WAIT: Duration = Duration::from_secs(10);

/// `s` as bytes.
pub fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// Put `key = value` and return the revision the put created.
pub async fn put(store: &Store, key: &str, value: &str) -> Revision {
    store
        .put(PutRequest::new(b(key), b(value)))
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e}"))
        .header
        .revision
}

/// The store's current revision, read through a range.
pub async fn current_revision(store: &Store) -> Revision {
    store
        .range(RangeRequest::key(b("/conformance-probe")))
        .await
        .expect("probe range")
        .header
        .revision
}

/// Read one key at `revision` (0 = current).
pub async fn get_at(store: &Store, key: &str, revision: Revision) -> Result<Option<KeyValue>> {
    let req = RangeRequest {
        revision,
        ..RangeRequest::key(b(key))
    };
    Ok(store.range(req).await?.kvs.into_iter().next())
}

/// The keys of `kvs`, as strings.
pub fn keys(kvs: &[KeyValue]) -> Vec<String> {
    kvs.iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

/// The values of `kvs`, as strings.
pub fn values(kvs: &[KeyValue]) -> Vec<String> {
    kvs.iter()
        .map(|kv| String::from_utf8_lossy(&kv.value).into_owned())
        .collect()
}

/// The next batch of a watch, failing the case after [`WAIT`].
pub async fn next_batch(stream: &mut WatchStream) -> Option<Result<WatchResponse>> {
    tokio::time::timeout(WAIT, stream.next_batch())
        .await
        .expect("timed out waiting for a watch batch")
}

/// Read batches until `n` events arrived (progress notifications are skipped); fails on
/// an error, the end of the stream, more than `n` events, or a timeout.
pub async fn collect_events(stream: &mut WatchStream, n: usize) -> Vec<Event> {
    let mut events = Vec::new();
    while events.len() < n {
        match next_batch(stream).await {
            Some(Ok(batch)) => {
                for ev in &batch.events {
                    assert!(
                        batch.header.revision >= ev.kv.mod_revision,
                        "batch header revision {} below event revision {}",
                        batch.header.revision,
                        ev.kv.mod_revision
                    );
                }
                events.extend(batch.events)
            }
            Some(Err(e)) => panic!("watch failed after {} events: {e}", events.len()),
            None => panic!("watch ended after {} of {n} events", events.len()),
        }
    }
    assert_eq!(events.len(), n, "more events than expected: {events:?}");
    events
}

/// Assert that no event arrives on `stream` within `quiet` (progress batches allowed).
pub async fn expect_no_events(stream: &mut WatchStream, quiet: Duration) {
    let deadline = tokio::time::Instant::now() + quiet;
    loop {
        match tokio::time::timeout_at(deadline, stream.next_batch()).await {
            Err(_) => return,
            Ok(Some(Ok(batch))) if batch.events.is_empty() => continue,
            Ok(other) => panic!("expected no events, got {other:?}"),
        }
    }
}

/// Poll `check` until it returns true, failing after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
