//! Watchers, in etcd's design: a *synced* group that receives each committed batch as
//! it happens, and an *unsynced* group of watchers that are behind (they started from an
//! old revision, or their channel was full) and catch up from history in bounded steps.
//!
//! A writer never waits for a watcher: delivery is `try_send`, and a watcher whose
//! channel is full is moved to the unsynced group with the revision it must resume from.
//! The syncer replays at most [`SYNC_BATCH_REVS`] revisions per watcher per step.
//!
//! # Locking
//! The hub's mutex is taken before the state lock (never the other way round): the
//! writer publishes a commit, and the syncer moves a watcher into the synced group, each
//! while holding the hub, so no event is delivered twice or skipped.

use std::collections::HashMap;

use tokio::sync::mpsc;

use super::state::State;
use crate::error::{Result, StoreError};
use crate::types::*;

/// Most revisions one watcher replays from history in one syncer step (etcd's
/// `watchBatchMaxRevs`).
pub(crate) const SYNC_BATCH_REVS: i64 = 1000;

/// The sending side of one watch.
#[derive(Debug)]
struct Watcher {
    req: WatchRequest,
    tx: mpsc::Sender<Result<WatchResponse>>,
    /// The first revision not yet delivered.
    next_rev: Revision,
    /// A progress notification was requested and is owed once caught up.
    progress_owed: bool,
    /// Something was sent since the last progress tick.
    sent_since_tick: bool,
}

/// Outcome of one attempt to deliver to a watcher.
enum Delivery {
    Sent,
    Full,
    Gone,
}

impl Watcher {
    fn send(&mut self, resp: Result<WatchResponse>) -> Delivery {
        match self.tx.try_send(resp) {
            Ok(()) => {
                self.sent_since_tick = true;
                Delivery::Sent
            }
            Err(mpsc::error::TrySendError::Full(_)) => Delivery::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Delivery::Gone,
        }
    }

    fn wants(&self, ev: &Event) -> bool {
        ev.kv.mod_revision >= self.next_rev
            && self.req.range.contains(&ev.kv.key)
            && !(self.req.no_put && ev.kind == EventType::Put)
            && !(self.req.no_delete && ev.kind == EventType::Delete)
    }

    fn shape(&self, ev: &Event) -> Event {
        let mut ev = ev.clone();
        if !self.req.prev_kv {
            ev.prev_kv = None;
        }
        ev
    }

    fn progress(&mut self, committed: Revision) -> Delivery {
        let resp = WatchResponse {
            header: ResponseHeader {
                revision: committed,
            },
            events: vec![],
        };
        self.send(Ok(resp))
    }
}

/// Every watcher of one store.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    synced: HashMap<u64, Watcher>,
    unsynced: HashMap<u64, Watcher>,
    next_id: u64,
}

impl Hub {
    /// Register a watch. `state` gives the committed and compaction revisions.
    pub fn add(
        &mut self,
        req: WatchRequest,
        tx: mpsc::Sender<Result<WatchResponse>>,
        state: &State,
    ) -> Result<u64> {
        let committed = state.committed_rev;
        if req.start_revision > 0 && req.start_revision < state.compact_rev {
            return Err(StoreError::Compacted {
                compact_revision: state.compact_rev,
            });
        }
        let id = self.next_id;
        self.next_id += 1;
        let start = req.start_revision;
        let next_rev = if start <= 0 { committed + 1 } else { start };
        let w = Watcher {
            req,
            tx,
            next_rev,
            progress_owed: false,
            sent_since_tick: false,
        };
        if next_rev > committed {
            self.synced.insert(id, w);
        } else {
            self.unsynced.insert(id, w);
        }
        Ok(id)
    }

    /// Drop a watch.
    pub fn remove(&mut self, id: u64) {
        self.synced.remove(&id);
        self.unsynced.remove(&id);
    }

    /// Whether some watcher is behind.
    pub fn has_unsynced(&self) -> bool {
        !self.unsynced.is_empty()
    }

    /// Deliver a committed batch (`events` in revision order) to the synced group.
    /// Watchers that cannot take it are moved to the unsynced group.
    pub fn publish(&mut self, events: &[Event], committed: Revision) -> bool {
        let mut behind = Vec::new();
        for (id, w) in self.synced.iter_mut() {
            let mine: Vec<Event> = events
                .iter()
                .filter(|e| w.wants(e))
                .map(|e| w.shape(e))
                .collect();
            if mine.is_empty() {
                continue;
            }
            let first = mine[0].kv.mod_revision;
            let resp = WatchResponse {
                header: ResponseHeader {
                    revision: committed,
                },
                events: mine,
            };
            match w.send(Ok(resp)) {
                Delivery::Sent => w.next_rev = committed + 1,
                Delivery::Full => {
                    w.next_rev = first;
                    behind.push(*id);
                }
                Delivery::Gone => behind.push(*id),
            }
        }
        let moved = !behind.is_empty();
        for id in behind {
            if let Some(w) = self.synced.remove(&id) {
                if !w.tx.is_closed() {
                    self.unsynced.insert(id, w);
                }
            }
        }
        moved
    }

    /// One syncer step: replay history to every unsynced watcher, at most
    /// [`SYNC_BATCH_REVS`] revisions each; move those that caught up to the synced group.
    /// Returns whether any watcher is still behind.
    pub fn sync_step(&mut self, state: &State) -> bool {
        let committed = state.committed_rev;
        let mut caught_up = Vec::new();
        let mut gone = Vec::new();
        for (id, w) in self.unsynced.iter_mut() {
            if w.tx.is_closed() {
                gone.push(*id);
                continue;
            }
            if w.next_rev < state.compact_rev {
                // The history this watcher needs is gone: tell it, then end it.
                let err = StoreError::Compacted {
                    compact_revision: state.compact_rev,
                };
                if !matches!(w.send(Err(err)), Delivery::Full) {
                    gone.push(*id);
                }
                continue;
            }
            if w.tx.capacity() == 0 {
                // Still full: reading its events now would only throw them away.
                continue;
            }
            let to = committed.min(w.next_rev + SYNC_BATCH_REVS - 1);
            if w.next_rev <= to {
                let events: Vec<Event> = state
                    .events_between(&w.req.range, w.next_rev, to, w.req.prev_kv)
                    .into_iter()
                    .map(|(_, e)| e)
                    .filter(|e| w.wants(e))
                    .collect();
                if !events.is_empty() {
                    let resp = WatchResponse {
                        header: ResponseHeader {
                            revision: committed,
                        },
                        events,
                    };
                    match w.send(Ok(resp)) {
                        Delivery::Sent => {}
                        Delivery::Full => continue,
                        Delivery::Gone => {
                            gone.push(*id);
                            continue;
                        }
                    }
                }
                w.next_rev = to + 1;
            }
            if w.next_rev > committed {
                caught_up.push(*id);
            }
        }
        for id in gone {
            self.unsynced.remove(&id);
        }
        for id in caught_up {
            if let Some(mut w) = self.unsynced.remove(&id) {
                if w.progress_owed && matches!(w.progress(committed), Delivery::Sent) {
                    w.progress_owed = false;
                }
                self.synced.insert(id, w);
            }
        }
        !self.unsynced.is_empty()
    }

    /// A progress request on one watch: answered now if it is caught up, else once it is.
    pub fn request_progress(&mut self, id: u64, committed: Revision) {
        if let Some(w) = self.synced.get_mut(&id) {
            if !matches!(w.progress(committed), Delivery::Sent) {
                w.progress_owed = true;
            }
        } else if let Some(w) = self.unsynced.get_mut(&id) {
            w.progress_owed = true;
        }
    }

    /// The periodic progress notification: every synced watcher that asked for them and
    /// was sent nothing since the last tick gets one.
    pub fn progress_tick(&mut self, committed: Revision) {
        for w in self.synced.values_mut() {
            if w.req.progress_notify && !w.sent_since_tick {
                let _ = w.progress(committed);
            }
            w.sent_since_tick = false;
        }
    }

    /// The number of watchers (synced, unsynced).
    #[cfg(test)]
    pub fn counts(&self) -> (usize, usize) {
        (self.synced.len(), self.unsynced.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn event(rev: Revision) -> Event {
        Event {
            kind: EventType::Put,
            kv: KeyValue {
                key: Bytes::from_static(b"k"),
                mod_revision: rev,
                ..Default::default()
            },
            prev_kv: None,
        }
    }

    #[test]
    fn a_full_watcher_is_set_aside_not_waited_for() {
        let mut hub = Hub::default();
        let state = State {
            current_rev: 1,
            committed_rev: 1,
            ..Default::default()
        };
        let (tx, mut rx) = mpsc::channel(1);
        let req = WatchRequest {
            range: KeyRange::key(Bytes::from_static(b"k")),
            ..Default::default()
        };
        hub.add(req, tx, &state).unwrap();
        assert_eq!(hub.counts(), (1, 0));
        assert!(!hub.publish(&[event(2)], 2));
        // The channel holds one batch; the next publish finds it full.
        assert!(hub.publish(&[event(3)], 3));
        assert_eq!(hub.counts(), (0, 1));
        assert_eq!(rx.try_recv().unwrap().unwrap().events[0].kv.mod_revision, 2);
    }

    #[test]
    fn progress_is_owed_until_caught_up() {
        let mut hub = Hub::default();
        let state = State {
            current_rev: 5,
            committed_rev: 5,
            ..Default::default()
        };
        let (tx, mut rx) = mpsc::channel(4);
        let req = WatchRequest {
            range: KeyRange::key(Bytes::from_static(b"k")),
            start_revision: 3,
            ..Default::default()
        };
        let id = hub.add(req, tx, &state).unwrap();
        assert_eq!(hub.counts(), (0, 1));
        hub.request_progress(id, 5);
        assert!(rx.try_recv().is_err(), "no progress while behind");
        assert!(!hub.sync_step(&state));
        let p = rx.try_recv().unwrap().unwrap();
        assert!(p.events.is_empty());
        assert_eq!(p.header.revision, 5);
    }
}
