//! [`ServiceClient`]: the [`Client`] trait over any tower `Service` that answers HTTP
//! requests: hyper's client (see [`super::https`]) or, in-process, the API server's own
//! router.
//!
//! Requests are built by [`super::request`]; this module only sends them and reads
//! the answers:
//! - a success body is decoded as one JSON value;
//! - an error body is decoded as a `Status` into [`ClientError::Api`]; when the body is
//!   not a `Status` (a proxy's HTML page, an empty 404), an `ApiError` with the HTTP
//!   code is synthesized;
//! - a watch body is read frame by frame and cut into newline-delimited JSON events as
//!   they arrive (a watch is never buffered whole);
//! - a log body is passed on as bytes.
//!
//! ```
//! # async fn run() -> Result<(), skiff_core::client::ClientError> {
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use skiff_core::client::{Client, ObjectTarget, ResourceRef, ServiceClient};
//!
//! // A "server" that answers every request with a namespace.
//! let svc = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
//!     let body = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}"#;
//!     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(body))))
//! });
//! let client = ServiceClient::new(svc);
//! let ns = ResourceRef::new("", "v1", "namespaces", false);
//! let got = client.get(&ObjectTarget::object(&ns, None, "a")).await?;
//! assert_eq!(got["metadata"]["name"], "a");
//! # Ok(()) }
//! # futures::executor::block_on(run()).unwrap();
//! ```

use std::error::Error as StdError;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;
use tower::{Service, ServiceExt};

use super::lines::LineBuffer;
use super::{
    request, ByteStream, Client, ClientError, DeleteParams, ListParams, LogParams, ObjectTarget,
    Patch, PatchParams, PostParams, WatchEvent, WatchStream,
};
use crate::status::ApiError;

/// A boxed error, what tower services and bodies fail with.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// The largest non-streaming answer read (a list of thousands of objects fits; a
/// misbehaving server cannot take unbounded memory).
const MAX_RESPONSE_BYTES: usize = 1024 * 1024 * 1024;

/// A [`Client`] over a tower `Service` speaking HTTP.
///
/// `S` receives requests whose URI is the API path (`/api/v1/...`), prefixed by the
/// base set with [`ServiceClient::with_base_uri`] (needed by hyper's client, which
/// wants absolute URIs); headers set with [`ServiceClient::with_header`] (such as
/// `Authorization`) go on every request.
#[derive(Clone)]
pub struct ServiceClient<S> {
    service: S,
    base: Option<String>,
    headers: HeaderMap,
}

impl<S> std::fmt::Debug for ServiceClient<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl<S> ServiceClient<S> {
    /// A client sending requests with path-only URIs to `service`.
    pub fn new(service: S) -> Self {
        ServiceClient {
            service,
            base: None,
            headers: HeaderMap::new(),
        }
    }

    /// Prefixes every request's path with `base` (`https://host:6443`, possibly with a
    /// path such as `https://host/k8s/clusters/c1`).
    pub fn with_base_uri(mut self, base: &Uri) -> Self {
        let s = base.to_string();
        self.base = Some(s.trim_end_matches('/').to_owned());
        self
    }

    /// Adds a header sent with every request (marked sensitive: not logged).
    pub fn with_header(mut self, name: HeaderName, mut value: HeaderValue) -> Self {
        value.set_sensitive(true);
        self.headers.insert(name, value);
        self
    }
}

impl<S, B> ServiceClient<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// Sends one request; answers with the response when its status is a success, the
    /// decoded error otherwise.
    async fn send(&self, req: Request<Bytes>) -> Result<Response<Pin<Box<B>>>, ClientError> {
        let (mut parts, body) = req.into_parts();
        if let Some(base) = &self.base {
            let full = format!("{base}{}", parts.uri);
            parts.uri = full
                .parse()
                .map_err(|e| ClientError::InvalidRequest(format!("{full}: {e}")))?;
        }
        for (name, value) in &self.headers {
            parts.headers.insert(name, value.clone());
        }
        let req = Request::from_parts(parts, Full::new(body));
        let response = self
            .service
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| ClientError::Transport(error_chain(&*e.into())))?;
        let (parts, body) = response.into_parts();
        let body = Box::pin(body);
        if parts.status.is_success() {
            return Ok(Response::from_parts(parts, body));
        }
        let bytes = collect(body).await?;
        Err(ClientError::Api(error_from_body(parts.status, &bytes)))
    }

    /// Sends a request and decodes the JSON answer.
    async fn json(&self, req: Result<Request<Bytes>, ClientError>) -> Result<Value, ClientError> {
        let response = self.send(req?).await?;
        let bytes = collect(response.into_body()).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }
}

async fn collect<B>(body: Pin<Box<B>>) -> Result<Bytes, ClientError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    Limited::new(body, MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ClientError::Transport(format!("reading the answer: {}", error_chain(&*e))))
}

/// The error an unsuccessful answer carries: its `Status`, or one made from the HTTP
/// code and the start of the body.
pub fn error_from_body(status: http::StatusCode, body: &[u8]) -> ApiError {
    if let Some(e) = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| ApiError::from_status(&v))
    {
        return e;
    }
    let reason = match status.as_u16() {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Gone",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    };
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
    let message = if text.trim().is_empty() {
        format!("the server answered {status}")
    } else {
        format!("the server answered {status}: {}", text.trim())
    };
    ApiError::new(status.as_u16(), reason, message)
}

/// An error with its causes, `outer: inner: innermost` (hyper's errors say little on
/// their own).
pub(crate) fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// What a watch stream's reader holds between events.
struct WatchReader<B> {
    body: Pin<Box<B>>,
    lines: LineBuffer,
    done: bool,
}

fn watch_stream<B>(body: Pin<Box<B>>) -> WatchStream
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let reader = WatchReader {
        body,
        lines: LineBuffer::default(),
        done: false,
    };
    futures::stream::unfold(reader, |mut r| async move {
        loop {
            if let Some(line) = r.lines.next_line() {
                return Some((WatchEvent::from_json(&line), r));
            }
            if r.done {
                return None;
            }
            match r.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if let Err(e) = r.lines.push(&data) {
                            r.done = true;
                            r.lines = LineBuffer::default();
                            return Some((Err(ClientError::Decode(e.to_string())), r));
                        }
                    }
                }
                Some(Err(e)) => {
                    // A watch cut by the server or the network: the caller re-watches.
                    r.done = true;
                    r.lines = LineBuffer::default();
                    let e: BoxError = e.into();
                    return Some((
                        Err(ClientError::Transport(format!(
                            "watch stream: {}",
                            error_chain(&*e)
                        ))),
                        r,
                    ));
                }
                None => {
                    r.done = true;
                    let last = r.lines.finish()?;
                    return Some((WatchEvent::from_json(&last), r));
                }
            }
        }
    })
    .boxed()
}

fn byte_stream<B>(body: Pin<Box<B>>) -> ByteStream
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    futures::stream::unfold(Some(body), |body| async move {
        let mut body = body?;
        loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Some((Ok(data), Some(body)));
                    }
                }
                Some(Err(e)) => {
                    let e: BoxError = e.into();
                    return Some((Err(ClientError::Transport(error_chain(&*e))), None));
                }
                None => return None,
            }
        }
    })
    .boxed()
}

#[async_trait]
impl<S, B> Client for ServiceClient<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    async fn get(&self, target: &ObjectTarget) -> Result<Value, ClientError> {
        self.json(request::get(target)).await
    }

    async fn list(&self, target: &ObjectTarget, params: &ListParams) -> Result<Value, ClientError> {
        self.json(request::list(target, params)).await
    }

    async fn watch(
        &self,
        target: &ObjectTarget,
        params: &ListParams,
    ) -> Result<WatchStream, ClientError> {
        let response = self.send(request::watch(target, params)?).await?;
        Ok(watch_stream(response.into_body()))
    }

    async fn create(
        &self,
        target: &ObjectTarget,
        object: Value,
        params: &PostParams,
    ) -> Result<Value, ClientError> {
        self.json(request::create(target, &object, params)).await
    }

    async fn replace(
        &self,
        target: &ObjectTarget,
        object: Value,
        params: &PostParams,
    ) -> Result<Value, ClientError> {
        self.json(request::replace(target, &object, params)).await
    }

    async fn patch(
        &self,
        target: &ObjectTarget,
        patch: &Patch,
        params: &PatchParams,
    ) -> Result<Value, ClientError> {
        self.json(request::patch(target, patch, params)).await
    }

    async fn delete(
        &self,
        target: &ObjectTarget,
        params: &DeleteParams,
    ) -> Result<Value, ClientError> {
        self.json(request::delete(target, params)).await
    }

    async fn delete_collection(
        &self,
        target: &ObjectTarget,
        list: &ListParams,
        params: &DeleteParams,
    ) -> Result<Value, ClientError> {
        self.json(request::delete_collection(target, list, params))
            .await
    }

    async fn logs(
        &self,
        target: &ObjectTarget,
        params: &LogParams,
    ) -> Result<ByteStream, ClientError> {
        let response = self.send(request::logs(target, params)?).await?;
        Ok(byte_stream(response.into_body()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ResourceRef;
    use futures::executor::block_on;
    use http_body_util::StreamBody;
    use std::convert::Infallible;

    type ChunkBody = StreamBody<
        futures::stream::Iter<std::vec::IntoIter<Result<http_body::Frame<Bytes>, Infallible>>>,
    >;

    /// A service answering every request with `status` and `chunks` as body frames.
    fn answering(
        status: u16,
        chunks: Vec<&'static str>,
    ) -> impl Service<
        Request<Full<Bytes>>,
        Response = Response<ChunkBody>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
           + Send
           + Sync {
        tower::service_fn(move |_req: Request<Full<Bytes>>| {
            let frames: Vec<_> = chunks
                .iter()
                .map(|c| Ok(http_body::Frame::data(Bytes::from_static(c.as_bytes()))))
                .collect();
            let mut resp = Response::new(StreamBody::new(futures::stream::iter(frames)));
            *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
            async move { Ok::<_, Infallible>(resp) }
        })
    }

    fn pods() -> ObjectTarget {
        ObjectTarget::collection(&ResourceRef::new("", "v1", "pods", true), Some("a"))
    }

    #[test]
    fn watch_events_split_across_chunks() {
        let client = ServiceClient::new(answering(
            200,
            vec![
                "{\"type\":\"ADDED\",\"object\":{\"n\":",
                "1}}\n{\"type\":\"MODI",
                "FIED\",\"object\":{\"n\":2}}\n{\"type\":\"DELETED\",\"object\":{\"n\":3}}",
            ],
        ));
        let events: Vec<_> = block_on(async {
            let s = client.watch(&pods(), &ListParams::default()).await.unwrap();
            s.collect::<Vec<_>>().await
        });
        let events: Vec<_> = events.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            events,
            vec![
                WatchEvent::Added(serde_json::json!({"n": 1})),
                WatchEvent::Modified(serde_json::json!({"n": 2})),
                WatchEvent::Deleted(serde_json::json!({"n": 3})),
            ]
        );
    }

    #[test]
    fn error_bodies_become_api_errors() {
        let status = ApiError::not_found("pods", "web").to_status().to_string();
        let status: &'static str = Box::leak(status.into_boxed_str());
        let client = ServiceClient::new(answering(404, vec![status]));
        let target =
            ObjectTarget::object(&ResourceRef::new("", "v1", "pods", true), Some("a"), "web");
        let err = block_on(client.get(&target)).unwrap_err();
        assert!(err.is_not_found(), "{err:?}");
        assert_eq!(err.to_string(), "pods \"web\" not found");

        // Not a Status: the HTTP code still decides.
        let client = ServiceClient::new(answering(409, vec!["<html>nope</html>"]));
        let err = block_on(client.get(&target)).unwrap_err();
        assert!(err.is_conflict());
        assert!(err.to_string().contains("nope"));
        let client = ServiceClient::new(answering(503, vec![]));
        let err = block_on(client.list(&pods(), &ListParams::default())).unwrap_err();
        assert_eq!(err.code(), Some(503));
    }

    #[test]
    fn undecodable_success_is_a_decode_error() {
        let client = ServiceClient::new(answering(200, vec!["{not json"]));
        let err = block_on(client.list(&pods(), &ListParams::default())).unwrap_err();
        assert!(matches!(err, ClientError::Decode(_)), "{err:?}");
    }

    #[test]
    fn requests_get_the_base_and_headers() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let svc = tower::service_fn(move |req: Request<Full<Bytes>>| {
            record.lock().unwrap().push((
                req.uri().to_string(),
                req.headers().get("authorization").cloned(),
            ));
            async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}")))) }
        });
        let client = ServiceClient::new(svc)
            .with_base_uri(&"https://h:6443/prefix/".parse().unwrap())
            .with_header(
                http::header::AUTHORIZATION,
                HeaderValue::from_static("Bearer t"),
            );
        block_on(client.list(&pods(), &ListParams::default())).unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].0, "https://h:6443/prefix/api/v1/namespaces/a/pods");
        assert_eq!(seen[0].1.as_ref().unwrap(), "Bearer t");
    }

    #[test]
    fn logs_stream_bytes() {
        let client = ServiceClient::new(answering(200, vec!["line 1\n", "line 2\n"]));
        let target =
            ObjectTarget::object(&ResourceRef::new("", "v1", "pods", true), Some("a"), "p");
        let chunks: Vec<Bytes> = block_on(async {
            let s = client.logs(&target, &LogParams::default()).await.unwrap();
            s.map(Result::unwrap).collect().await
        });
        assert_eq!(chunks.concat(), b"line 1\nline 2\n");
    }
}
