//! The wall clock as a `jiff::Timestamp` (k8s-openapi's time type), without needing
//! jiff's `std` feature.
//!
//! ```
//! let t = skiff_core::runtime::now();
//! assert!(t.as_second() > 1_600_000_000);
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
