//! [`RestartBackoff`]: the CrashLoopBackOff delay of one container, as the kubelet
//! computes it.
//!
//! The first restart happens at once; each later one waits `initial`, then twice
//! that, up to `max` (10 s doubling to 300 s by default). A container that ran for
//! `reset_after` before exiting starts over at no delay.
//!
//! ```
//! use std::time::Duration;
//! use skiff_node::agent::RestartBackoff;
//! let b = RestartBackoff::new(Duration::from_secs(10), Duration::from_secs(300));
//! let delays: Vec<u64> = (0..7).map(|n| b.delay(n).as_secs()).collect();
//! assert_eq!(delays, [0, 10, 20, 40, 80, 160, 300]);
//! ```

use std::time::Duration;

/// The back-off policy of container restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartBackoff {
    /// The delay before the second restart.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// A run at least this long resets the back-off.
    pub reset_after: Duration,
}

impl Default for RestartBackoff {
    fn default() -> Self {
        RestartBackoff::new(Duration::from_secs(10), Duration::from_secs(300))
    }
}

impl RestartBackoff {
    /// Delays from `initial` doubling to `max`; reset after a run of `2 * max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        RestartBackoff {
            initial,
            max,
            reset_after: max * 2,
        }
    }

    /// How long to wait, after the latest exit, before restart number `restarts + 1`
    /// (`restarts`: how many restarts the back-off has counted so far).
    pub fn delay(&self, restarts: u32) -> Duration {
        if restarts == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl(restarts - 1).unwrap_or(u32::MAX);
        self.initial
            .checked_mul(factor)
            .map_or(self.max, |d| d.min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap() {
        let b = RestartBackoff::new(Duration::from_millis(100), Duration::from_millis(500));
        assert_eq!(b.delay(0), Duration::ZERO);
        assert_eq!(b.delay(1), Duration::from_millis(100));
        assert_eq!(b.delay(3), Duration::from_millis(400));
        assert_eq!(b.delay(4), Duration::from_millis(500));
        assert_eq!(b.delay(200), Duration::from_millis(500));
        assert_eq!(b.reset_after, Duration::from_secs(1));
    }
}
