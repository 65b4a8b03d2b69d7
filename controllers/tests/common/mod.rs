//! Test helpers: an API server in the process over an in-memory store, a private
//! [`Client`] adapter that sends requests to its router through `tower::oneshot`
//! (to be replaced by skiff-api's own in-process client), and condition waits.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

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

/// A [`Client`] over the API server's router, in the same process.
pub struct RouterClient {
    router: Router,
}

fn uri(target: &ObjectTarget, query: Vec<(&'static str, String)>) -> Result<String, ClientError> {
    let mut uri = target.path()?;
    if !query.is_empty() {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        uri.push('?');
        uri.push_str(&q);
    }
    Ok(uri)
}

impl RouterClient {
    async fn send(
        &self,
        method: Method,
        uri: String,
        ct: &str,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", ct)
            .header("accept", "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .map_err(|e| ClientError::InvalidRequest(e.to_string()))?;
        let resp = self
            .router
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
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
            Err(ApiError::from_status(&value)
                .unwrap_or_else(|| ApiError::new(status.as_u16(), "Unknown", value.to_string()))
                .into())
        }
    }
}

#[async_trait]
impl Client for RouterClient {
    async fn get(&self, target: &ObjectTarget) -> Result<Value, ClientError> {
        target.require_name("get")?;
        self.send(Method::GET, uri(target, vec![])?, "application/json", None)
            .await
    }

    async fn list(&self, target: &ObjectTarget, params: &ListParams) -> Result<Value, ClientError> {
        self.send(
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
        let req = Request::builder()
            .uri(uri(target, params.query(true))?)
            .body(Body::empty())
            .map_err(|e| ClientError::InvalidRequest(e.to_string()))?;
        let resp = self
            .router
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?
                .to_bytes();
            let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(ApiError::from_status(&value)
                .unwrap_or_else(|| ApiError::new(status.as_u16(), "Unknown", value.to_string()))
                .into());
        }
        let body = resp.into_body().into_data_stream();
        let lines =
            futures::stream::unfold((body, Vec::<u8>::new()), |(mut body, mut buf)| async move {
                loop {
                    if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=pos).collect();
                        if line.iter().all(u8::is_ascii_whitespace) {
                            continue;
                        }
                        return Some((WatchEvent::from_json(&line), (body, buf)));
                    }
                    match body.next().await {
                        Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                        Some(Err(e)) => {
                            return Some((Err(ClientError::Transport(e.to_string())), (body, buf)))
                        }
                        None => return None,
                    }
                }
            });
        Ok(lines.boxed())
    }

    async fn create(
        &self,
        target: &ObjectTarget,
        object: Value,
        params: &PostParams,
    ) -> Result<Value, ClientError> {
        let uri = match &target.subresource {
            Some(_) => uri(target, params.query())?,
            None => uri(
                &ObjectTarget {
                    name: None,
                    ..target.clone()
                },
                params.query(),
            )?,
        };
        self.send(Method::POST, uri, "application/json", Some(object))
            .await
    }

    async fn replace(
        &self,
        target: &ObjectTarget,
        object: Value,
        params: &PostParams,
    ) -> Result<Value, ClientError> {
        target.require_name("replace")?;
        self.send(
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
        target.require_name("patch")?;
        self.send(
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
        target.require_name("delete")?;
        self.send(
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
        self.send(
            Method::DELETE,
            uri(target, list.query(false))?,
            "application/json",
            Some(params.body()),
        )
        .await
    }

    async fn logs(&self, _: &ObjectTarget, _: &LogParams) -> Result<ByteStream, ClientError> {
        Err(ClientError::InvalidRequest(
            "logs are not served in-process".into(),
        ))
    }
}

/// An API server over a fresh in-memory store, and a client of it.
pub async fn cluster() -> (ApiServer, Arc<dyn Client>) {
    let store = Arc::new(MvccStore::in_memory().await);
    let server = ApiServer::new(store, ApiServerConfig::default())
        .await
        .expect("server starts");
    let client: Arc<dyn Client> = Arc::new(RouterClient {
        router: server.router(),
    });
    (server, client)
}

/// Polls `check` until it returns `Some`, for at most `timeout`; panics with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
