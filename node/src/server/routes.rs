//! Request routing, authentication and the plain HTTP answers of the node server.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use skiff_core::status::ApiError;
use tokio::sync::mpsc;

use super::lookup::{self, LookupError};
use super::{channel, exec, logs, websocket, ServerState};

/// The body of every answer.
pub type Body = BoxBody<Bytes, Infallible>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A `Status` answer.
fn status(error: &ApiError) -> Response<Body> {
    let body = serde_json::to_vec(&error.to_status()).unwrap_or_default();
    let mut response = Response::new(full(body));
    *response.status_mut() =
        StatusCode::from_u16(error.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn lookup_error(e: LookupError) -> ApiError {
    match e {
        LookupError::PodNotFound { .. } | LookupError::ContainerNotFound { .. } => {
            ApiError::new(404, "NotFound", e.to_string())
        }
        LookupError::Runtime(e) => ApiError::internal(&e.to_string()),
    }
}

fn authorized(state: &ServerState, verified_client: bool, request: &Request<Incoming>) -> bool {
    if verified_client {
        return true;
    }
    let Some(token) = &state.bearer_token else {
        return false;
    };
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| constant_time_eq(given.trim().as_bytes(), token.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Answers one request.
pub async fn handle(
    state: Arc<ServerState>,
    verified_client: bool,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    if request.uri().path() == "/healthz" {
        return Ok(Response::new(full("ok")));
    }
    if !authorized(&state, verified_client, &request) {
        return Ok(status(&ApiError::unauthorized()));
    }
    Ok(match route(state, request).await {
        Ok(response) => response,
        Err(e) => status(&e),
    })
}

async fn route(
    state: Arc<ServerState>,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = request.method().clone();
    if method != Method::GET && method != Method::POST {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{method} is not allowed on {path}"),
        ));
    }
    match segments.as_slice() {
        ["containerLogs", ns, pod, container] => {
            container_logs(state, ns, pod, container, request).await
        }
        ["exec", ns, pod, container] => exec(state, ns, pod, container, request).await,
        ["attach", ns, pod, container] => {
            super::attach::handle(state, ns, pod, container, request).await
        }
        ["stats", "summary"] => {
            let summary = state.stats.summary().await;
            let body =
                serde_json::to_vec(&summary).map_err(|e| ApiError::internal(&e.to_string()))?;
            let mut response = Response::new(full(body));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(response)
        }
        ["portForward", ns, pod] => super::portforward::handle(state, ns, pod, request).await,
        _ => Err(ApiError::new(
            404,
            "NotFound",
            format!("no handler for {path}"),
        )),
    }
}

async fn container_logs(
    state: Arc<ServerState>,
    ns: &str,
    pod: &str,
    container: &str,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let opts = logs::LogOptions::parse(request.uri().query())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let found = lookup::container(state.runtime.as_ref(), ns, pod, container, opts.previous)
        .await
        .map_err(lookup_error)?;
    let Some(path) = found.log_path.clone() else {
        return Err(ApiError::new(
            404,
            "NotFound",
            format!("container {container} of pod {ns}/{pod} has no log"),
        ));
    };
    let (tx, mut rx) = mpsc::channel::<Bytes>(16);
    let runtime = state.runtime.clone();
    let id = found.id.clone();
    tokio::spawn(async move {
        logs::stream(runtime.as_ref(), &id, &path, &opts, tx).await;
    });
    let body = StreamBody::new(futures::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|o| o.map(|b| Ok::<_, Infallible>(Frame::data(b))))
    }));
    let mut response = Response::new(BodyExt::boxed(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

async fn exec(
    state: Arc<ServerState>,
    ns: &str,
    pod: &str,
    container: &str,
    mut request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let found = lookup::container(state.runtime.as_ref(), ns, pod, container, false)
        .await
        .map_err(lookup_error)?;
    let exec_request =
        exec::exec_request(&found.id, request.uri().query()).map_err(ApiError::bad_request)?;
    let (response, _protocol) = websocket::accept::<Body>(request.headers(), &channel::PROTOCOLS)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let session = state.runtime.exec(&exec_request).await;
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                let socket = websocket::server_socket(upgraded).await;
                exec::serve(socket, exec_request.command, session).await;
            }
            Err(e) => tracing::debug!("exec upgrade failed: {e}"),
        }
    });
    Ok(response)
}
