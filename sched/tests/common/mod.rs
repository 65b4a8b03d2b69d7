//! A private test adapter: a `Client` over an in-process `skiff_api::ApiServer`
//! router (requests through `tower::ServiceExt::oneshot`). It stands in for the
//! in-process client that is landing in skiff-api; swap it for that one at merge.

#![allow(dead_code)]

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

pub struct RouterClient {
    router: Router,
}

pub async fn server() -> (ApiServer, Arc<dyn Client>) {
    let store = Arc::new(MvccStore::in_memory().await);
    let server = ApiServer::new(store, ApiServerConfig::default())
        .await
        .expect("server starts");
    let client: Arc<dyn Client> = Arc::new(RouterClient {
        router: server.router(),
    });
    (server, client)
}

fn uri(target: &ObjectTarget, query: Vec<(&'static str, String)>) -> Result<String, ClientError> {
    let mut path = target.path()?;
    if !query.is_empty() {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in query {
            s.append_pair(k, &v);
        }
        path.push('?');
        path.push_str(&s.finish());
    }
    Ok(path)
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
            .body(
                body.map(|b| Body::from(b.to_string()))
                    .unwrap_or_else(Body::empty),
            )
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
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))?;
        if status.is_success() {
            Ok(v)
        } else {
            Err(ClientError::Api(ApiError::from_status(&v).unwrap_or_else(
                || ApiError::internal(&format!("{status}: {v}")),
            )))
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
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(ClientError::Api(
                ApiError::from_status(&v).unwrap_or_else(|| ApiError::internal("watch failed")),
            ));
        }
        let body = resp.into_body().into_data_stream();
        let stream =
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
                            return Some((
                                Err(ClientError::Transport(e.to_string())),
                                (body, Vec::new()),
                            ))
                        }
                        None => return None,
                    }
                }
            });
        Ok(stream.boxed())
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
            "logs are not served in-process".into(),
        ))
    }
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `timeout`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
