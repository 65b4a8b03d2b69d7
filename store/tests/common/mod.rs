//! Helpers shared by the durable-store integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use skiff_store::*;

/// Open a [`RedbBackend`] at `dir`, waiting (up to 10 s) for a store dropped just before
/// to release the file: its background tasks let go of the backend a moment after the
/// last handle is dropped.
pub fn open_backend_when_released(dir: &Path) -> RedbBackend {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match RedbBackend::open(dir) {
            Ok(backend) => return backend,
            Err(StoreError::Open(m)) if m.contains("already open") && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("cannot open {}: {e}", dir.display()),
        }
    }
}

/// Open an [`MvccStore`] on the redb data at `dir` (see [`open_backend_when_released`]).
pub async fn open_store(dir: &Path) -> MvccStore {
    let dir = dir.to_path_buf();
    let backend = tokio::task::spawn_blocking(move || open_backend_when_released(&dir))
        .await
        .expect("open task");
    MvccStore::open(backend, StoreConfig::default())
        .await
        .expect("open store")
}

/// A range over every key.
pub fn everything(revision: Revision) -> RangeRequest {
    RangeRequest {
        range: KeyRange::range(&b"\0"[..], &b"\0"[..]),
        revision,
        ..Default::default()
    }
}

/// Every event from `start` up to `until` (inclusive) through a watch of every key,
/// failing the test if they do not all arrive within 30 s.
pub async fn history(store: &MvccStore, start: Revision, until: Revision) -> Vec<Event> {
    let mut watch = store
        .watch(WatchRequest {
            range: KeyRange::range(&b"\0"[..], &b"\0"[..]),
            start_revision: start,
            prev_kv: true,
            ..Default::default()
        })
        .await
        .expect("watch history");
    let mut events: Vec<Event> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while events.last().map_or(start - 1, |e| e.kv.mod_revision) < until {
        let batch = tokio::time::timeout_at(deadline, watch.next_batch())
            .await
            .unwrap_or_else(|_| panic!("history {start}..={until} not delivered within 30 s"))
            .expect("watch stream ended")
            .expect("watch error");
        events.extend(batch.events);
    }
    events
}
