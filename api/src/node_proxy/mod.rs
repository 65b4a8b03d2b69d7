//! Proxying pods' streaming subresources to the node agent that runs the pod:
//! `pods/log` (a chunked stream; `follow` keeps it open), and `pods/exec`,
//! `pods/attach`, `pods/portforward` (the HTTP upgrade is forwarded, then bytes are
//! copied both ways, so WebSocket subprotocols and SPDY tunnels pass untouched).
//!
//! The node is found from the pod's `spec.nodeName`: its Node object's
//! `status.addresses` (InternalIP first) and
//! `status.daemonEndpoints.kubeletEndpoint.Port`. The API server authenticates to the
//! node agent with the credentials of [`KubeletClientConfig`] (set
//! `ApiServerConfig::kubelet_client`); without it these subresources answer 503.
//!
//! ```
//! use skiff_api::node_proxy::KubeletClientConfig;
//! let config = KubeletClientConfig {
//!     bearer_token: Some("shared-secret".into()),
//!     ..KubeletClientConfig::default()
//! };
//! assert!(config.tls_config().is_ok());
//! ```

pub(crate) mod client;
pub(crate) mod target;

use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderValue, Method, StatusCode};
use skiff_core::status::ApiError;

pub use client::KubeletClientConfig;

use crate::handler::RequestContext;

/// Why the node could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// TCP connect failed.
    #[error("dialing the node agent at {address}: {source}")]
    Connect {
        /// host:port.
        address: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TLS handshake with the node agent failed.
    #[error("TLS handshake with the node agent at {address}: {source}")]
    Tls {
        /// host:port.
        address: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The client configuration is unusable.
    #[error("node agent client configuration: {0}")]
    Config(String),
    /// HTTP to the node agent failed.
    #[error("talking to the node agent: {0}")]
    Http(#[from] hyper::Error),
}

impl From<ProxyError> for ApiError {
    fn from(e: ProxyError) -> ApiError {
        match e {
            ProxyError::Config(_) => ApiError::internal(&e.to_string()),
            _ => ApiError::new(502, "BadGateway", e.to_string()),
        }
    }
}

/// Whether `sub` of pods is served by this module.
pub fn is_streaming(sub: &str) -> bool {
    matches!(sub, "log" | "exec" | "attach" | "portforward")
}

/// Serves `pods/{sub}` by proxying to the pod's node agent.
pub async fn handle(
    ctx: &RequestContext,
    sub: &str,
    method: &Method,
    mut parts: http::request::Parts,
) -> Result<Response, ApiError> {
    let qualified = format!("{}/{sub}", ctx.served.resource.qualified_resource());
    let allowed = match sub {
        "log" => method == Method::GET,
        _ => method == Method::GET || method == Method::POST,
    };
    if !allowed {
        return Err(ApiError::method_not_supported(
            &qualified,
            &method.as_str().to_ascii_lowercase(),
        ));
    }
    let Some(kubelet) = ctx.server.config().kubelet_client.clone() else {
        return Err(ApiError::service_unavailable(&format!(
            "{qualified}: the API server has no credentials for node agents (ApiServerConfig::kubelet_client)"
        )));
    };
    let target = target::resolve(ctx, sub, parts.uri.query()).await?;
    let mut stream = client::connect(&kubelet, &target.host, target.port).await?;
    if sub == "log" {
        let request = client::request(&kubelet, Method::GET, &target, &http::HeaderMap::new())?;
        let response = stream.send(request).await?;
        return Ok(relay_response(response));
    }
    let request = client::request(&kubelet, method.clone(), &target, &parts.headers)?;
    let response = stream.send(request).await?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Ok(relay_response(response));
    }
    let from_client = hyper::upgrade::on(http::Request::from_parts(
        std::mem::replace(&mut parts, http::Request::new(()).into_parts().0),
        (),
    ));
    let mut head = Response::new(Body::empty());
    *head.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *head.headers_mut() = response.headers().clone();
    let from_node = hyper::upgrade::on(response);
    tokio::spawn(async move {
        let (client_io, node_io) = match tokio::join!(from_client, from_node) {
            (Ok(c), Ok(n)) => (c, n),
            (c, n) => {
                tracing::debug!(
                    client_ok = c.is_ok(),
                    node_ok = n.is_ok(),
                    "stream upgrade failed"
                );
                return;
            }
        };
        let mut client_io = hyper_util::rt::TokioIo::new(client_io);
        let mut node_io = hyper_util::rt::TokioIo::new(node_io);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client_io, &mut node_io).await {
            tracing::debug!("stream proxy ended: {e}");
        }
    });
    Ok(head)
}

/// The node agent's answer, streamed to the client (status, content type, body).
fn relay_response(response: http::Response<hyper::body::Incoming>) -> Response {
    let (parts, body) = response.into_parts();
    let mut out = Response::new(Body::new(body));
    *out.status_mut() = parts.status;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or(HeaderValue::from_static("text/plain"));
    out.headers_mut().insert(header::CONTENT_TYPE, content_type);
    out
}
