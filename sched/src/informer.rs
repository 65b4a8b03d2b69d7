//! The scheduler's informers: core's [`watcher`] (list, then watch, resuming from the
//! last resourceVersion, re-listing on 410 Gone, back-off on errors) turned into the
//! three events the scheduler's handlers need.
//!
//! A (re-)list is handed over whole as [`InformerEvent::Relisted`] (anything not in
//! it is gone), then each change as [`InformerEvent::Applied`] or
//! [`InformerEvent::Deleted`]. Objects that do not decode are skipped by the watcher.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use k8s_openapi::api::core::v1::Node;
//! use skiff_core::runtime::watcher;
//! use skiff_sched::informer::{run_informer, InformerEvent};
//! run_informer(client, watcher::Config::default(), |e: InformerEvent<Node>| {
//!     if let InformerEvent::Applied(n) = e { println!("{:?}", n.metadata.name); }
//! }).await;
//! # }
//! ```

use std::sync::Arc;

use futures::StreamExt;
use skiff_core::client::{Client, ObjectTarget, ResourceRef};
use skiff_core::runtime::watcher::{self, Event};
use skiff_core::runtime::Object;

/// What the informer tells its handler.
#[derive(Clone, Debug)]
pub enum InformerEvent<K> {
    /// The complete current set (after a list); anything not in it is gone.
    Relisted(Vec<K>),
    /// An object was added or changed.
    Applied(K),
    /// An object was deleted.
    Deleted(K),
}

/// Lists and watches every `K` (all namespaces) with `config` (selectors, page size)
/// forever, calling `handler` for each event. Runs until the task is dropped or
/// aborted.
pub async fn run_informer<K, F>(client: Arc<dyn Client>, config: watcher::Config, mut handler: F)
where
    K: Object + k8s_openapi::Resource,
    K::Scope: 'static,
    F: FnMut(InformerEvent<K>) + Send,
{
    let target = ObjectTarget::collection(&ResourceRef::of::<K>(), None);
    let mut events = watcher::watcher::<K>(client, target, config);
    // The objects of a list in progress.
    let mut listing: Option<Vec<K>> = None;
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Init) => listing = Some(Vec::new()),
            Ok(Event::InitApply(o)) => match listing.as_mut() {
                Some(items) => items.push(o),
                None => handler(InformerEvent::Applied(o)),
            },
            Ok(Event::InitDone) => {
                handler(InformerEvent::Relisted(listing.take().unwrap_or_default()))
            }
            Ok(Event::Apply(o)) => handler(InformerEvent::Applied(o)),
            Ok(Event::Delete(o)) => handler(InformerEvent::Deleted(o)),
            Err(e) => tracing::warn!(kind = K::KIND, error = %e, "informer: retrying"),
        }
    }
}
