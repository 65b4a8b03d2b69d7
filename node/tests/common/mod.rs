//! Helpers of the node agent's integration tests: an in-process API server over an
//! in-memory store and its in-process client (`ApiServer::client`).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use skiff_api::{ApiServer, ApiServerConfig};
use skiff_core::client::{Client, ClientError, ListParams, WatchEvent, WatchStream};
use skiff_store::MvccStore;

/// An API server over a fresh in-memory store and a client of it.
pub struct Cluster {
    pub server: ApiServer,
    pub client: Arc<dyn Client>,
}

pub async fn cluster() -> Cluster {
    let store = Arc::new(MvccStore::in_memory().await);
    let server = ApiServer::new(store, ApiServerConfig::default())
        .await
        .expect("server starts");
    let client: Arc<dyn Client> = server.client();
    Cluster { server, client }
}

/// A stream fed by a task through an unbounded channel.
fn async_stream<F, Fut>(f: F) -> WatchStream
where
    F: FnOnce(tokio::sync::mpsc::UnboundedSender<Result<WatchEvent, ClientError>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(f(tx));
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) }).boxed()
}

/// Polls `f` every 50 ms until it returns `Some`, at most `timeout`; panics with
/// `what` and the last value seen otherwise.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match f().await {
            Ok(v) => return v,
            Err(e) => e,
        };
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last: {last}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A pod bound to `node` from a JSON spec.
pub fn pod(name: &str, node: &str, spec: Value) -> k8s_openapi::api::core::v1::Pod {
    let mut spec = spec;
    spec["nodeName"] = node.into();
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }))
    .expect("a valid pod")
}

/// Records the `waiting` reason and message of the first container of pod `name` in
/// every status the API server stores (a watch sees each write, so short states are
/// not missed the way polling could miss them).
pub fn record_waiting(
    client: Arc<dyn Client>,
    name: &str,
) -> Arc<std::sync::Mutex<Vec<(String, String)>>> {
    use k8s_openapi::api::core::v1::Pod;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let out = seen.clone();
    let pods: skiff_core::client::Api<Pod> = skiff_core::client::Api::namespaced(client, "default");
    let params = ListParams::default().fields(&format!("metadata.name={name}"));
    tokio::spawn(async move {
        let Ok(mut stream) = pods.watch(&params).await else {
            return;
        };
        while let Some(Ok(event)) = stream.next().await {
            let Some(pod) = event.object() else { continue };
            let waiting = pod
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|cs| cs.first())
                .and_then(|c| c.state.as_ref())
                .and_then(|s| s.waiting.as_ref());
            if let Some(w) = waiting {
                let entry = (
                    w.reason.clone().unwrap_or_default(),
                    w.message.clone().unwrap_or_default(),
                );
                let mut seen = seen.lock().unwrap();
                if !seen.contains(&entry) {
                    seen.push(entry);
                }
            }
        }
    });
    out
}
