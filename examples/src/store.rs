//! `skiff store`: serve a Skiff store over the etcd v3 gRPC API, like a single etcd
//! member, until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use skiff_store::grpc::{serve, ServeError, ServerIdentity};
use skiff_store::{KvStore, MemoryBackend, MvccStore, RedbBackend, StoreConfig, StoreError};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long open streams (watches, keep-alives) may hold up a stop before they are cut.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Where the store keeps its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// Durable: one redb file in --data-dir, one fsync per batch of writes.
    Redb,
    /// In memory only: everything is lost when the process stops; --data-dir is unused.
    Memory,
}

/// Flags of `skiff store`, named as etcd's.
#[derive(Args, Debug)]
pub struct StoreArgs {
    /// Human-readable name of this member (reported by `etcdctl member list`).
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Directory for the store's data (the redb file is DIR/skiff.redb).
    #[arg(long, default_value = "default.skiff")]
    pub data_dir: PathBuf,
    /// Where the data is kept.
    #[arg(long, value_enum, default_value_t = BackendKind::Redb)]
    pub backend: BackendKind,
    /// Comma-separated URLs to serve clients on (http only; port 0 picks a free port).
    #[arg(long, default_value = "http://127.0.0.1:2379", value_delimiter = ',')]
    pub listen_client_urls: Vec<String>,
    /// Comma-separated URLs to report to clients (default: the listening addresses).
    #[arg(long, value_delimiter = ',')]
    pub advertise_client_urls: Vec<String>,
}

/// Why `skiff store` could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StoreCmdError {
    /// A listen URL is not `http://host:port`.
    #[error("invalid --listen-client-urls entry {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Open(#[from] StoreError),
    /// The gRPC server failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// The opened store and the IDs its data file carries, if any.
struct Opened {
    store: MvccStore,
    /// (member ID, cluster ID) stored with the data, so they survive restarts.
    ids: Option<(u64, u64)>,
}

/// Run `skiff store` until Ctrl-C or SIGTERM.
pub async fn run(args: StoreArgs) -> Result<(), StoreCmdError> {
    let mut listeners = Vec::new();
    for url in &args.listen_client_urls {
        let addr = listen_addr(url)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StoreCmdError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        listeners.push(listener);
    }
    let Opened { store, ids } = open_store(&args).await?;

    let advertised: Vec<String> = if args.advertise_client_urls.is_empty() {
        listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .map(|a| format!("http://{a}"))
            .collect()
    } else {
        args.advertise_client_urls.clone()
    };
    let identity = match ids {
        Some((member_id, cluster_id)) => {
            ServerIdentity::with_ids(args.name.clone(), advertised, member_id, cluster_id)
        }
        None => ServerIdentity::new(args.name.clone(), advertised),
    };

    let shared: Arc<dyn KvStore> = Arc::new(store.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    for listener in listeners {
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(%addr, member_id = %format!("{:x}", identity.member_id), "serving etcd v3 gRPC");
        let mut stop = stop_rx.clone();
        let shutdown = async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        };
        servers.spawn(serve(shared.clone(), identity.clone(), listener, shutdown));
    }
    drop(shared);
    tracing::info!("ready to serve client requests");

    let mut result = Ok(());
    tokio::select! {
        sig = wait_for_signal() => {
            let name = sig.map_err(StoreCmdError::Signals)?;
            tracing::info!(signal = name, "stopping");
        }
        // A server that stops on its own has failed; stop the others too.
        Some(joined) = servers.join_next() => {
            if let Ok(Err(e)) = joined {
                result = Err(StoreCmdError::Serve(e));
            }
        }
    }

    // Stop accepting, let requests in flight finish, cut long streams after a grace.
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while let Some(joined) = servers.join_next().await {
            if let Ok(Err(e)) = joined {
                tracing::error!("{e}");
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::info!("closing the streams still open");
        servers.shutdown().await;
    }
    // Release the store (and its data file) once the last request is done.
    if tokio::time::timeout(SHUTDOWN_GRACE, store.close())
        .await
        .is_err()
    {
        tracing::warn!(
            "the store did not close in time; acknowledged writes are durable regardless"
        );
    }
    tracing::info!("stopped");
    result
}

/// THE PLACE WHERE THE BACKEND IS CHOSEN: redb in `--data-dir` unless `--backend memory`.
async fn open_store(args: &StoreArgs) -> Result<Opened, StoreCmdError> {
    match args.backend {
        BackendKind::Redb => {
            let dir = args.data_dir.clone();
            let backend = tokio::task::spawn_blocking(move || RedbBackend::open(dir))
                .await
                .map_err(|e| StoreError::Open(format!("opening task failed: {e}")))??;
            let ids = backend.identity();
            tracing::info!(file = %backend.path().display(), "opened redb backend");
            let store = MvccStore::open(backend, StoreConfig::default()).await?;
            Ok(Opened {
                store,
                ids: Some((ids.member_id, ids.cluster_id)),
            })
        }
        BackendKind::Memory => {
            tracing::warn!("using the in-memory backend: nothing is persisted");
            let store = MvccStore::open(MemoryBackend, StoreConfig::default()).await?;
            Ok(Opened { store, ids: None })
        }
    }
}

/// The `host:port` to bind for a listen URL (`http://host:port`, or a bare `host:port`).
fn listen_addr(url: &str) -> Result<&str, StoreCmdError> {
    let bad = |reason| StoreCmdError::BadUrl {
        url: url.to_string(),
        reason,
    };
    if url.starts_with("https://") || url.starts_with("unixs://") {
        return Err(bad("TLS is not supported; use http://"));
    }
    if url.starts_with("unix://") {
        return Err(bad("unix sockets are not supported; use http://"));
    }
    let hostport = url
        .strip_prefix("http://")
        .unwrap_or(url)
        .trim_end_matches('/');
    if hostport.is_empty() || !hostport.contains(':') || hostport.contains('/') {
        return Err(bad("expected http://host:port"));
    }
    Ok(hostport)
}

/// Wait for Ctrl-C (SIGINT) or SIGTERM; the name of the signal.
pub async fn wait_for_signal() -> std::io::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map(|()| "SIGINT"),
            _ = term.recv() => Ok("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map(|()| "Ctrl-C")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_urls() {
        assert_eq!(
            listen_addr("http://127.0.0.1:2379").unwrap(),
            "127.0.0.1:2379"
        );
        assert_eq!(listen_addr("http://localhost:0/").unwrap(), "localhost:0");
        assert_eq!(listen_addr("0.0.0.0:2379").unwrap(), "0.0.0.0:2379");
        assert!(listen_addr("https://127.0.0.1:2379").is_err());
        assert!(listen_addr("unix:///tmp/sock").is_err());
        assert!(listen_addr("http://127.0.0.1").is_err());
        assert!(listen_addr("http://").is_err());
    }
}
