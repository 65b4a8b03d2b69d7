//! The node agent's server: the kubelet's streaming endpoints for the API server to
//! proxy (`kubectl logs`, `exec`, `attach`, `port-forward`), over HTTPS.
//!
//! | path | what |
//! |------|------|
//! | `GET /containerLogs/{ns}/{pod}/{container}` | the container's log ([`logs`]) |
//! | `GET /exec/{ns}/{pod}/{container}?command=…` | exec over WebSocket ([`exec`], [`channel`]) |
//! | `GET /attach/{ns}/{pod}/{container}?stdin=…` | attach to the container's stdio over WebSocket ([`attach`]) |
//! | `GET /portForward/{ns}/{pod}` | port-forward over WebSocket ([`portforward`]) |
//! | `GET /stats/summary` | node and pod CPU and memory usage ([`crate::stats`]) |
//! | `GET /healthz` | `ok` |
//!
//! **Who may call it.** Only the API server: every request must present either a
//! client certificate signed by [`NodeServerConfig::client_ca_pem`] (verified during
//! the TLS handshake) or `Authorization: Bearer <token>` with
//! [`NodeServerConfig::bearer_token`]. A server configured with neither refuses to
//! start. Requests without either get `401`.
//!
//! The agent publishes the port in `Node.status.daemonEndpoints.kubeletEndpoint.Port`
//! (set [`crate::agent::AgentConfig::kubelet_port`]) and its address in
//! `status.addresses`.
//!
//! ```no_run
//! # async fn run(runtime: std::sync::Arc<dyn skiff_node::runtime::Runtime>) -> Result<(), skiff_node::server::ServerError> {
//! use skiff_node::server::{NodeServer, NodeServerConfig};
//! let mut config = NodeServerConfig::new("node-1");
//! config.bearer_token = Some("shared-secret".into());
//! let server = NodeServer::start(runtime, config).await?;
//! println!("kubelet endpoint on port {}", server.local_addr().port());
//! server.stop().await;
//! # Ok(()) }
//! ```

pub mod attach;
pub mod channel;
pub mod exec;
pub mod logs;
pub mod lookup;
pub mod portforward;
mod routes;
mod tls;
pub mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::runtime::Runtime;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Neither a client CA nor a bearer token is configured: anyone could exec.
    #[error("the node server needs a client CA or a bearer token to authenticate the API server")]
    NoAuthentication,
    /// Certificates or keys are unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The socket could not be bound.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// Settings of the node server.
#[derive(Clone, Debug)]
pub struct NodeServerConfig {
    /// Where to listen (`127.0.0.1:10250` by default; port 0 picks a free one).
    pub bind: SocketAddr,
    /// The serving certificate and key (PEM); `None` generates a self-signed one.
    pub serving: Option<(String, String)>,
    /// Names and addresses a self-signed certificate is valid for.
    pub hosts: Vec<String>,
    /// Client certificates signed by this CA (PEM) are accepted.
    pub client_ca_pem: Option<String>,
    /// `Authorization: Bearer` with this token is accepted.
    pub bearer_token: Option<String>,
    /// The node's name (in `/stats/summary`).
    pub node_name: String,
    /// How often resource usage is sampled for `/stats/summary`.
    pub stats_interval: Duration,
}

impl NodeServerConfig {
    /// Defaults for `node_name`: 127.0.0.1:10250, self-signed for the node name,
    /// localhost and 127.0.0.1, and no authentication yet (set one before starting).
    pub fn new(node_name: &str) -> Self {
        NodeServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 10250)),
            serving: None,
            hosts: vec![
                node_name.to_owned(),
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
            ],
            client_ca_pem: None,
            bearer_token: None,
            node_name: node_name.to_owned(),
            stats_interval: Duration::from_secs(10),
        }
    }
}

/// A running node server.
pub struct NodeServer {
    local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// What the request handlers share.
pub(crate) struct ServerState {
    pub runtime: Arc<dyn Runtime>,
    pub bearer_token: Option<String>,
    pub stats: Arc<crate::stats::StatsProvider>,
}

impl NodeServer {
    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(
        runtime: Arc<dyn Runtime>,
        config: NodeServerConfig,
    ) -> Result<NodeServer, ServerError> {
        if config.client_ca_pem.is_none() && config.bearer_token.is_none() {
            return Err(ServerError::NoAuthentication);
        }
        let tls = Arc::new(tls::server_config(&config)?);
        let listener =
            TcpListener::bind(config.bind)
                .await
                .map_err(|source| ServerError::Listen {
                    addr: config.bind,
                    source,
                })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ServerError::Listen {
                addr: config.bind,
                source,
            })?;
        let state = Arc::new(ServerState {
            stats: crate::stats::StatsProvider::new(runtime.clone(), &config.node_name),
            runtime,
            bearer_token: config.bearer_token.clone(),
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(
            listener,
            TlsAcceptor::from(tls),
            state,
            stopped,
            config.stats_interval.max(Duration::from_millis(100)),
        ));
        tracing::info!(address = %local_addr, "node server listening");
        Ok(NodeServer {
            local_addr,
            stop,
            task,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting and ends every connection.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: Arc<ServerState>,
    mut stopped: oneshot::Receiver<()>,
    stats_interval: Duration,
) {
    let mut connections = tokio::task::JoinSet::new();
    let mut sample = tokio::time::interval(stats_interval);
    sample.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (tcp, remote) = tokio::select! {
            _ = &mut stopped => break,
            _ = sample.tick() => {
                let stats = state.stats.clone();
                connections.spawn(async move { stats.sample().await });
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!("node server accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let state = state.clone();
        connections.spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%remote, "node server TLS handshake failed: {e}");
                    return;
                }
                Err(_) => return,
            };
            let verified_client = tls
                .get_ref()
                .1
                .peer_certificates()
                .is_some_and(|c| !c.is_empty());
            let service = hyper::service::service_fn(move |request| {
                routes::handle(state.clone(), verified_client, request)
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .with_upgrades()
                .await
            {
                tracing::debug!(%remote, "node server connection ended: {e}");
            }
        });
    }
    connections.shutdown().await;
}
