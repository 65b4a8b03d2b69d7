//! The pods bound to this node, as a stream of [`PodEvent`]s: list with
//! `fieldSelector=spec.nodeName=<node>`, then watch from the list's resourceVersion,
//! resuming from the last seen version when a watch ends and listing again on
//! `410 Gone` or any error.
//!
//! This is a deliberately small stand-in for the controller runtime's `watcher`
//! (being built in core); when that lands, [`run`] is replaced by it and the agent
//! keeps consuming the same events.
//!
//! # Recovery
//! Errors never end the loop: it logs, waits (1 s doubling to 30 s) and lists again,
//! so the agent keeps running while the API server is unreachable and catches up
//! (with a full [`PodEvent::Restarted`]) when it returns.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use skiff_core::client::{Api, Client, ClientError, ListParams, WatchEvent};
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

/// How one watch ended.
enum WatchEnd {
    /// The server closed it: watch again from the last version.
    Closed,
    /// 410 Gone or an error: list again.
    Relist(String),
}

/// Lists and watches `node`'s pods forever, sending events to `tx`; returns when the
/// receiver is gone.
pub async fn run(client: Arc<dyn Client>, node: String, tx: mpsc::Sender<PodEvent>) {
    let api: Api<Pod> = Api::all(client);
    let selector = format!("spec.nodeName={node}");
    let mut delay = Duration::from_secs(1);
    loop {
        let list = match api.list(&ListParams::default().fields(&selector)).await {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(node = %node, error = %e, "listing pods failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        delay = Duration::from_secs(1);
        let mut version = list.metadata.resource_version.clone().unwrap_or_default();
        if tx.send(PodEvent::Restarted(list.items)).await.is_err() {
            return;
        }
        loop {
            match watch_once(&api, &selector, &mut version, &tx).await {
                Ok(WatchEnd::Closed) => continue,
                Ok(WatchEnd::Relist(why)) => {
                    tracing::debug!(node = %node, %why, "pod watch ended; listing again");
                    break;
                }
                Err(()) => return,
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One watch from `version`; `Err(())` when the receiver is gone.
async fn watch_once(
    api: &Api<Pod>,
    selector: &str,
    version: &mut String,
    tx: &mpsc::Sender<PodEvent>,
) -> Result<WatchEnd, ()> {
    let params = ListParams {
        field_selector: Some(selector.to_owned()),
        resource_version: Some(version.clone()),
        bookmarks: true,
        timeout_seconds: Some(290),
        ..ListParams::default()
    };
    let mut stream = match api.watch(&params).await {
        Ok(s) => s,
        Err(e) => return Ok(WatchEnd::Relist(e.to_string())),
    };
    while let Some(item) = stream.next().await {
        let event = match item {
            Ok(WatchEvent::Added(p)) | Ok(WatchEvent::Modified(p)) => {
                remember(version, &p);
                PodEvent::Applied(p)
            }
            Ok(WatchEvent::Deleted(p)) => {
                remember(version, &p);
                PodEvent::Deleted(p)
            }
            Ok(WatchEvent::Bookmark(p)) => {
                remember(version, &p);
                continue;
            }
            Ok(WatchEvent::Error(e)) => return Ok(WatchEnd::Relist(e.to_string())),
            Err(ClientError::Decode(e)) => {
                // One malformed object must not stop the node; list again to resync.
                return Ok(WatchEnd::Relist(format!("undecodable pod event: {e}")));
            }
            Err(e) => return Ok(WatchEnd::Relist(e.to_string())),
        };
        tx.send(event).await.map_err(|_| ())?;
    }
    Ok(WatchEnd::Closed)
}

fn remember(version: &mut String, pod: &Pod) {
    if let Some(rv) = pod.metadata.resource_version.as_deref() {
        if !rv.is_empty() {
            *version = rv.to_owned();
        }
    }
}
