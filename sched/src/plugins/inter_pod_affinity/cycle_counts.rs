//! [`CycleCounts`]: per-domain pod counts for one scheduling cycle, made of the
//! snapshot's own per-domain counts (borrowed, not copied: a cycle over thousands of
//! hostname domains would otherwise copy thousands of entries) plus the changes
//! AddPod/RemovePod make during the cycle (nominated pods, preemption's what-ifs).
//!
//! The borrowed parts are weak references: they stay readable while the snapshot is
//! unchanged, which is the whole cycle. A state read after the snapshot changed
//! reports [`Stale`] instead of answering from outdated counts.
//!
//! ```ignore
//! let mut c = CycleCounts::default();
//! c.add_shared("zone", &snapshot_counts);   // e.g. {"z1": 2}
//! c.bump("zone", "z1", -1);                 // a pod removed on a z1 node
//! assert_eq!(c.count("zone", "z1"), Ok(1));
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use crate::cache::DomainCounts;

/// The snapshot changed since PreFilter borrowed its counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("PreFilter state used after the snapshot changed")]
pub struct Stale;

/// Counts per (topology key, value): shared parts plus the cycle's own changes.
#[derive(Clone, Debug, Default)]
pub(crate) struct CycleCounts {
    /// Per topology key, the snapshot's per-domain counts (one per contributing term).
    shared: Vec<(String, Weak<DomainCounts>)>,
    /// Changes made during the cycle: key → value → count (no zero entries).
    delta: HashMap<String, HashMap<String, i64>>,
    /// The sum of every count. Counts are never negative, so 0 means none anywhere.
    total: i64,
}

impl CycleCounts {
    /// Adds the snapshot's per-domain counts of `key` (kept by reference).
    pub(crate) fn add_shared(&mut self, key: &str, domains: &Arc<DomainCounts>) {
        if domains.is_empty() {
            return;
        }
        self.total += domains.values().sum::<i64>();
        self.shared.push((key.to_owned(), Arc::downgrade(domains)));
    }

    /// Adds `by` to the count of `(key, value)`.
    pub(crate) fn bump(&mut self, key: &str, value: &str, by: i64) {
        self.total += by;
        let values = self.delta.entry(key.to_owned()).or_default();
        let e = values.entry(value.to_owned()).or_insert(0);
        *e += by;
        if *e == 0 {
            values.remove(value);
            if values.is_empty() {
                self.delta.remove(key);
            }
        }
    }

    /// The count of `(key, value)`.
    pub(crate) fn count(&self, key: &str, value: &str) -> Result<i64, Stale> {
        let mut n = self
            .delta
            .get(key)
            .and_then(|m| m.get(value))
            .copied()
            .unwrap_or(0);
        for (k, domains) in &self.shared {
            if k == key {
                n += domains
                    .upgrade()
                    .ok_or(Stale)?
                    .get(value)
                    .copied()
                    .unwrap_or(0);
            }
        }
        Ok(n)
    }

    /// Whether no pod is counted anywhere.
    pub(crate) fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The topology keys with counts (each once).
    pub(crate) fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self
            .shared
            .iter()
            .map(|(k, _)| k.as_str())
            .chain(self.delta.keys().map(String::as_str))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_parts_plus_changes_until_the_snapshot_changes() {
        let mut snapshot_counts = Arc::new(DomainCounts::from([("z1".to_owned(), 2)]));
        let other = Arc::new(DomainCounts::from([
            ("z1".to_owned(), 1),
            ("z2".to_owned(), 4),
        ]));
        let mut c = CycleCounts::default();
        assert!(c.is_empty());
        c.add_shared("zone", &snapshot_counts);
        c.add_shared("zone", &other);
        c.add_shared("host", &Arc::new(DomainCounts::new()));
        assert_eq!(c.keys(), ["zone"]);
        assert_eq!(c.count("zone", "z1"), Ok(3));
        c.bump("zone", "z1", -3);
        c.bump("zone", "z2", -4);
        assert_eq!(c.count("zone", "z1"), Ok(0));
        assert!(c.is_empty());
        c.bump("host", "h1", 1);
        assert_eq!(c.keys(), ["host", "zone"]);
        assert!(!c.is_empty());
        // The snapshot's counts change (a new cycle): the borrowed part is gone.
        Arc::make_mut(&mut snapshot_counts).insert("z3".to_owned(), 1);
        assert_eq!(c.count("zone", "z1"), Err(Stale));
        assert_eq!(c.count("host", "h1"), Ok(1));
    }
}
