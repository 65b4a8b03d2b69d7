//! The wall clock as a `jiff::Timestamp` (k8s-openapi's time type), without needing
//! jiff's `std` feature; and [`Clock`], the same clock behind a trait so controllers
//! that compare timestamps (heartbeats, toleration deadlines) can be given another one.
//!
//! ```
//! use skiff_core::runtime::{Clock, SystemClock};
//! let t = skiff_core::runtime::now();
//! assert!(t.as_second() > 1_600_000_000);
//! assert!(SystemClock.now() >= t);
//! ```

use k8s_openapi::jiff::Timestamp;

/// Now, to the nanosecond (the Unix epoch if the system clock is before it).
pub fn now() -> Timestamp {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Timestamp::from_nanosecond(i128::try_from(nanos).unwrap_or(0)).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
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
