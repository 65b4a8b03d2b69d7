//! PrioritySort: higher `spec.priority` first, then the pod that entered the queue
//! earlier.
//!
//! ```
//! use skiff_sched::plugins::queue_sort::less;
//! use std::time::{Duration, Instant};
//! let t = Instant::now();
//! assert!(less(10, t + Duration::from_secs(1), 0, t));
//! assert!(less(0, t, 0, t + Duration::from_secs(1)));
//! ```

use crate::framework::{Plugin, QueueSortPlugin};
use crate::queue::QueuedPodInfo;

/// The plugin's name.
pub const NAME: &str = "PrioritySort";

/// Whether a pod with `(pa, ta)` goes before one with `(pb, tb)`.
pub fn less<T: PartialOrd>(pa: i32, ta: T, pb: i32, tb: T) -> bool {
    pa > pb || (pa == pb && ta < tb)
}

/// The PrioritySort queue order.
#[derive(Debug, Default)]
pub struct PrioritySort;

impl Plugin for PrioritySort {
    fn name(&self) -> &str {
        NAME
    }
    fn as_queue_sort(&self) -> Option<&dyn QueueSortPlugin> {
        Some(self)
    }
}

impl QueueSortPlugin for PrioritySort {
    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool {
        less(a.priority, a.timestamp, b.priority, b.timestamp)
    }
}
