//! The wall clock as a `jiff::Timestamp` (k8s-openapi's time type), without needing
//! jiff's `std` feature, and [`Clock`]: an injectable clock for controllers whose
//! behaviour depends on time (CronJob schedules, Job deadlines), so tests can move time
//! instead of waiting for it.
//!
//! ```
//! use std::time::Duration;
//! use skiff_core::runtime::{Clock, ManualClock};
//! let t = skiff_core::runtime::now();
//! assert!(t.as_second() > 1_600_000_000);
//!
//! let clock = ManualClock::new(t);
//! clock.advance(Duration::from_secs(60));
//! assert_eq!(clock.now().as_second(), t.as_second() + 60);
//! ```

use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// Now, to the nanosecond (the Unix epoch if the system clock is before it).
pub fn now() -> Timestamp {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Timestamp::from_nanosecond(i128::try_from(nanos).unwrap_or(0)).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock ([`now`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        now()
    }
}

/// A clock that stands still until told to move: for tests.
#[derive(Debug)]
pub struct ManualClock {
    /// The time it shows.
    current: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock showing `at`.
    pub fn new(at: Timestamp) -> Self {
        ManualClock {
            current: Mutex::new(at),
        }
    }

    /// Shows `at` from now on.
    pub fn set(&self, at: Timestamp) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    /// Moves the time forward by `by` (saturating at the largest timestamp).
    pub fn advance(&self, by: Duration) {
        let mut t = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let by = SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX);
        *t = t.checked_add(by).unwrap_or(Timestamp::MAX);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
}
