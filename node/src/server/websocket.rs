//! Accepting a WebSocket upgrade on a hyper request: check the handshake headers,
//! choose a subprotocol the client offers (in the client's order of preference), answer
//! `101 Switching Protocols`, and turn the upgraded connection into a
//! [`WebSocketStream`] once hyper hands it over.

use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

/// A server-side WebSocket on an upgraded hyper connection.
pub type ServerSocket = WebSocketStream<TokioIo<Upgraded>>;

/// Why a request cannot be upgraded.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// Not a WebSocket handshake (no `Upgrade: websocket` or no key).
    #[error(
        "this endpoint requires a websocket upgrade (Upgrade: websocket with Sec-WebSocket-Key)"
    )]
    NotWebSocket,
    /// The client offers none of the subprotocols served.
    #[error(
        "none of the requested subprotocols {offered:?} is supported (supported: {supported:?})"
    )]
    NoProtocol {
        /// What the client offered.
        offered: Vec<String>,
        /// What is served.
        supported: Vec<String>,
    },
}

/// The subprotocols a request offers, in order.
pub fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Whether the request asks for a WebSocket upgrade.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The `101` answer accepting the handshake with the first offered protocol in
/// `supported`, and that protocol.
pub fn accept<B: Default>(
    headers: &HeaderMap,
    supported: &[&str],
) -> Result<(Response<B>, String), UpgradeError> {
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|_| is_upgrade(headers))
        .ok_or(UpgradeError::NotWebSocket)?;
    let offered = offered_protocols(headers);
    let protocol = offered
        .iter()
        .find(|p| supported.contains(&p.as_str()))
        .cloned()
        .ok_or_else(|| UpgradeError::NoProtocol {
            offered: offered.clone(),
            supported: supported.iter().map(|s| s.to_string()).collect(),
        })?;
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Ok(v) = HeaderValue::from_str(&protocol) {
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, v);
    }
    Ok((response, protocol))
}

/// The WebSocket on a connection hyper has upgraded.
pub async fn server_socket(upgraded: Upgraded) -> ServerSocket {
    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await
}
