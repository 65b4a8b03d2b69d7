//! The pods bound to this node, as a stream of [`PodEvent`]s, from core's
//! [`watcher`](skiff_core::runtime::watcher): list with
//! `fieldSelector=spec.nodeName=<node>`, then watch, resuming from the last version
//! seen and listing again on `410 Gone`.
//!
//! A (re-)list (`Init`, `InitApply`..., `InitDone`) becomes one
//! [`PodEvent::Restarted`] with every listed pod; changes become
//! [`PodEvent::Applied`] and [`PodEvent::Deleted`].
//!
//! # Recovery
//! Errors never end the stream: the watcher logs them here, backs off and retries,
//! so the agent keeps running while the API server is unreachable and catches up
//! (with a full [`PodEvent::Restarted`] when it had to list again) when it returns.
//! A pod that does not decode is skipped by the watcher with a warning.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use skiff_core::client::{Client, ObjectTarget, ResourceRef};
use skiff_core::runtime::watcher::{self, Event};
use tokio::sync::mpsc;

/// One change of the set of pods bound to the node.
#[derive(Debug, Clone)]
pub enum PodEvent {
    /// A fresh list: exactly these pods exist (any other the agent knows is gone).
    Restarted(Vec<Pod>),
    /// A pod was added or changed.
    Applied(Pod),
    /// A pod was deleted from the API.
    Deleted(Pod),
}

/// Turns watcher events into pod events: gathers a (re-)list into one
/// [`PodEvent::Restarted`].
#[derive(Debug, Default)]
struct Gather {
    listing: Option<Vec<Pod>>,
}

impl Gather {
    fn step(&mut self, event: Event<Pod>) -> Option<PodEvent> {
        match event {
            Event::Init => {
                self.listing = Some(Vec::new());
                None
            }
            Event::InitApply(pod) => {
                self.listing.get_or_insert_with(Vec::new).push(pod);
                None
            }
            Event::InitDone => Some(PodEvent::Restarted(self.listing.take().unwrap_or_default())),
            Event::Apply(pod) => Some(PodEvent::Applied(pod)),
            Event::Delete(pod) => Some(PodEvent::Deleted(pod)),
        }
    }
}

/// Lists and watches `node`'s pods forever, sending events to `tx`; returns when the
/// receiver is gone.
pub async fn run(client: Arc<dyn Client>, node: String, tx: mpsc::Sender<PodEvent>) {
    let pods = ObjectTarget::collection(&ResourceRef::of::<Pod>(), None);
    let config = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
    let mut events = watcher::watcher::<Pod>(client, pods, config);
    let mut gather = Gather::default();
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(node = %node, error = %e, "watching the node's pods failed; retrying");
                continue;
            }
        };
        if let Some(out) = gather.step(event) {
            if tx.send(out).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some(name.into());
        p
    }

    #[test]
    fn a_relist_becomes_one_restart() {
        let mut g = Gather::default();
        assert!(g.step(Event::Init).is_none());
        assert!(g.step(Event::InitApply(named("a"))).is_none());
        assert!(g.step(Event::InitApply(named("b"))).is_none());
        match g.step(Event::InitDone) {
            Some(PodEvent::Restarted(pods)) => assert_eq!(pods.len(), 2),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            g.step(Event::Apply(named("c"))),
            Some(PodEvent::Applied(_))
        ));
        assert!(matches!(
            g.step(Event::Delete(named("c"))),
            Some(PodEvent::Deleted(_))
        ));
        // An empty list still says "exactly nothing".
        g.step(Event::Init);
        assert!(matches!(g.step(Event::InitDone), Some(PodEvent::Restarted(p)) if p.is_empty()));
    }
}
