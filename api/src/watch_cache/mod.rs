//! The watch cache: one store watch per resource feeding the current objects and a
//! window of recent events, from which every watch (and lists at resourceVersion 0) is
//! served.
//!
//! Thousands of watchers cost one store watch: the cache's task applies each store
//! event once, serializes it once into the JSON line a watch sends (`{"type":..,
//! "object":..}\n`) and hands it to every watcher through a `tokio::sync::broadcast`
//! channel. A watcher only filters (namespace, selectors) and copies bytes.
//!
//! # Consistency
//! The window and the broadcast are updated under one lock, and a watcher takes its
//! backlog from the window and subscribes to the broadcast under the same lock, so it
//! sees every event after its starting revision exactly once. A watcher that falls
//! behind the broadcast's buffer is ended (its client re-watches from the last
//! resourceVersion it saw, as clients do when a watch closes).
//!
//! # Organization
//! - [`WatchCache`]: the cache of one resource and its task (`cache.rs`).
//! - [`CachedEvent`]: one change, pre-serialized.
//! - [`Offers`]: objects writers hand over so the cache need not decode them again
//!   (`offers.rs`).
//! - [`PageSnapshots`]: views kept for the later pages of paginated lists
//!   (`pages.rs`).
//! - [`serve_watch`]: one watcher: initial events, backlog, live events, bookmarks,
//!   timeout (`watcher.rs`).

mod cache;
mod event;
mod offers;
mod pages;
mod watcher;

pub use cache::{WatchCache, WatchCacheConfig};
pub use event::{CachedEvent, CachedObject, EventKind};
pub use offers::Offers;
pub use pages::{ListSnapshot, PageSnapshots};
pub use watcher::{serve_watch, serve_watch_as, JsonLines, StartPoint, WatchOptions, WatchOutput};
