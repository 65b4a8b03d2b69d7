//! [`Backoff`]: exponential back-off between retries of a failing operation.
//!
//! ```
//! use std::time::Duration;
//! use skiff_core::runtime::Backoff;
//! let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
//! assert_eq!(b.delay(0), Duration::from_millis(100));
//! assert_eq!(b.delay(2), Duration::from_millis(400));
//! assert_eq!(b.delay(30), Duration::from_secs(1));
//! ```

use std::time::Duration;

/// Delays that double from `initial` up to `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The largest delay.
    pub max: Duration,
}

impl Default for Backoff {
    /// 800ms doubling to 30s, as kube-runtime's watcher does.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(800), Duration::from_secs(30))
    }
}

impl Backoff {
    /// A back-off from `initial` doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max }
    }

    /// The delay before retry number `attempt` (0 for the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial
            .checked_mul(factor)
            .map_or(self.max, |d| d.min(self.max))
    }
}
