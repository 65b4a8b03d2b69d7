//! The in-memory MVCC state: every retained record by revision, and a key index from
//! each key to its retained revisions. Pure data structure, no locking, no I/O.
//!
//! # Worked example
//! ```text
//! put a=1   -> rev 2   index: a -> [2.0]              records: 2.0 a=1 (create 2, v1)
//! put a=2   -> rev 3   index: a -> [2.0, 3.0]         records: 3.0 a=2 (create 2, v2)
//! del a     -> rev 4   index: a -> [2.0, 3.0, 4.0]    records: 4.0 a tombstone
//! put a=3   -> rev 5   index: a -> [.., 5.0]          records: 5.0 a=3 (create 5, v1)
//! compact 4 -> a's revisions <= 4 are dropped: the latest of them (4.0) is a tombstone,
//!              so it goes too.   index: a -> [5.0]
//! compact 3 instead -> 3.0 is the latest <= 3 and live, so it stays: a -> [3.0, 4.0, 5.0]
//! ```

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;

use crate::backend::{Record, Rev};
use crate::error::{Result, StoreError};
use crate::types::*;

/// Records and key index. Invariants: every `Rev` in `index` is in `records` and vice
/// versa; each key's revisions are in increasing order; `records` hold no revision above
/// `current_rev`.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Every retained change, by revision.
    pub records: BTreeMap<Rev, Record>,
    /// Key -> its retained revisions, ascending.
    pub index: BTreeMap<Bytes, Vec<Rev>>,
    /// The latest revision applied (possibly not yet durable).
    pub current_rev: Revision,
    /// The latest revision that is durable and visible to readers and watchers.
    pub committed_rev: Revision,
    /// History below this revision is gone.
    pub compact_rev: Revision,
}

impl State {
    /// Rebuild from records loaded in revision order.
    pub fn from_records(records: Vec<(Rev, Record)>, compact_rev: Revision) -> Self {
        // An empty etcd is at revision 1; the first write creates revision 2.
        let mut state = State {
            current_rev: 1,
            ..Default::default()
        };
        for (rev, rec) in records {
            state.current_rev = state.current_rev.max(rev.main);
            state.index.entry(rec.key.clone()).or_default().push(rev);
            state.records.insert(rev, rec);
        }
        // A compaction can remove the records of the latest revisions (tombstones); the
        // revision never goes backwards, as in etcd.
        state.current_rev = state.current_rev.max(compact_rev);
        state.committed_rev = state.current_rev;
        state.compact_rev = compact_rev;
        state
    }

    /// Append one change (during a write; `rev` above every existing one).
    pub fn insert(&mut self, rev: Rev, rec: Record) {
        self.index.entry(rec.key.clone()).or_default().push(rev);
        self.records.insert(rev, rec);
    }

    /// Check a read revision against the visible window and resolve 0 (or negative) to
    /// `latest`.
    pub fn resolve_read_rev(&self, rev: Revision, latest: Revision) -> Result<Revision> {
        if rev <= 0 {
            return Ok(latest);
        }
        if rev > latest {
            return Err(StoreError::FutureRevision {
                current_revision: latest,
            });
        }
        if rev < self.compact_rev {
            return Err(StoreError::Compacted {
                compact_revision: self.compact_rev,
            });
        }
        Ok(rev)
    }

    /// The version of `key` visible at `rev` (a live record; `None` if missing or deleted).
    pub fn get_at(&self, key: &[u8], rev: Revision) -> Option<(Rev, &Record)> {
        let revs = self.index.get(key)?;
        Self::latest_in(revs, rev).and_then(|r| self.live(r))
    }

    /// The latest revision of `revs` at or below `rev`.
    fn latest_in(revs: &[Rev], rev: Revision) -> Option<Rev> {
        let i = revs.partition_point(|r| r.main <= rev);
        (i > 0).then(|| revs[i - 1])
    }

    fn live(&self, rev: Rev) -> Option<(Rev, &Record)> {
        let rec = self.records.get(&rev)?;
        (!rec.tombstone).then_some((rev, rec))
    }

    /// The version of `key` just before `rev` (for an event's prev_kv).
    pub fn prev_of(&self, key: &[u8], rev: Rev) -> Option<KeyValue> {
        let revs = self.index.get(key)?;
        let i = revs.partition_point(|r| *r < rev);
        if i == 0 {
            return None;
        }
        self.live(revs[i - 1]).map(|(r, rec)| to_kv(r, rec))
    }

    /// Every live key in `range` at `rev`, in key order.
    pub fn range_at<'a>(
        &'a self,
        range: &'a KeyRange,
        rev: Revision,
    ) -> impl Iterator<Item = (Rev, &'a Record)> + 'a {
        self.keys_in(range)
            .filter_map(move |(_, revs)| Self::latest_in(revs, rev).and_then(|r| self.live(r)))
    }

    /// Index entries of the keys in `range`.
    fn keys_in<'a>(
        &'a self,
        range: &'a KeyRange,
    ) -> Box<dyn Iterator<Item = (&'a Bytes, &'a Vec<Rev>)> + 'a> {
        if range.is_single() {
            return Box::new(self.index.get_key_value(&range.key[..]).into_iter());
        }
        let start = Bound::Included(&range.key[..]);
        if range.range_end[..] == [0] {
            return Box::new(self.index.range::<[u8], _>((start, Bound::Unbounded)));
        }
        if range.range_end[..] <= range.key[..] {
            return Box::new(std::iter::empty());
        }
        let end = Bound::Excluded(&range.range_end[..]);
        Box::new(self.index.range::<[u8], _>((start, end)))
    }

    /// Serve a range request at the readers' revision `latest`.
    pub fn range(&self, req: &RangeRequest, latest: Revision) -> Result<RangeResponse> {
        if req.range.key.is_empty() {
            return Err(StoreError::EmptyKey);
        }
        let rev = self.resolve_read_rev(req.revision, latest)?;
        let mut count = 0i64;
        let needs_all = req.sort_order != SortOrder::None
            || req.sort_target != SortTarget::Key
            || req.min_mod_revision > 0
            || req.max_mod_revision > 0
            || req.min_create_revision > 0
            || req.max_create_revision > 0;
        let mut kvs = Vec::new();
        for (r, rec) in self.range_at(&req.range, rev) {
            count += 1;
            if req.count_only {
                continue;
            }
            // Without sorting or filters, stop collecting one past the limit.
            if !needs_all && req.limit > 0 && kvs.len() as i64 > req.limit {
                continue;
            }
            let mut kv = to_kv(r, rec);
            if req.keys_only {
                kv.value = Bytes::new();
            }
            kvs.push(kv);
        }
        kvs.retain(|kv| passes_filters(req, kv));
        sort_kvs(&mut kvs, req.sort_order, req.sort_target);
        let mut more = false;
        if req.limit > 0 && kvs.len() as i64 > req.limit {
            kvs.truncate(req.limit as usize);
            more = true;
        }
        Ok(RangeResponse {
            header: ResponseHeader { revision: latest },
            kvs,
            more,
            count,
        })
    }

    /// The events of revisions `[from, to]` for keys in `range`, in revision order (the
    /// caller bounds `to - from` to keep the work per call bounded).
    pub fn events_between(
        &self,
        range: &KeyRange,
        from: Revision,
        to: Revision,
        with_prev: bool,
    ) -> Vec<(Rev, Event)> {
        let lo = Rev::new(from, 0);
        let hi = Rev::new(to, i64::MAX);
        self.records
            .range(lo..=hi)
            .filter(|(_, rec)| range.contains(&rec.key))
            .map(|(rev, rec)| {
                let prev = if with_prev {
                    self.prev_of(&rec.key, *rev)
                } else {
                    None
                };
                (*rev, to_event(*rev, rec, prev))
            })
            .collect()
    }

    /// Compact at `rev`: drop every record at or below it except the latest live version
    /// of each key. Returns the removed revisions (for the backend).
    pub fn compact(&mut self, rev: Revision) -> Vec<Rev> {
        let mut removed = Vec::new();
        let mut empty_keys = Vec::new();
        for (key, revs) in self.index.iter_mut() {
            let upto = revs.partition_point(|r| r.main <= rev);
            if upto == 0 {
                continue;
            }
            let latest = revs[upto - 1];
            let keep_latest = self.records.get(&latest).is_some_and(|rec| !rec.tombstone);
            let cut = if keep_latest { upto - 1 } else { upto };
            for r in revs.drain(..cut) {
                self.records.remove(&r);
                removed.push(r);
            }
            if revs.is_empty() {
                empty_keys.push(key.clone());
            }
        }
        for key in empty_keys {
            self.index.remove(&key);
        }
        self.compact_rev = self.compact_rev.max(rev);
        removed.sort_unstable();
        removed
    }
}

fn passes_filters(req: &RangeRequest, kv: &KeyValue) -> bool {
    (req.min_mod_revision == 0 || kv.mod_revision >= req.min_mod_revision)
        && (req.max_mod_revision == 0 || kv.mod_revision <= req.max_mod_revision)
        && (req.min_create_revision == 0 || kv.create_revision >= req.min_create_revision)
        && (req.max_create_revision == 0 || kv.create_revision <= req.max_create_revision)
}

fn sort_kvs(kvs: &mut [KeyValue], order: SortOrder, target: SortTarget) {
    // etcd: a target other than the key with no order sorts ascending.
    let order = match (order, target) {
        (SortOrder::None, SortTarget::Key) => return,
        (SortOrder::None, _) => SortOrder::Ascend,
        (o, _) => o,
    };
    match target {
        SortTarget::Key => kvs.sort_by(|a, b| a.key.cmp(&b.key)),
        SortTarget::Version => kvs.sort_by_key(|kv| kv.version),
        SortTarget::Create => kvs.sort_by_key(|kv| kv.create_revision),
        SortTarget::Mod => kvs.sort_by_key(|kv| kv.mod_revision),
        SortTarget::Value => kvs.sort_by(|a, b| a.value.cmp(&b.value)),
    }
    if order == SortOrder::Descend {
        kvs.reverse();
    }
}

/// The public view of a live record.
pub(crate) fn to_kv(rev: Rev, rec: &Record) -> KeyValue {
    KeyValue {
        key: rec.key.clone(),
        create_revision: rec.create_revision,
        mod_revision: rev.main,
        version: rec.version,
        value: rec.value.clone(),
        lease: rec.lease,
    }
}

/// The watch event for a record.
pub(crate) fn to_event(rev: Rev, rec: &Record, prev_kv: Option<KeyValue>) -> Event {
    if rec.tombstone {
        Event {
            kind: EventType::Delete,
            kv: KeyValue {
                key: rec.key.clone(),
                mod_revision: rev.main,
                ..Default::default()
            },
            prev_kv,
        }
    } else {
        Event {
            kind: EventType::Put,
            kv: to_kv(rev, rec),
            prev_kv,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(s: &mut State, main: i64, key: &str, val: &str) {
        let prev = s.get_at(key.as_bytes(), main).map(|(_, r)| r.clone());
        let rec = Record {
            key: Bytes::copy_from_slice(key.as_bytes()),
            value: Bytes::copy_from_slice(val.as_bytes()),
            create_revision: prev.as_ref().map_or(main, |p| p.create_revision),
            version: prev.as_ref().map_or(1, |p| p.version + 1),
            lease: 0,
            tombstone: false,
        };
        s.insert(Rev::new(main, 0), rec);
        s.current_rev = main;
        s.committed_rev = main;
    }

    fn del(s: &mut State, main: i64, key: &str) {
        let rec = Record {
            key: Bytes::copy_from_slice(key.as_bytes()),
            tombstone: true,
            ..Default::default()
        };
        s.insert(Rev::new(main, 0), rec);
        s.current_rev = main;
        s.committed_rev = main;
    }

    fn value_at(s: &State, key: &str, rev: i64) -> Option<String> {
        s.get_at(key.as_bytes(), rev)
            .map(|(_, r)| String::from_utf8_lossy(&r.value).into())
    }

    #[test]
    fn history_and_tombstones() {
        let mut s = State::default();
        put(&mut s, 2, "a", "1");
        put(&mut s, 3, "a", "2");
        del(&mut s, 4, "a");
        put(&mut s, 5, "a", "3");
        assert_eq!(value_at(&s, "a", 2).as_deref(), Some("1"));
        assert_eq!(value_at(&s, "a", 3).as_deref(), Some("2"));
        assert_eq!(value_at(&s, "a", 4), None);
        assert_eq!(value_at(&s, "a", 5).as_deref(), Some("3"));
        let (_, rec) = s.get_at(b"a", 5).unwrap();
        assert_eq!((rec.create_revision, rec.version), (5, 1));
    }

    #[test]
    fn compaction_keeps_latest_live_version() {
        let mut s = State::default();
        put(&mut s, 2, "a", "1");
        put(&mut s, 3, "a", "2");
        del(&mut s, 4, "a");
        put(&mut s, 5, "a", "3");
        put(&mut s, 6, "b", "x");
        let removed = s.compact(3);
        assert_eq!(removed, vec![Rev::new(2, 0)]);
        assert_eq!(value_at(&s, "a", 3).as_deref(), Some("2"));
        let removed = s.compact(4);
        assert_eq!(removed, vec![Rev::new(3, 0), Rev::new(4, 0)]);
        assert_eq!(s.index[&b"a"[..]], vec![Rev::new(5, 0)]);
        assert!(matches!(
            s.resolve_read_rev(3, 6),
            Err(StoreError::Compacted {
                compact_revision: 4
            })
        ));
        assert_eq!(s.resolve_read_rev(4, 6), Ok(4));
        assert!(matches!(
            s.resolve_read_rev(7, 6),
            Err(StoreError::FutureRevision { .. })
        ));
    }

    #[test]
    fn compaction_drops_deleted_keys_entirely() {
        let mut s = State::default();
        put(&mut s, 2, "a", "1");
        del(&mut s, 3, "a");
        s.compact(3);
        assert!(s.index.is_empty());
        assert!(s.records.is_empty());
        // The revision survives a rebuild even with no records left.
        let rebuilt = State::from_records(vec![], 3);
        assert_eq!(rebuilt.current_rev, 3);
    }

    #[test]
    fn range_limit_count_sort_and_filters() {
        let mut s = State::default();
        for (i, k) in ["c", "a", "b", "d"].iter().enumerate() {
            put(&mut s, i as i64 + 2, k, &format!("v{i}"));
        }
        let mut req = RangeRequest {
            range: KeyRange::range(&b"a"[..], &b"d"[..]),
            limit: 2,
            ..Default::default()
        };
        let resp = s.range(&req, 5).unwrap();
        let keys: Vec<_> = resp.kvs.iter().map(|kv| kv.key.clone()).collect();
        assert_eq!(keys, vec![Bytes::from("a"), Bytes::from("b")]);
        assert!(resp.more);
        assert_eq!(resp.count, 3);

        req.sort_target = SortTarget::Mod;
        req.sort_order = SortOrder::Descend;
        let resp = s.range(&req, 5).unwrap();
        let mods: Vec<_> = resp.kvs.iter().map(|kv| kv.mod_revision).collect();
        assert_eq!(mods, vec![4, 3]);

        req.limit = 0;
        req.sort_order = SortOrder::None;
        req.sort_target = SortTarget::Key;
        req.min_mod_revision = 3;
        let resp = s.range(&req, 5).unwrap();
        assert_eq!(resp.kvs.len(), 2);
        assert_eq!(resp.count, 3);

        let all = RangeRequest {
            range: KeyRange::range(&b"\0"[..], &b"\0"[..]),
            count_only: true,
            ..Default::default()
        };
        let resp = s.range(&all, 5).unwrap();
        assert_eq!((resp.count, resp.kvs.len()), (4, 0));
        assert_eq!(
            s.range(&RangeRequest::default(), 5),
            Err(StoreError::EmptyKey)
        );
    }

    #[test]
    fn events_in_revision_order_with_prev() {
        let mut s = State::default();
        put(&mut s, 2, "a", "1");
        put(&mut s, 3, "b", "1");
        put(&mut s, 4, "a", "2");
        del(&mut s, 5, "a");
        let evs = s.events_between(&KeyRange::key(&b"a"[..]), 2, 5, true);
        let revs: Vec<_> = evs.iter().map(|(r, _)| r.main).collect();
        assert_eq!(revs, vec![2, 4, 5]);
        assert_eq!(evs[1].1.prev_kv.as_ref().unwrap().value, Bytes::from("1"));
        assert_eq!(evs[2].1.kind, EventType::Delete);
        assert_eq!(evs[2].1.prev_kv.as_ref().unwrap().value, Bytes::from("2"));
    }

    #[test]
    fn prefix_end_covers_prefix() {
        let r = KeyRange::prefix(&b"ab"[..]);
        assert!(r.contains(b"ab"));
        assert!(r.contains(b"abz"));
        assert!(!r.contains(b"ac"));
        assert_eq!(prefix_end(&[0xff, 0xff]), Bytes::from_static(&[0]));
        assert_eq!(prefix_end(&[b'a', 0xff]), Bytes::from_static(b"b"));
    }
}
