//! `/portForward/{namespace}/{pod}`: port-forward as kubectl ≥ 1.31 speaks it, SPDY/3.1
//! tunneled through a WebSocket (subprotocol `SPDY/3.1+portforward.k8s.io`; every
//! binary message carries a piece of the SPDY byte stream).
//!
//! Per forwarded connection the client opens two SPDY streams with the headers
//! `streamtype` (`error` or `data`), `port` and `requestid`. Once both streams of a
//! request id exist, the server connects to the port in the pod's network (through
//! the runtime's `port_forward`) and copies the data stream to and from it. When the
//! pod's side closes, the server ends both streams (FIN); a failure to connect is
//! written on the error stream first, which kubectl prints.
//!
//! Flow control windows are not enforced (nor are they by the Go SPDY
//! implementation kubectl uses).

pub mod spdy;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{Request, Response};
use hyper::body::Incoming;
use skiff_core::status::ApiError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::routes::Body;
use super::websocket::{self, ServerSocket};
use super::{lookup, ServerState};
use crate::runtime::Runtime;
use spdy::{Frame, HeaderDecoder, HeaderEncoder};

/// The tunneling subprotocol kubectl asks for.
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// Upgrades the request and serves port-forward on it.
pub(crate) async fn handle(
    state: Arc<ServerState>,
    ns: &str,
    pod: &str,
    mut request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let sandbox = lookup::sandbox(state.runtime.as_ref(), ns, pod)
        .await
        .map_err(|e| ApiError::new(404, "NotFound", e.to_string()))?;
    let (response, _) = websocket::accept::<Body>(request.headers(), &[TUNNEL_PROTOCOL])
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let upgrade = hyper::upgrade::on(&mut request);
    let runtime = state.runtime.clone();
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                let socket = websocket::server_socket(upgraded).await;
                serve(socket, runtime, sandbox.id).await;
            }
            Err(e) => tracing::debug!("port-forward upgrade failed: {e}"),
        }
    });
    Ok(response)
}

/// What the session knows about one request id.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<u32>,
    port: u16,
    started: bool,
}

/// One SPDY session on a WebSocket.
async fn serve(socket: ServerSocket, runtime: Arc<dyn Runtime>, sandbox_id: String) {
    let (mut sink, mut incoming) = socket.split();
    let (out, mut outgoing) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            if sink.send(Message::Binary(frame.into())).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let mut decoder = HeaderDecoder::default();
    let mut encoder = HeaderEncoder::default();
    let mut buffer: Vec<u8> = Vec::new();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    // Client data for each data stream's connection: Some(bytes), or None at FIN.
    let mut to_pod: HashMap<u32, mpsc::UnboundedSender<Option<Bytes>>> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut last_stream = 0u32;
    'session: while let Some(message) = incoming.next().await {
        match message {
            Ok(Message::Binary(data)) => buffer.extend_from_slice(&data),
            Ok(Message::Close(_)) => break,
            Err(e) => {
                tracing::warn!("port-forward session: {e}");
                break;
            }
            Ok(_) => continue,
        }
        loop {
            let (frame, used) = match spdy::parse_frame(&buffer) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("port-forward session: {e}");
                    break 'session;
                }
            };
            buffer.drain(..used);
            match frame {
                Frame::SynStream {
                    stream_id, headers, ..
                } => {
                    last_stream = last_stream.max(stream_id);
                    let headers = match decoder.decode(&headers) {
                        Ok(h) => h,
                        Err(e) => {
                            tracing::warn!("port-forward session: {e}");
                            break 'session;
                        }
                    };
                    let header = |name: &str| {
                        headers
                            .iter()
                            .find(|(n, _)| n == name)
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default()
                    };
                    let _ = out.send(encoder.syn_reply(stream_id)).await;
                    let request_id = header("requestid");
                    let pair = pairs.entry(request_id.clone()).or_default();
                    let port: Result<u16, _> = header("port").parse();
                    match header("streamtype").as_str() {
                        "error" => pair.error = Some(stream_id),
                        "data" => pair.data = Some(stream_id),
                        _ => continue,
                    }
                    if let Ok(port) = port {
                        pair.port = port;
                    }
                    if let (Some(error), Some(data), false) = (pair.error, pair.data, pair.started)
                    {
                        pair.started = true;
                        let (tx, rx) = mpsc::unbounded_channel();
                        to_pod.insert(data, tx);
                        tasks.spawn(forward(
                            runtime.clone(),
                            sandbox_id.clone(),
                            pair.port,
                            error,
                            data,
                            rx,
                            out.clone(),
                        ));
                    }
                }
                Frame::Data {
                    stream_id,
                    fin,
                    data,
                } => {
                    if let Some(tx) = to_pod.get(&stream_id) {
                        if !data.is_empty() {
                            let _ = tx.send(Some(Bytes::from(data)));
                        }
                        if fin {
                            let _ = tx.send(None);
                        }
                    }
                }
                Frame::RstStream { stream_id } => {
                    to_pod.remove(&stream_id);
                }
                Frame::Ping(id) => {
                    let _ = out.send(spdy::ping_frame(id)).await;
                }
                Frame::GoAway => break 'session,
                Frame::Other(_) => {}
            }
        }
    }
    tasks.shutdown().await;
    let _ = out.send(spdy::goaway_frame(last_stream)).await;
    drop(out);
    let _ = writer.await;
}

/// Connects one request pair to `port` and copies until the pod's side closes.
async fn forward(
    runtime: Arc<dyn Runtime>,
    sandbox_id: String,
    port: u16,
    error_stream: u32,
    data_stream: u32,
    mut from_client: mpsc::UnboundedReceiver<Option<Bytes>>,
    out: mpsc::Sender<Vec<u8>>,
) {
    let conn = match runtime.port_forward(&sandbox_id, port).await {
        Ok(c) => c,
        Err(e) => {
            let message = format!("error forwarding port {port} to pod sandbox {sandbox_id}: {e}");
            let _ = out
                .send(spdy::data_frame(error_stream, true, message.as_bytes()))
                .await;
            let _ = out.send(spdy::data_frame(data_stream, true, b"")).await;
            return;
        }
    };
    let (mut read_half, mut write_half) = tokio::io::split(conn);
    let to_pod = async move {
        while let Some(Some(bytes)) = from_client.recv().await {
            if write_half.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = write_half.shutdown().await;
    };
    let out_data = out.clone();
    let from_pod = async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match read_half.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out_data
                        .send(spdy::data_frame(data_stream, false, &buf[..n]))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    tokio::spawn(to_pod);
    from_pod.await;
    let _ = out.send(spdy::data_frame(data_stream, true, b"")).await;
    let _ = out.send(spdy::data_frame(error_stream, true, b"")).await;
}
