//! The scheduling queue: active, back-off and unschedulable sub-queues.
//!
//! # Organization
//! - [`SchedulingQueue`]: the queue and its moves between sub-queues.
//! - [`QueuedPodInfo`]: a queued pod with its attempts and rejecting plugins.
//! - [`QueueConfig`]: back-off and time limits.
//!
//! ```
//! use std::time::Duration;
//! use skiff_sched::queue::QueueConfig;
//! let c = QueueConfig::default();
//! assert_eq!(c.backoff(1), Duration::from_secs(1));
//! assert_eq!(c.backoff(3), Duration::from_secs(4));
//! assert_eq!(c.backoff(9), Duration::from_secs(10));
//! ```

mod heap;
mod scheduling_queue;
#[cfg(test)]
mod tests;

pub use scheduling_queue::{QueueConfig, QueueLengths, QueuedPodInfo, SchedulingQueue};
