//! [`slow_start`]: Kubernetes' `slowStartBatch` — runs `count` calls (pod creations)
//! in batches of 1, 2, 4, 8, ... calls at once, and stops at the first batch with a
//! failure. A controller whose calls all fail (a quota, an admission webhook saying
//! no) makes one failed call instead of hundreds; one whose calls succeed reaches full
//! concurrency after a few batches.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use skiff_controllers::slow_start::slow_start;
//! // The 4th call fails: batches 1 and 2 ran (3 calls), batch 3 (4 calls) failed.
//! let outcome = slow_start(10, |i| async move {
//!     if i == 3 { Err("no") } else { Ok(i) }
//! })
//! .await;
//! assert_eq!(outcome.done.len(), 6);
//! assert_eq!(outcome.error, Some("no"));
//! # }
//! ```

use std::future::Future;

/// What a [`slow_start`] run did.
#[derive(Debug)]
pub struct Outcome<T, E> {
    /// The results of the calls that succeeded, in call order.
    pub done: Vec<T>,
    /// The first failure, if any (later batches were not started).
    pub error: Option<E>,
    /// Calls not made because a batch failed.
    pub skipped: usize,
}

/// Makes `count` calls `call(0)`, `call(1)`, ... in doubling batches, each batch's
/// calls at once; stops after the first batch in which a call failed.
pub async fn slow_start<T, E, F, Fut>(count: usize, call: F) -> Outcome<T, E>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut outcome = Outcome {
        done: Vec::with_capacity(count),
        error: None,
        skipped: 0,
    };
    let mut started = 0;
    let mut batch = 1;
    while started < count {
        let size = batch.min(count - started);
        let results = futures::future::join_all((started..started + size).map(&call)).await;
        started += size;
        for r in results {
            match r {
                Ok(t) => outcome.done.push(t),
                Err(e) => {
                    outcome.error.get_or_insert(e);
                }
            }
        }
        if outcome.error.is_some() {
            outcome.skipped = count - started;
            break;
        }
        batch *= 2;
    }
    outcome
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn every_call_is_made_once_when_all_succeed() {
        let calls = AtomicUsize::new(0);
        let outcome: Outcome<usize, ()> = slow_start(100, |i| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok(i) }
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 100);
        assert_eq!(outcome.done, (0..100).collect::<Vec<_>>());
        assert_eq!(outcome.skipped, 0);
    }

    #[tokio::test]
    async fn a_failing_first_call_stops_everything_else() {
        let outcome: Outcome<(), &str> = slow_start(500, |_| async { Err("quota") }).await;
        assert!(outcome.done.is_empty());
        assert_eq!(outcome.error, Some("quota"));
        assert_eq!(outcome.skipped, 499);
    }

    #[tokio::test]
    async fn nothing_to_do_makes_no_call() {
        let outcome: Outcome<(), ()> =
            slow_start(0, |_| async { panic!("no call expected") }).await;
        assert!(outcome.done.is_empty() && outcome.error.is_none());
    }
}
