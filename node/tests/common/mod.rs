//! Helpers of the node agent's integration tests: an in-process API server over an
//! in-memory store and a minimal `Client` that calls its router through
//! `tower::ServiceExt::oneshot`.
//!
//! `RouterClient` is a private stand-in until core's in-process client lands; the
//! lead swaps it at merge. It implements just what the agent uses and reports
//! everything else honestly as an error.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Body;
use axum::Router;
use futures::StreamExt;
use http::{Method, Request};
use http_body_util::BodyExt;
use serde_json::Value;
use skiff_api::{ApiServer, ApiServerConfig};
use skiff_core::client::{
    ByteStream, Client, ClientError, DeleteParams, ListParams, LogParams, ObjectTarget, Patch,
    PatchParams, PostParams, WatchEvent, WatchStream,
};
use skiff_core::status::ApiError;
use skiff_store::MvccStore;
use tower::ServiceExt;

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
    let client: Arc<dyn Client> = Arc::new(RouterClient {
        router: server.router(),
    });
    Cluster { server, client }
}

/// A `Client` over the router, in-process.
pub struct RouterClient {
    router: Router,
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn uri(target: &ObjectTarget, query: Vec<(&'static str, String)>) -> Result<String, ClientError> {
    let mut uri = target.path()?;
    if !query.is_empty() {
        let q: Vec<String> = query
            .into_iter()
            .map(|(k, v)| format!("{k}={}", encode(&v)))
            .collect();
        uri.push('?');
        uri.push_str(&q.join("&"));
    }
    Ok(uri)
}

impl RouterClient {
    async fn send(
        &self,
        method: Method,
        uri: String,
        content_type: &str,
        body: Option<Value>,
    ) -> Result<http::Response<Body>, ClientError> {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", content_type)
            .header("accept", "application/json")
            .body(match body {
                Some(b) => Body::from(b.to_string()),
                None => Body::empty(),
            })
            .map_err(|e| ClientError::InvalidRequest(e.to_string()))?;
        self.router
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))
    }

    async fn json(
        &self,
        method: Method,
        uri: String,
        content_type: &str,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        let resp = self.send(method, uri, content_type, body).await?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?
            .to_bytes();
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))?;
        if status.is_success() {
            Ok(value)
        } else {
            Err(ClientError::Api(
                ApiError::from_status(&value)
                    .unwrap_or_else(|| ApiError::internal(&format!("HTTP {status}: {value}"))),
            ))
        }
    }
}

#[async_trait]
impl Client for RouterClient {
    async fn get(&self, target: &ObjectTarget) -> Result<Value, ClientError> {
        self.json(Method::GET, uri(target, vec![])?, "application/json", None)
            .await
    }

    async fn list(&self, target: &ObjectTarget, params: &ListParams) -> Result<Value, ClientError> {
        self.json(
            Method::GET,
            uri(target, params.query(false))?,
            "application/json",
            None,
        )
        .await
    }

    async fn watch(
        &self,
        target: &ObjectTarget,
        params: &ListParams,
    ) -> Result<WatchStream, ClientError> {
        let resp = self
            .send(
                Method::GET,
                uri(target, params.query(true))?,
                "application/json",
                None,
            )
            .await?;
        if !resp.status().is_success() {
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?
                .to_bytes();
            let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(ClientError::Api(
                ApiError::from_status(&value).unwrap_or_else(|| ApiError::internal("watch failed")),
            ));
        }
        let mut body = resp.into_body().into_data_stream();
        let stream = async_stream(move |tx| async move {
            let mut buf: Vec<u8> = Vec::new();
            while let Some(chunk) = body.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx.send(Err(ClientError::Transport(e.to_string())));
                        return;
                    }
                };
                buf.extend_from_slice(&chunk);
                while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=i).collect();
                    let line = &line[..line.len() - 1];
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    if tx.send(WatchEvent::from_json(line)).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(stream)
    }

    async fn create(
        &self,
        target: &ObjectTarget,
        object: Value,
        params: &PostParams,
    ) -> Result<Value, ClientError> {
        self.json(
            Method::POST,
            uri(target, params.query())?,
            "application/json",
            Some(object),
        )
        .await
    }

    async fn replace(
        &self,
        target: &ObjectTarget,
        object: Value,
        params: &PostParams,
    ) -> Result<Value, ClientError> {
        self.json(
            Method::PUT,
            uri(target, params.query())?,
            "application/json",
            Some(object),
        )
        .await
    }

    async fn patch(
        &self,
        target: &ObjectTarget,
        patch: &Patch,
        params: &PatchParams,
    ) -> Result<Value, ClientError> {
        self.json(
            Method::PATCH,
            uri(target, params.query())?,
            patch.content_type(),
            Some(patch.body().clone()),
        )
        .await
    }

    async fn delete(
        &self,
        target: &ObjectTarget,
        params: &DeleteParams,
    ) -> Result<Value, ClientError> {
        self.json(
            Method::DELETE,
            uri(target, vec![])?,
            "application/json",
            Some(params.body()),
        )
        .await
    }

    async fn delete_collection(
        &self,
        target: &ObjectTarget,
        list: &ListParams,
        params: &DeleteParams,
    ) -> Result<Value, ClientError> {
        self.json(
            Method::DELETE,
            uri(target, list.query(false))?,
            "application/json",
            Some(params.body()),
        )
        .await
    }

    async fn logs(
        &self,
        _target: &ObjectTarget,
        _params: &LogParams,
    ) -> Result<ByteStream, ClientError> {
        Err(ClientError::InvalidRequest(
            "the test client does not stream logs".into(),
        ))
    }
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
