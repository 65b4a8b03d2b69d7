//! The etcd v3 gRPC API over any [`KvStore`], so `etcdctl` and other etcd clients can
//! use a Skiff store as they would an etcd member.
//!
//! # Organization
//! - [`EtcdServer`]: the services (`KV`, `Watch`, `Lease`, `Maintenance`, `Cluster`) in
//!   one cheap-to-clone value; one file per service (`kv`, `watch`, `lease`,
//!   `maintenance`, `cluster`).
//! - [`serve`]: run them on a TCP listener until a shutdown signal.
//! - [`ServerIdentity`]: the member and cluster IDs, name and URLs the server reports.
//! - `convert`: protobuf ↔ store types; `validate`: the request checks etcd's gRPC
//!   layer makes; [`GrpcError`]: everything answered with a status instead of a response.
//!
//! # What is not provided
//! Authentication (the `Auth` service), alarms other than an empty list, defragmentation,
//! hashes, snapshots over the API, leadership moves and membership changes answer
//! `Unimplemented`.
//!
//! # Example
//! ```no_run
//! # async fn run(store: std::sync::Arc<dyn skiff_store::KvStore>) -> Result<(), Box<dyn std::error::Error>> {
//! use skiff_store::grpc::{serve, ServerIdentity};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:2379").await?;
//! let identity = ServerIdentity::new("default", vec!["http://127.0.0.1:2379".into()]);
//! serve(store, identity, listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

mod cluster;
mod convert;
mod error;
mod identity;
mod kv;
mod lease;
mod maintenance;
mod validate;
mod watch;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch as signal;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::Status;

pub use error::GrpcError;
pub use identity::{ServerIdentity, ETCD_VERSION, RAFT_TERM};

use crate::error::MAX_REQUEST_BYTES;
use crate::kv::KvStore;
use crate::proto::etcdserverpb::cluster_server::ClusterServer;
use crate::proto::etcdserverpb::kv_server::KvServer;
use crate::proto::etcdserverpb::lease_server::LeaseServer;
use crate::proto::etcdserverpb::maintenance_server::MaintenanceServer;
use crate::proto::etcdserverpb::watch_server::WatchServer;
use crate::types::Revision;

/// Room for gRPC framing and the request's other fields on top of
/// [`MAX_REQUEST_BYTES`], as etcd allows (`grpcOverheadBytes`). Requests between the two
/// sizes reach the handlers, which refuse them with etcd's "request is too large".
pub const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// The largest message the server decodes.
pub const MAX_RECV_BYTES: usize = MAX_REQUEST_BYTES + GRPC_OVERHEAD_BYTES;

/// etcd's gRPC services over a [`KvStore`]. Cloning is cheap; every clone serves the
/// same store.
#[derive(Clone)]
pub struct EtcdServer {
    store: Arc<dyn KvStore>,
    identity: Arc<ServerIdentity>,
    /// Becomes true when the server is stopping: long-lived streams (watches,
    /// keep-alives) then end with `Unavailable` so a graceful shutdown need not wait
    /// for clients to hang up.
    stopping: signal::Receiver<bool>,
}

impl EtcdServer {
    /// Serve `store` as the member described by `identity`.
    pub fn new(store: Arc<dyn KvStore>, identity: ServerIdentity) -> Self {
        let (_never, stopping) = signal::channel(false);
        EtcdServer {
            store,
            identity: Arc::new(identity),
            stopping,
        }
    }

    /// End open watch and keep-alive streams (with `Unavailable`, as a stopping etcd
    /// member does) once `stopping` becomes true. [`serve`] wires this to its shutdown
    /// signal; embedders mounting [`routes`](Self::routes) themselves can do the same.
    pub fn with_stop_signal(mut self, stopping: signal::Receiver<bool>) -> Self {
        self.stopping = stopping;
        self
    }

    /// The identity reported in headers, `Status` and `MemberList`.
    pub fn identity(&self) -> &ServerIdentity {
        &self.identity
    }

    /// The services as tonic routes, with etcd's message size limit, to mount on a
    /// tonic server of the caller's own.
    pub fn routes(&self) -> Routes {
        let mut routes = Routes::builder();
        routes
            .add_service(KvServer::new(self.clone()).max_decoding_message_size(MAX_RECV_BYTES))
            .add_service(WatchServer::new(self.clone()).max_decoding_message_size(MAX_RECV_BYTES))
            .add_service(LeaseServer::new(self.clone()).max_decoding_message_size(MAX_RECV_BYTES))
            .add_service(ClusterServer::new(self.clone()).max_decoding_message_size(MAX_RECV_BYTES))
            .add_service(
                MaintenanceServer::new(self.clone()).max_decoding_message_size(MAX_RECV_BYTES),
            );
        routes.routes()
    }

    /// Resolves when the server starts stopping (never, if it has no stop signal).
    async fn stopped(&self) {
        let mut stopping = self.stopping.clone();
        if stopping.wait_for(|s| *s).await.is_err() {
            // No stop signal will ever come.
            std::future::pending::<()>().await;
        }
    }

    /// The store's current revision.
    async fn current_revision(&self) -> Result<Revision, Status> {
        self.store
            .status()
            .await
            .map(|s| s.header.revision)
            .map_err(error::store_status)
    }
}

impl std::fmt::Debug for EtcdServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdServer")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// Why [`serve`] stopped other than by its shutdown signal.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The gRPC server failed (the listener broke).
    #[error("etcd gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serve etcd's API for `store` on `listener` until `shutdown` completes, then end open
/// watch and keep-alive streams, finish the requests in flight and return. Accepted
/// connections get `TCP_NODELAY`.
pub async fn serve(
    store: Arc<dyn KvStore>,
    identity: ServerIdentity,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (stop_tx, stop_rx) = signal::channel(false);
    let server = EtcdServer::new(store, identity).with_stop_signal(stop_rx);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let shutdown = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    tonic::transport::Server::builder()
        .add_routes(server.routes())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}
