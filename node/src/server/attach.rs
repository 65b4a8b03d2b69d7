//! `/attach/{namespace}/{pod}/{container}`: the container's own stdin, stdout and
//! stderr over the channel protocol ([`super::channel`]) on a WebSocket, as `kubectl
//! attach` and `kubectl run -i` use it.
//!
//! The session is served like an exec ([`super::exec::serve`]): channels 1 and 2
//! carry what the container writes from now on, channel 0 feeds its stdin (when its
//! spec has `stdin: true`), channel 4 resizes its terminal (`tty: true`). When the
//! container's output ends the server sends `Success` on the error channel and closes
//! the socket, as the kubelet does; a client that goes away detaches without
//! stopping the container.
//!
//! ```
//! use skiff_node::server::attach::attach_request;
//! let r = attach_request("c1", Some("stdin=true&stdout=true&tty=true")).unwrap();
//! assert!(r.stdin && r.stdout && !r.stderr && r.tty);
//! assert!(attach_request("c1", Some("tty=true")).is_err());
//! ```

use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use skiff_core::status::ApiError;

use super::lookup::{self, LookupError};
use super::routes::Body;
use super::{channel, exec, websocket, ServerState};
use crate::runtime::AttachRequest;

/// Reads the attach options of a query: the `stdin`, `stdout`, `stderr` and `tty`
/// flags (also under their old names `input`, `output`, `error`).
pub fn attach_request(container_id: &str, query: Option<&str>) -> Result<AttachRequest, String> {
    let mut request = AttachRequest {
        container_id: container_id.to_owned(),
        ..AttachRequest::default()
    };
    for (key, value) in super::logs::form_pairs(query) {
        let flag = matches!(value.as_str(), "true" | "1" | "");
        match key.as_str() {
            "stdin" | "input" => request.stdin = flag,
            "stdout" | "output" => request.stdout = flag,
            "stderr" | "error" => request.stderr = flag,
            "tty" => request.tty = flag,
            _ => {}
        }
    }
    if !(request.stdin || request.stdout || request.stderr) {
        return Err("you must specify at least one of stdin, stdout, stderr".into());
    }
    if request.tty {
        request.stderr = false;
    }
    Ok(request)
}

/// Serves `/attach/{ns}/{pod}/{container}`: upgrades to a WebSocket and attaches.
pub(crate) async fn handle(
    state: Arc<ServerState>,
    ns: &str,
    pod: &str,
    container: &str,
    mut request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let found = lookup::container(state.runtime.as_ref(), ns, pod, container, false)
        .await
        .map_err(|e| match e {
            LookupError::Runtime(e) => ApiError::internal(&e.to_string()),
            other => ApiError::new(404, "NotFound", other.to_string()),
        })?;
    let attach_request =
        attach_request(&found.id, request.uri().query()).map_err(ApiError::bad_request)?;
    let (response, _protocol) = websocket::accept::<Body>(request.headers(), &channel::PROTOCOLS)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let session = state.runtime.attach(&attach_request).await;
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                let socket = websocket::server_socket(upgraded).await;
                exec::serve(socket, Vec::new(), session).await;
            }
            Err(e) => tracing::debug!("attach upgrade failed: {e}"),
        }
    });
    Ok(response)
}
