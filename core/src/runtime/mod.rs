//! The controller runtime: the machinery control loops run on, in the style of
//! kube-runtime. Newcomers start at [`Controller`].
//!
//! # Organization
//! - [`watcher`]: list-then-watch streams that recover from dropped connections, 410
//!   Gone and errors (with back-off).
//! - [`reflector`]: a cache fed by a watcher: an exclusive [`reflector::Writer`] and
//!   cheap [`reflector::Store`] readers with secondary indexes.
//! - [`WorkQueue`]: the deduplicating, rate-limited queue of keys.
//! - [`Controller`]: reconcile loops over a kind, the kinds it owns and the kinds it
//!   watches.
//! - [`leader`]: leader election on `coordination.k8s.io/v1` Leases.
//! - [`events`]: an Event recorder that aggregates repeats.
//!
//! Everything reaches the cluster through [`crate::client::Client`].
//!
//! ```
//! use skiff_core::runtime::{controller::Action, ObjectRef};
//! let a = Action::requeue(std::time::Duration::from_secs(5));
//! assert_eq!(a.requeue_after(), Some(std::time::Duration::from_secs(5)));
//! assert_eq!(ObjectRef::new("web").within("default").to_string(), "default/web");
//! ```

mod backoff;
mod clock;
pub mod controller;
pub mod events;
pub mod leader;
mod object;
mod queue;
pub mod reflector;
pub mod watcher;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

pub use backoff::Backoff;
pub use clock::{now, Clock, ManualClock, SystemClock};
pub use controller::{Action, Controller};
pub use object::{controller_of, resource_version, DynamicObject, Object, ObjectRef};
pub use queue::WorkQueue;
