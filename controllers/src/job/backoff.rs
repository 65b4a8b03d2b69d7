//! The pause before a Job replaces failed pods: `base * 2^(failures - 1)` after the
//! last failure, capped (Kubernetes: 10 s doubling up to 6 minutes), where failures
//! are the pods that failed since the last success.
//!
//! ```
//! use std::time::Duration;
//! use k8s_openapi::jiff::Timestamp;
//! use skiff_controllers::job::backoff::remaining;
//! use skiff_core::runtime::Backoff;
//! let b = Backoff::new(Duration::from_secs(10), Duration::from_secs(360));
//! let t = Timestamp::from_second(1_000).unwrap();
//! let failures = [t, t];
//! // Two failures: wait 20 s after the last one.
//! assert_eq!(remaining(&b, &failures, None, Timestamp::from_second(1_005).unwrap()), Some(Duration::from_secs(15)));
//! assert_eq!(remaining(&b, &failures, None, Timestamp::from_second(1_030).unwrap()), None);
//! ```
//!
//! When a pod's status does not say when it finished, the time the controller first
//! saw it failed stands in, as Kubernetes' in-memory back-off records do; those
//! first-seen times live in a [`FirstSeen`] map shared by the reconciles.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use skiff_core::runtime::Backoff;

/// The default base of the back-off (Kubernetes' `DefaultJobPodFailureBackOff`).
pub const BASE: Duration = Duration::from_secs(10);
/// The default cap (Kubernetes' `MaxJobPodFailureBackOff` before 1.31).
pub const MAX: Duration = Duration::from_secs(360);
/// How many Jobs a [`FirstSeen`] remembers before it starts over.
pub const MAX_JOBS: usize = 10_000;

/// How long to wait, at `now`, before creating pods again after `failures` (their
/// finish times, failed since the last success), or `None` if no wait is due.
pub fn remaining(
    backoff: &Backoff,
    failures: &[Timestamp],
    last_success: Option<Timestamp>,
    now: Timestamp,
) -> Option<Duration> {
    let since: Vec<Timestamp> = failures
        .iter()
        .copied()
        .filter(|t| last_success.is_none_or(|s| *t >= s))
        .collect();
    let last = since.iter().max()?;
    let n = u32::try_from(since.len()).unwrap_or(u32::MAX);
    let delay = backoff.delay(n.saturating_sub(1));
    let elapsed = now.duration_since(*last);
    let elapsed = Duration::try_from(elapsed).unwrap_or(Duration::ZERO);
    delay.checked_sub(elapsed).filter(|d| !d.is_zero())
}

/// When the controller first saw each failed pod, per Job uid. Guarded as a whole.
#[derive(Default)]
pub struct FirstSeen {
    seen: Mutex<HashMap<String, HashMap<String, Timestamp>>>,
}

impl FirstSeen {
    /// The time the failed pod `pod_uid` of Job `job_uid` was first seen (`now` if
    /// this is the first time). Forgets the Job's pods not in `current`.
    pub fn record(
        &self,
        job_uid: &str,
        current: &HashSet<String>,
        pod_uid: &str,
        now: Timestamp,
    ) -> Timestamp {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_JOBS && !seen.contains_key(job_uid) {
            seen.clear();
        }
        let pods = seen.entry(job_uid.to_owned()).or_default();
        pods.retain(|uid, _| current.contains(uid));
        *pods.entry(pod_uid.to_owned()).or_insert(now)
    }

    /// Forgets a Job (finished or gone).
    pub fn forget(&self, job_uid: &str) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(job_uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn doubles_caps_and_resets_after_success() {
        let b = Backoff::new(BASE, MAX);
        let three = [at(0), at(0), at(100)];
        // 40 s after the last failure at 100.
        assert_eq!(
            remaining(&b, &three, None, at(110)),
            Some(Duration::from_secs(30))
        );
        // A success at 50 leaves one failure since: 10 s.
        assert_eq!(
            remaining(&b, &three, Some(at(50)), at(105)),
            Some(Duration::from_secs(5))
        );
        let many = vec![at(0); 40];
        assert_eq!(remaining(&b, &many, None, at(0)), Some(MAX));
        assert_eq!(remaining(&b, &[], None, at(0)), None);
    }

    #[test]
    fn first_seen_is_remembered_until_the_pod_goes() {
        let f = FirstSeen::default();
        let current: HashSet<String> = ["p".to_owned()].into();
        assert_eq!(f.record("j", &current, "p", at(5)), at(5));
        assert_eq!(f.record("j", &current, "p", at(9)), at(5));
        assert_eq!(f.record("j", &HashSet::new(), "q", at(9)), at(9));
        assert_eq!(f.record("j", &current, "p", at(12)), at(12));
    }
}
