//! Helpers of the API server's integration tests: an in-process server over an
//! in-memory store, requests through `tower::ServiceExt::oneshot`, watch streams.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use skiff_api::{ApiServer, ApiServerConfig};
use skiff_store::MvccStore;
use tower::ServiceExt;

/// A server over a fresh in-memory store.
pub struct TestServer {
    pub server: ApiServer,
    pub router: Router,
    pub store: Arc<MvccStore>,
}

pub async fn server() -> TestServer {
    server_with(ApiServerConfig::default()).await
}

pub async fn server_with(config: ApiServerConfig) -> TestServer {
    let store = Arc::new(MvccStore::in_memory().await);
    let server = ApiServer::new(store.clone(), config)
        .await
        .expect("server starts");
    let router = server.router();
    TestServer {
        server,
        router,
        store,
    }
}

impl TestServer {
    /// Sends a request with a JSON body (or none) and returns status and JSON body.
    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let ct = if method == Method::PATCH {
            "application/merge-patch+json"
        } else {
            "application/json"
        };
        self.call_raw(
            method,
            uri,
            ct,
            body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        )
        .await
    }

    /// Sends a request with a raw body and content type.
    pub async fn call_raw(
        &self,
        method: Method,
        uri: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            ct.as_deref(),
            Some("application/json"),
            "{uri}: {}",
            String::from_utf8_lossy(&bytes)
        );
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.call(Method::GET, uri, None).await
    }

    pub async fn post(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, uri, Some(body)).await
    }

    pub async fn put(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, uri, Some(body)).await
    }

    pub async fn delete(&self, uri: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, uri, None).await
    }

    /// Starts a watch and returns its line reader.
    pub async fn watch(&self, uri: &str) -> WatchLines {
        let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        WatchLines {
            body: resp.into_body(),
            buf: Vec::new(),
        }
    }
}

/// Reads a watch body line by line.
pub struct WatchLines {
    body: Body,
    buf: Vec<u8>,
}

impl WatchLines {
    /// The next event, or `None` when the stream ends; panics after 5 s of silence.
    pub async fn next(&mut self) -> Option<Value> {
        self.next_within(Duration::from_secs(5))
            .await
            .expect("a watch event within 5 s")
    }

    /// The next event within `wait`: `Err` on timeout, `Ok(None)` at the end.
    pub async fn next_within(&mut self, wait: Duration) -> Result<Option<Value>, ()> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return Ok(Some(
                    serde_json::from_slice(&line).expect("each line is JSON"),
                ));
            }
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => return Err(()),
                Ok(None) => return Ok(None),
                Ok(Some(frame)) => {
                    if let Ok(data) = frame.expect("body frame").into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

pub fn pod(name: &str) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
    })
}

pub fn configmap(name: &str, data: Value) -> Value {
    serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

pub fn deployment(name: &str, replicas: i64) -> Value {
    serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
            },
        },
    })
}

/// The resourceVersion of an object or list as a number.
pub fn rv(obj: &Value) -> i64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion")
        .parse()
        .unwrap()
}
