//! Snapshots of the cache kept for paginated lists, so every page of a list is read
//! from the same revision without going to the store.
//!
//! The first page of a list served from the cache takes a [`ListSnapshot`] (the keys
//! and objects under the list's prefix: reference-counted, nothing is copied) and,
//! when more pages follow, keeps it here under its prefix and revision. A `continue`
//! token carries that revision; while the snapshot is kept, the next page is cut from
//! it, otherwise the list falls back to reading the store at that revision.
//!
//! ```
//! use std::time::Duration;
//! use skiff_api::watch_cache::{ListSnapshot, PageSnapshots};
//!
//! let pages = PageSnapshots::new(4, Duration::from_secs(60));
//! let snap = std::sync::Arc::new(ListSnapshot {
//!     prefix: "/registry/pods/default/".into(),
//!     revision: 7,
//!     entries: Vec::new(),
//! });
//! pages.keep(snap);
//! assert!(pages.find("/registry/pods/default/", 7).is_some());
//! assert!(pages.find("/registry/pods/default/", 8).is_none());
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::event::CachedObject;

/// The objects under one prefix at one revision, in key order.
#[derive(Debug)]
pub struct ListSnapshot {
    /// The store key prefix listed.
    pub prefix: String,
    /// The revision of the view.
    pub revision: i64,
    /// Store keys and objects, sorted by key.
    pub entries: Vec<(String, CachedObject)>,
}

impl ListSnapshot {
    /// The index of the first entry whose key is at or after `key`.
    pub fn position(&self, key: &str) -> usize {
        self.entries.partition_point(|(k, _)| k.as_str() < key)
    }
}

/// Recently taken snapshots, bounded in number and age.
#[derive(Debug)]
pub struct PageSnapshots {
    kept: Mutex<VecDeque<(Instant, Arc<ListSnapshot>)>>,
    capacity: usize,
    ttl: Duration,
}

impl PageSnapshots {
    /// At most `capacity` snapshots, each kept for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        PageSnapshots {
            kept: Mutex::new(VecDeque::new()),
            capacity,
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Instant, Arc<ListSnapshot>)>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `snapshot` for later pages (replacing one of the same prefix and
    /// revision), dropping expired and, beyond capacity, the oldest.
    pub fn keep(&self, snapshot: Arc<ListSnapshot>) {
        let now = Instant::now();
        let mut kept = self.lock();
        kept.retain(|(at, s)| {
            now.duration_since(*at) < self.ttl
                && !(s.prefix == snapshot.prefix && s.revision == snapshot.revision)
        });
        kept.push_back((now, snapshot));
        while kept.len() > self.capacity {
            kept.pop_front();
        }
    }

    /// The kept snapshot of `prefix` at `revision`, if it has not expired.
    pub fn find(&self, prefix: &str, revision: i64) -> Option<Arc<ListSnapshot>> {
        let now = Instant::now();
        self.lock()
            .iter()
            .find(|(at, s)| {
                s.revision == revision && s.prefix == prefix && now.duration_since(*at) < self.ttl
            })
            .map(|(_, s)| s.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(prefix: &str, revision: i64, keys: &[&str]) -> Arc<ListSnapshot> {
        Arc::new(ListSnapshot {
            prefix: prefix.into(),
            revision,
            entries: keys
                .iter()
                .map(|k| (k.to_string(), CachedObject::new(serde_json::json!({}))))
                .collect(),
        })
    }

    #[test]
    fn bounded_and_expiring() {
        let pages = PageSnapshots::new(2, Duration::from_secs(60));
        pages.keep(snap("a/", 1, &[]));
        pages.keep(snap("a/", 2, &[]));
        pages.keep(snap("a/", 3, &[]));
        assert!(
            pages.find("a/", 1).is_none(),
            "oldest dropped beyond capacity"
        );
        assert!(pages.find("a/", 3).is_some());
        assert!(pages.find("b/", 3).is_none());
        let expired = PageSnapshots::new(2, Duration::ZERO);
        expired.keep(snap("a/", 1, &[]));
        assert!(expired.find("a/", 1).is_none());
    }

    #[test]
    fn positions() {
        let s = snap("p/", 1, &["p/a", "p/b", "p/c"]);
        assert_eq!(s.position("p/"), 0);
        assert_eq!(s.position("p/b"), 1);
        assert_eq!(s.position("p/b\0"), 2);
        assert_eq!(s.position("p/z"), 3);
    }
}
