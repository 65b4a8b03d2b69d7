//! [`Expectations`]: the creations and deletions a controller has made and its cache
//! has not shown yet, so it does not act twice on a stale cache.
//!
//! ```
//! use skiff_controllers::expectations::Expectations;
//! use skiff_core::runtime::ObjectRef;
//! let e = Expectations::default();
//! let owner = ObjectRef::new("web").within("default");
//! e.expect_creations(&owner, ["web-a".to_owned()]);
//! assert!(!e.satisfied(&owner, |name| name == "web-b"));
//! assert!(e.satisfied(&owner, |name| name == "web-a"));
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use skiff_core::runtime::ObjectRef;
use tokio::time::Instant;

/// How long an expectation is trusted before the cache is believed regardless
/// (Kubernetes' `ExpectationsTimeout`).
pub const TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Default)]
struct Pending {
    creations: HashSet<String>,
    deletions: HashSet<String>,
    since: Option<Instant>,
}

/// Per-owner pending creations and deletions (by child name).
#[derive(Default)]
pub struct Expectations {
    /// Owner -> what it waits to see. Guarded as a whole.
    pending: Mutex<HashMap<ObjectRef, Pending>>,
}

impl Expectations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records children `owner` created.
    pub fn expect_creations(&self, owner: &ObjectRef, names: impl IntoIterator<Item = String>) {
        let mut p = self.lock();
        let entry = p.entry(owner.clone()).or_default();
        entry.creations.extend(names);
        entry.since.get_or_insert_with(Instant::now);
    }

    /// Records children `owner` deleted.
    pub fn expect_deletions(&self, owner: &ObjectRef, names: impl IntoIterator<Item = String>) {
        let mut p = self.lock();
        let entry = p.entry(owner.clone()).or_default();
        entry.deletions.extend(names);
        entry.since.get_or_insert_with(Instant::now);
    }

    /// Whether the cache shows everything `owner` did: `cached(name)` says whether a
    /// child is in the cache (and not terminating). Clears what it has seen.
    pub fn satisfied(&self, owner: &ObjectRef, cached: impl Fn(&str) -> bool) -> bool {
        let mut p = self.lock();
        let Some(entry) = p.get_mut(owner) else {
            return true;
        };
        entry.creations.retain(|n| !cached(n));
        entry.deletions.retain(|n| cached(n));
        let expired = entry.since.is_some_and(|s| s.elapsed() > TIMEOUT);
        if expired || (entry.creations.is_empty() && entry.deletions.is_empty()) {
            p.remove(owner);
            return true;
        }
        false
    }

    /// Forgets `owner` (it was deleted).
    pub fn forget(&self, owner: &ObjectRef) {
        self.lock().remove(owner);
    }
}
