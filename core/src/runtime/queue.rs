//! [`WorkQueue`]: the controller's queue of keys to reconcile, in the style of
//! client-go's workqueue.
//!
//! - A key queued twice before it is taken is processed once (deduplication).
//! - A key is never handed out while it is being processed; added meanwhile, it is
//!   queued again when [`WorkQueue::done`] is called, so no change is lost.
//! - [`WorkQueue::add_after`] delays a key (the earliest of several delays wins);
//!   [`WorkQueue::add_rate_limited`] delays it exponentially in its consecutive
//!   failures, until [`WorkQueue::forget`].
//!
//! ```
//! # tokio_test_block_on(async {
//! use skiff_core::runtime::WorkQueue;
//! let q = WorkQueue::<String>::default();
//! q.add("a".into());
//! q.add("a".into());
//! let key = q.next().await.unwrap();
//! q.add("a".into()); // while processing: held back
//! assert_eq!(q.len(), 0);
//! q.done(&key);
//! assert_eq!(q.len(), 1);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
//! # }
//! ```

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::Backoff;

/// The queue's state. Guarded by the mutex in [`WorkQueue`].
struct State<T> {
    /// Keys ready to hand out, in order.
    ready: VecDeque<T>,
    /// The keys in `ready` (deduplication).
    queued: HashSet<T>,
    /// Keys handed out and not yet `done`.
    processing: HashSet<T>,
    /// Keys added while processing: re-queued at `done`.
    dirty: HashSet<T>,
    /// Delayed keys by due time (`seq` keeps entries distinct).
    delayed: BTreeSet<(Instant, u64)>,
    delayed_keys: HashMap<u64, T>,
    /// Each delayed key's due time and entry, so an earlier add replaces a later one.
    delayed_by_key: HashMap<T, (Instant, u64)>,
    seq: u64,
    /// Consecutive failures per key.
    failures: HashMap<T, u32>,
    shut_down: bool,
}

/// A deduplicating, delaying work queue of keys.
pub struct WorkQueue<T> {
    state: Mutex<State<T>>,
    notify: Notify,
    backoff: Backoff,
}

impl<T: Clone + Eq + Hash> Default for WorkQueue<T> {
    fn default() -> Self {
        WorkQueue::new(Backoff::new(
            Duration::from_millis(5),
            Duration::from_secs(1000),
        ))
    }
}

impl<T: Clone + Eq + Hash> WorkQueue<T> {
    /// A queue whose rate-limited requeues follow `backoff` (client-go's default is 5ms
    /// doubling to 1000s).
    pub fn new(backoff: Backoff) -> Self {
        WorkQueue {
            state: Mutex::new(State {
                ready: VecDeque::new(),
                queued: HashSet::new(),
                processing: HashSet::new(),
                dirty: HashSet::new(),
                delayed: BTreeSet::new(),
                delayed_keys: HashMap::new(),
                delayed_by_key: HashMap::new(),
                seq: 0,
                failures: HashMap::new(),
                shut_down: false,
            }),
            notify: Notify::new(),
            backoff,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `key` now.
    pub fn add(&self, key: T) {
        let mut s = self.lock();
        Self::push(&mut s, key);
        drop(s);
        self.notify.notify_one();
    }

    fn push(s: &mut State<T>, key: T) {
        if s.shut_down || s.queued.contains(&key) {
            return;
        }
        if s.processing.contains(&key) {
            s.dirty.insert(key);
            return;
        }
        if let Some((_, seq)) = s.delayed_by_key.remove(&key) {
            s.delayed_keys.remove(&seq);
            s.delayed.retain(|(_, q)| *q != seq);
        }
        s.queued.insert(key.clone());
        s.ready.push_back(key);
    }

    /// Queues `key` after `delay` (at once for a zero delay). A key already waiting
    /// with an earlier due time keeps it.
    pub fn add_after(&self, key: T, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let due = Instant::now() + delay;
        let mut s = self.lock();
        if s.shut_down {
            return;
        }
        if let Some((when, seq)) = s.delayed_by_key.get(&key).copied() {
            if when <= due {
                return;
            }
            s.delayed.remove(&(when, seq));
            s.delayed_keys.remove(&seq);
        }
        s.seq += 1;
        let seq = s.seq;
        s.delayed.insert((due, seq));
        s.delayed_keys.insert(seq, key.clone());
        s.delayed_by_key.insert(key, (due, seq));
        drop(s);
        self.notify.notify_one();
    }

    /// Queues `key` after its rate-limit delay, which doubles with each consecutive
    /// call until [`Self::forget`].
    pub fn add_rate_limited(&self, key: T) {
        let delay = {
            let mut s = self.lock();
            let n = s.failures.entry(key.clone()).or_insert(0);
            let delay = self.backoff.delay(*n);
            *n = n.saturating_add(1);
            delay
        };
        self.add_after(key, delay);
    }

    /// How many consecutive rate-limited requeues `key` has had.
    pub fn failures(&self, key: &T) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// Resets `key`'s rate limit (after a success).
    pub fn forget(&self, key: &T) {
        self.lock().failures.remove(key);
    }

    /// Marks `key` processed; queues it again if it was added meanwhile.
    pub fn done(&self, key: &T) {
        let mut s = self.lock();
        s.processing.remove(key);
        if s.dirty.remove(key) {
            Self::push(&mut s, key.clone());
            drop(s);
            self.notify.notify_one();
        }
    }

    /// Keys ready now (not counting delayed or processing ones).
    pub fn len(&self) -> usize {
        self.lock().ready.len()
    }

    /// Whether no key is ready now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops the queue: [`Self::next`] returns `None` from now on.
    pub fn shut_down(&self) {
        self.lock().shut_down = true;
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    /// Waits for the next key to process and marks it processing. `None` once shut
    /// down. Call [`Self::done`] with the key when finished.
    pub async fn next(&self) -> Option<T> {
        loop {
            let notified = self.notify.notified();
            let deadline = {
                let mut s = self.lock();
                if s.shut_down {
                    return None;
                }
                let now = Instant::now();
                while let Some(&(due, seq)) = s.delayed.iter().next() {
                    if due > now {
                        break;
                    }
                    s.delayed.remove(&(due, seq));
                    if let Some(key) = s.delayed_keys.remove(&seq) {
                        s.delayed_by_key.remove(&key);
                        Self::push(&mut s, key);
                    }
                }
                if let Some(key) = s.ready.pop_front() {
                    s.queued.remove(&key);
                    s.processing.insert(key.clone());
                    if !s.ready.is_empty() {
                        // Let another waiting worker look too.
                        self.notify.notify_one();
                    }
                    return Some(key);
                }
                s.delayed.iter().next().map(|(due, _)| *due)
            };
            match deadline {
                Some(due) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(due) => {}
                    }
                }
                None => notified.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn dedups_and_holds_back_keys_in_process() {
        let q = WorkQueue::<&str>::default();
        q.add("a");
        q.add("b");
        q.add("a");
        assert_eq!(q.len(), 2);
        assert_eq!(q.next().await, Some("a"));
        q.add("a");
        assert_eq!(q.next().await, Some("b"));
        assert!(q.is_empty(), "a is processing, so its re-add waits");
        q.done(&"a");
        assert_eq!(q.next().await, Some("a"));
    }

    #[tokio::test(start_paused = true)]
    async fn delays_keep_the_earliest_and_rate_limits_double() {
        let q = WorkQueue::<&str>::new(Backoff::new(
            Duration::from_secs(1),
            Duration::from_secs(60),
        ));
        let start = Instant::now();
        q.add_after("a", Duration::from_secs(10));
        q.add_after("a", Duration::from_secs(3));
        q.add_after("a", Duration::from_secs(20));
        assert_eq!(q.next().await, Some("a"));
        assert_eq!(start.elapsed().as_secs(), 3);
        q.done(&"a");
        assert!(
            q.is_empty(),
            "the later delays were merged into the earlier one"
        );

        let start = Instant::now();
        q.add_rate_limited("k");
        assert_eq!(q.next().await, Some("k"));
        q.done(&"k");
        q.add_rate_limited("k");
        assert_eq!(q.next().await, Some("k"));
        q.done(&"k");
        assert_eq!(start.elapsed().as_secs(), 3, "1s then 2s");
        assert_eq!(q.failures(&"k"), 2);
        q.forget(&"k");
        assert_eq!(q.failures(&"k"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_immediate_add_cancels_a_delay_and_shutdown_ends_next() {
        let q = std::sync::Arc::new(WorkQueue::<&str>::default());
        q.add_after("a", Duration::from_secs(100));
        q.add("a");
        assert_eq!(q.next().await, Some("a"));
        q.done(&"a");
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.next().await }
        });
        tokio::task::yield_now().await;
        q.shut_down();
        assert_eq!(waiter.await.unwrap(), None);
    }
}
