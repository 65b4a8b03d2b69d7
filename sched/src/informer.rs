//! A small list+watch loop ("informer") feeding the scheduler its pods and nodes.
//!
//! This is deliberately minimal and private to the scheduler's needs; the core
//! runtime's `watcher`/`reflector` will replace it once it lands. It lists (in pages),
//! hands the full list over as [`InformerEvent::Relisted`], then watches from the
//! list's resourceVersion, resuming from the last resourceVersion it saw when a watch
//! ends, and lists again when the server answers 410 Gone.
//!
//! # Recovery
//! - A watch that ends (timeout, dropped connection): watch again from the last seen
//!   resourceVersion.
//! - 410 Gone (on starting the watch or as an ERROR event): list again.
//! - A failed list: retry with back-off (100ms doubling to 5s).
//! - An object that does not decode: skipped (logged); the watch goes on.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use k8s_openapi::api::core::v1::Node;
//! use skiff_core::client::{Api, ListParams};
//! use skiff_sched::informer::{run_informer, InformerEvent};
//! run_informer(Api::<Node>::all(client), ListParams::default(), |e: InformerEvent<Node>| {
//!     if let InformerEvent::Applied(n) = e { println!("{:?}", n.metadata.name); }
//! }).await;
//! # }
//! ```

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde::Serialize;
use skiff_core::client::{Api, ClientError, ListParams, WatchEvent};

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

const PAGE: u32 = 500;
const WATCH_TIMEOUT_SECONDS: u32 = 290;

async fn list_all<K>(api: &Api<K>, params: &ListParams) -> Result<(Vec<K>, String), ClientError>
where
    K: k8s_openapi::Resource + Serialize + DeserializeOwned + Send + 'static,
    K::Scope: 'static,
{
    let mut items = Vec::new();
    let mut p = params.clone().limit(PAGE);
    loop {
        let page = api.list(&p).await?;
        items.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => p.continue_token = Some(c),
            None => return Ok((items, page.metadata.resource_version.unwrap_or_default())),
        }
    }
}

/// Lists and watches `api` with `params` (selectors) forever, calling `handler` for
/// each event. Runs until the task is dropped or aborted.
pub async fn run_informer<K, F>(api: Api<K>, params: ListParams, mut handler: F)
where
    K: k8s_openapi::Resource
        + k8s_openapi::Metadata<Ty = ObjectMeta>
        + Serialize
        + DeserializeOwned
        + Send
        + 'static,
    K::Scope: 'static,
    F: FnMut(InformerEvent<K>) + Send,
{
    let mut backoff = Duration::from_millis(100);
    let mut resource_version: Option<String> = None;
    loop {
        let rv = match resource_version.clone() {
            Some(rv) => rv,
            None => match list_all(&api, &params).await {
                Ok((items, rv)) => {
                    handler(InformerEvent::Relisted(items));
                    backoff = Duration::from_millis(100);
                    resource_version = Some(rv.clone());
                    rv
                }
                Err(e) => {
                    tracing::warn!(kind = K::KIND, error = %e, "informer list failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
        };
        let mut wp = params.clone().at(&rv);
        wp.bookmarks = true;
        wp.timeout_seconds = Some(WATCH_TIMEOUT_SECONDS);
        let mut stream = match api.watch(&wp).await {
            Ok(s) => s,
            Err(e) if e.is_gone() => {
                resource_version = None;
                continue;
            }
            Err(e) => {
                tracing::warn!(kind = K::KIND, error = %e, "informer watch failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        while let Some(item) = stream.next().await {
            let event = match item {
                Ok(ev) => ev,
                Err(ClientError::Decode(msg)) => {
                    tracing::warn!(kind = K::KIND, error = %msg, "skipping an undecodable watch event");
                    continue;
                }
                Err(e) => {
                    tracing::debug!(kind = K::KIND, error = %e, "watch ended");
                    break;
                }
            };
            let seen = |obj: &K| obj.metadata().resource_version.clone();
            match event {
                WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                    if let Some(rv) = seen(&o) {
                        resource_version = Some(rv);
                    }
                    handler(InformerEvent::Applied(o));
                }
                WatchEvent::Deleted(o) => {
                    if let Some(rv) = seen(&o) {
                        resource_version = Some(rv);
                    }
                    handler(InformerEvent::Deleted(o));
                }
                WatchEvent::Bookmark(o) => {
                    if let Some(rv) = seen(&o) {
                        resource_version = Some(rv);
                    }
                }
                WatchEvent::Error(e) => {
                    if e.code == 410 {
                        resource_version = None;
                    }
                    break;
                }
            }
        }
    }
}
