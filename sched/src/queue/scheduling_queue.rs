//! [`SchedulingQueue`]: pods waiting for a node, in three sub-queues as in
//! kube-scheduler.
//!
//! - **active**: ready to be tried, ordered by the QueueSort plugin (priority, then
//!   age). [`SchedulingQueue::pop`] waits here.
//! - **backoff**: failed recently; each retry waits twice as long as the last
//!   (1s, 2s, 4s, ... up to 10s) before going back to active.
//! - **unschedulable**: rejected by filters; waits for a cluster event that may help
//!   (a node added or changed, a pod deleted: [`SchedulingQueue::move_all_on_event`]),
//!   or at most 5 minutes.
//!
//! A pod popped and being scheduled is *in flight*. If a cluster event arrives while
//! it is in flight, a rejection goes to backoff instead of unschedulable, so the event
//! is not missed. A pod deleted while in flight is not requeued.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use skiff_sched::queue::{QueueConfig, SchedulingQueue};
//! let q = SchedulingQueue::new(QueueConfig::default(), None);
//! let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "p", "namespace": "default", "uid": "u"}, "spec": {"containers": []}})).unwrap();
//! q.add(Arc::new(pod));
//! let popped = q.pop().await.unwrap();
//! assert_eq!(popped.key, "u");
//! assert_eq!(popped.attempts, 1);
//! # }
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::heap::{Heap, Less};
use crate::framework::{ClusterEvent, Plugin};
use crate::pod::{pod_key, priority};

/// A pod in the queue, with its scheduling history.
#[derive(Clone, Debug)]
pub struct QueuedPodInfo {
    /// The pod (the latest version the queue saw).
    pub pod: Arc<Pod>,
    /// Its key (UID).
    pub key: String,
    /// `spec.priority`.
    pub priority: i32,
    /// When it last entered the queue (the back-off clock starts here).
    pub timestamp: Instant,
    /// When it was first popped.
    pub initial_attempt: Option<Instant>,
    /// How many times it was popped.
    pub attempts: u32,
    /// The plugins that rejected it last time (events for other plugins do not move it).
    pub unschedulable_plugins: HashSet<String>,
}

impl QueuedPodInfo {
    /// A fresh entry for `pod`.
    pub fn new(pod: Arc<Pod>, now: Instant) -> Self {
        QueuedPodInfo {
            key: pod_key(&pod),
            priority: priority(&pod),
            pod,
            timestamp: now,
            initial_attempt: None,
            attempts: 0,
            unschedulable_plugins: HashSet::new(),
        }
    }
}

/// Timings of the queue.
#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// Back-off after the first failure (doubles per attempt).
    pub initial_backoff: Duration,
    /// The longest back-off.
    pub max_backoff: Duration,
    /// The longest a pod stays unschedulable without an event.
    pub max_in_unschedulable: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_in_unschedulable: Duration::from_secs(300),
        }
    }
}

impl QueueConfig {
    /// The back-off of a pod after `attempts` attempts.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let shift = attempts.saturating_sub(1).min(31);
        self.initial_backoff
            .checked_mul(1u32 << shift)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Active,
    Backoff,
    Unschedulable,
}

/// Where each queued pod is; heap items whose `seq` is not the entry's are stale.
struct Entry {
    seq: u64,
    place: Place,
}

struct State {
    active: Heap<(u64, QueuedPodInfo)>,
    backoff: BinaryHeap<Reverse<(Instant, u64, String)>>,
    /// The pod infos of pods in backoff and unschedulable, by key.
    parked: HashMap<String, QueuedPodInfo>,
    entries: HashMap<String, Entry>,
    /// Pods popped and not yet done; the value is a newer version seen meanwhile.
    in_flight: HashMap<String, Option<Arc<Pod>>>,
    next_seq: u64,
    scheduling_cycle: u64,
    move_request_cycle: u64,
    closed: bool,
}

/// The scheduling queue. Share it behind an `Arc`.
pub struct SchedulingQueue {
    /// Guards every sub-queue; never held across an await.
    state: Mutex<State>,
    /// Wakes `pop` when a pod becomes active or the queue closes.
    notify: Notify,
    config: QueueConfig,
}

impl std::fmt::Debug for SchedulingQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("SchedulingQueue")
            .field("active", &s.active.len())
            .field("parked", &s.parked.len())
            .field("in_flight", &s.in_flight.len())
            .finish()
    }
}

/// Sizes of the sub-queues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueLengths {
    /// Active pods.
    pub active: usize,
    /// Pods backing off.
    pub backoff: usize,
    /// Unschedulable pods.
    pub unschedulable: usize,
    /// Pods being scheduled.
    pub in_flight: usize,
}

impl SchedulingQueue {
    /// A queue ordered by `sort` (a QueueSort plugin), or by priority then age.
    pub fn new(config: QueueConfig, sort: Option<Arc<dyn Plugin>>) -> Self {
        let less: Less<(u64, QueuedPodInfo)> = match sort {
            Some(p) if p.as_queue_sort().is_some() => {
                Arc::new(move |a, b| p.as_queue_sort().is_some_and(|s| s.less(&a.1, &b.1)))
            }
            _ => Arc::new(|a, b| {
                crate::plugins::queue_sort::less(
                    a.1.priority,
                    a.1.timestamp,
                    b.1.priority,
                    b.1.timestamp,
                )
            }),
        };
        SchedulingQueue {
            state: Mutex::new(State {
                active: Heap::new(less),
                backoff: BinaryHeap::new(),
                parked: HashMap::new(),
                entries: HashMap::new(),
                in_flight: HashMap::new(),
                next_seq: 0,
                scheduling_cycle: 0,
                move_request_cycle: 0,
                closed: false,
            }),
            notify: Notify::new(),
            config,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a new pending pod (or refreshes one already queued).
    pub fn add(&self, pod: Arc<Pod>) {
        let key = pod_key(&pod);
        let mut s = self.lock();
        if s.entries.contains_key(&key) || s.in_flight.contains_key(&key) {
            drop(s);
            self.update(pod);
            return;
        }
        let info = QueuedPodInfo::new(pod, Instant::now());
        push_active(&mut s, info);
        drop(s);
        self.notify.notify_one();
    }

    /// A queued pod changed. A change of spec, labels or annotations moves an
    /// unschedulable pod to active (or backoff); status-only changes (such as the
    /// scheduler's own condition) only refresh the stored pod.
    pub fn update(&self, pod: Arc<Pod>) {
        let key = pod_key(&pod);
        let mut s = self.lock();
        if let Some(slot) = s.in_flight.get_mut(&key) {
            *slot = Some(pod);
            return;
        }
        let Some(place) = s.entries.get(&key).map(|e| e.place) else {
            drop(s);
            self.add(pod);
            return;
        };
        match place {
            Place::Active => {
                // Re-push with the new pod; the old heap item goes stale.
                let old = find_active(&s, &key);
                let mut info =
                    old.unwrap_or_else(|| QueuedPodInfo::new(pod.clone(), Instant::now()));
                info.priority = priority(&pod);
                info.pod = pod;
                push_active(&mut s, info);
            }
            Place::Backoff | Place::Unschedulable => {
                let Some(mut info) = s.parked.remove(&key) else {
                    return;
                };
                let changed = meaningful_change(&info.pod, &pod);
                info.priority = priority(&pod);
                info.pod = pod;
                if place == Place::Unschedulable && changed {
                    self.requeue_parked(&mut s, info);
                    drop(s);
                    self.notify.notify_one();
                } else {
                    s.parked.insert(key, info);
                }
            }
        }
    }

    /// Removes a pod (deleted, or bound by someone else).
    pub fn delete(&self, key: &str) {
        let mut s = self.lock();
        s.entries.remove(key);
        s.parked.remove(key);
        s.in_flight.remove(key);
    }

    /// Waits for the next active pod; `None` once the queue is closed. Moves pods
    /// whose back-off ended, and pods unschedulable for too long, to active first.
    pub async fn pop(&self) -> Option<QueuedPodInfo> {
        loop {
            let wake_at = {
                let mut s = self.lock();
                if s.closed {
                    return None;
                }
                let now = Instant::now();
                self.flush(&mut s, now);
                while let Some((seq, mut info)) = s.active.pop() {
                    let live = s
                        .entries
                        .get(&info.key)
                        .is_some_and(|e| e.seq == seq && e.place == Place::Active);
                    if !live {
                        continue;
                    }
                    s.entries.remove(&info.key);
                    s.scheduling_cycle += 1;
                    info.attempts += 1;
                    info.initial_attempt.get_or_insert(now);
                    s.in_flight.insert(info.key.clone(), None);
                    return Some(info);
                }
                let next_backoff = s.backoff.peek().map(|Reverse((t, _, _))| *t);
                let periodic = now + Duration::from_secs(30);
                next_backoff.map_or(periodic, |t| t.min(periodic))
            };
            tokio::select! {
                _ = self.notify.notified() => {}
                _ = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    /// The scheduling cycle of the last pop (pass it back with a rejection).
    pub fn scheduling_cycle(&self) -> u64 {
        self.lock().scheduling_cycle
    }

    /// The scheduling attempt of an in-flight pod ended without a rejection (bound,
    /// or handed to the binder).
    pub fn done(&self, key: &str) {
        self.lock().in_flight.remove(key);
    }

    /// Puts back a pod whose attempt failed in scheduling `cycle`: to backoff when
    /// the failure was an error (no rejecting plugins) or a cluster event arrived
    /// during the attempt, else to unschedulable. Dropped if the pod was deleted or
    /// re-added meanwhile.
    pub fn add_unschedulable(&self, mut info: QueuedPodInfo, cycle: u64) {
        let mut s = self.lock();
        let Some(newer) = s.in_flight.remove(&info.key) else {
            return;
        };
        if s.entries.contains_key(&info.key) {
            return;
        }
        if let Some(pod) = newer {
            info.priority = priority(&pod);
            info.pod = pod;
        }
        info.timestamp = Instant::now();
        let to_backoff = info.unschedulable_plugins.is_empty() || s.move_request_cycle >= cycle;
        if to_backoff {
            self.push_backoff(&mut s, info);
        } else {
            let seq = next_seq(&mut s);
            s.entries.insert(
                info.key.clone(),
                Entry {
                    seq,
                    place: Place::Unschedulable,
                },
            );
            s.parked.insert(info.key.clone(), info);
        }
        drop(s);
        // A pod may have landed in backoff with a deadline earlier than pop's timer.
        self.notify.notify_one();
    }

    /// A cluster event happened: unschedulable pods it may help move to backoff (if
    /// their back-off is still running) or active. `may_help` decides per pod.
    pub fn move_all_on_event(
        &self,
        event: ClusterEvent,
        may_help: &dyn Fn(&QueuedPodInfo, ClusterEvent) -> bool,
    ) {
        let mut s = self.lock();
        s.move_request_cycle = s.scheduling_cycle;
        // Only parked pods (backoff, unschedulable) can be unschedulable: scan those,
        // not every queued pod.
        let keys: Vec<String> = s
            .parked
            .keys()
            .filter(|k| {
                s.entries
                    .get(*k)
                    .is_some_and(|e| e.place == Place::Unschedulable)
            })
            .cloned()
            .collect();
        let mut moved = false;
        for k in keys {
            let helps = s.parked.get(&k).is_some_and(|info| may_help(info, event));
            if helps {
                if let Some(info) = s.parked.remove(&k) {
                    self.requeue_parked(&mut s, info);
                    moved = true;
                }
            }
        }
        drop(s);
        if moved {
            self.notify.notify_one();
        }
    }

    /// Stops the queue: `pop` returns `None` from now on.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_one();
    }

    /// The sizes of the sub-queues.
    pub fn lengths(&self) -> QueueLengths {
        let s = self.lock();
        let mut l = QueueLengths {
            in_flight: s.in_flight.len(),
            ..QueueLengths::default()
        };
        for e in s.entries.values() {
            match e.place {
                Place::Active => l.active += 1,
                Place::Backoff => l.backoff += 1,
                Place::Unschedulable => l.unschedulable += 1,
            }
        }
        l
    }

    /// Whether `key` is queued (any sub-queue) or in flight.
    pub fn contains(&self, key: &str) -> bool {
        let s = self.lock();
        s.entries.contains_key(key) || s.in_flight.contains_key(key)
    }

    fn backoff_expiry(&self, info: &QueuedPodInfo) -> Instant {
        info.timestamp + self.config.backoff(info.attempts)
    }

    fn push_backoff(&self, s: &mut State, info: QueuedPodInfo) {
        let seq = next_seq(s);
        let at = self.backoff_expiry(&info);
        s.backoff.push(Reverse((at, seq, info.key.clone())));
        s.entries.insert(
            info.key.clone(),
            Entry {
                seq,
                place: Place::Backoff,
            },
        );
        s.parked.insert(info.key.clone(), info);
    }

    /// An unschedulable pod goes to backoff if its back-off runs, else to active.
    fn requeue_parked(&self, s: &mut State, info: QueuedPodInfo) {
        if self.backoff_expiry(&info) > Instant::now() {
            self.push_backoff(s, info);
        } else {
            push_active(s, info);
        }
    }

    fn flush(&self, s: &mut State, now: Instant) {
        while let Some(Reverse((at, seq, key))) = s.backoff.peek().cloned() {
            if at > now {
                break;
            }
            s.backoff.pop();
            let live = s
                .entries
                .get(&key)
                .is_some_and(|e| e.seq == seq && e.place == Place::Backoff);
            if live {
                if let Some(info) = s.parked.remove(&key) {
                    push_active(s, info);
                }
            }
        }
        let stale: Vec<String> = s
            .parked
            .iter()
            .filter(|(k, i)| {
                s.entries
                    .get(*k)
                    .is_some_and(|e| e.place == Place::Unschedulable)
                    && now.duration_since(i.timestamp) >= self.config.max_in_unschedulable
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            if let Some(info) = s.parked.remove(&k) {
                self.requeue_parked(s, info);
            }
        }
    }
}

fn next_seq(s: &mut State) -> u64 {
    s.next_seq += 1;
    s.next_seq
}

fn push_active(s: &mut State, info: QueuedPodInfo) {
    let seq = next_seq(s);
    s.entries.insert(
        info.key.clone(),
        Entry {
            seq,
            place: Place::Active,
        },
    );
    s.active.push((seq, info));
}

/// The active item of `key` (a linear scan; updates of active pods are rare).
fn find_active(s: &State, key: &str) -> Option<QueuedPodInfo> {
    let seq = s.entries.get(key)?.seq;
    s.active
        .iter()
        .find(|(q, i)| *q == seq && i.key == key)
        .map(|(_, i)| i.clone())
}

/// Whether `new` differs from `old` in what scheduling looks at (not status, not
/// resourceVersion or managedFields).
fn meaningful_change(old: &Pod, new: &Pod) -> bool {
    old.spec != new.spec
        || old.metadata.labels != new.metadata.labels
        || old.metadata.annotations != new.metadata.annotations
}
