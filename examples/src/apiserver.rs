//! `skiff apiserver`: the Kubernetes API server over HTTPS, on an embedded store or a
//! remote etcd, until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use skiff_api::auth::{
    AuthState, Authenticator, ClientCertAuthenticator, TokenFileAuthenticator, UnionAuthenticator,
};
use skiff_api::openapi::OpenApiCache;
use skiff_api::serve::{app_router, serve_https, AppParts, FnCheck, HealthChecks, Metrics};
use skiff_api::table::TableTransform;
use skiff_api::tls::{server_config, ClusterPki};
use skiff_api::{ApiServer, ApiServerConfig};
use skiff_store::{KvStore, MvccStore, RedbBackend, RemoteOptions, RemoteStore, StoreConfig};
use tokio::net::TcpListener;

/// How long closing the embedded store may take on the way out.
const STORE_CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Flags of `skiff apiserver`, named as kube-apiserver's.
#[derive(Args, Debug)]
pub struct ApiServerArgs {
    /// Directory for the certificates (DIR/pki), the admin kubeconfig
    /// (DIR/admin.kubeconfig) and the embedded store (DIR/store).
    #[arg(long, default_value = ".skiff/apiserver")]
    pub data_dir: PathBuf,
    /// `embedded` (a Skiff store in DIR/store) or `etcd://host:port,host:port` (a remote
    /// etcd or `skiff store`).
    #[arg(long, default_value = "embedded")]
    pub store: String,
    /// HTTPS port (0 picks a free port; the kubeconfig names the one chosen).
    #[arg(long, default_value_t = 6443)]
    pub secure_port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind_address: std::net::IpAddr,
    /// Static bearer tokens, one `token,user,uid[,"group1,group2"]` per line.
    #[arg(long)]
    pub token_auth_file: Option<PathBuf>,
}

/// Why `skiff apiserver` could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ApiServerCmdError {
    /// `--store` is neither `embedded` nor `etcd://...`.
    #[error("invalid --store {0:?}: expected embedded or etcd://host:port[,host:port...]")]
    BadStore(String),
    /// The store could not be opened or reached.
    #[error("cannot open the store: {0}")]
    Store(#[from] skiff_store::StoreError),
    /// Certificates or the kubeconfig could not be created or loaded.
    #[error(transparent)]
    Tls(#[from] skiff_api::tls::TlsError),
    /// The token file is unusable.
    #[error(transparent)]
    Tokens(#[from] skiff_api::auth::TokenFileError),
    /// The API server could not start its resources.
    #[error("cannot start the API server: {0}")]
    Start(skiff_core::status::ApiError),
    /// A file or the listening socket failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Run `skiff apiserver` until Ctrl-C or SIGTERM.
pub async fn run(args: ApiServerArgs) -> Result<(), ApiServerCmdError> {
    let io = |what: String| move |source| ApiServerCmdError::Io { what, source };
    std::fs::create_dir_all(&args.data_dir)
        .map_err(io(format!("creating {}", args.data_dir.display())))?;

    let addr = SocketAddr::new(args.bind_address, args.secure_port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(io(format!("cannot listen on {addr}")))?;
    let local = listener.local_addr().map_err(io("local address".into()))?;

    let pki = ClusterPki::load_or_create(&args.data_dir, &certificate_hosts(&args))?;
    let tls = Arc::new(server_config(&pki)?);
    let connect_host = if args.bind_address.is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        args.bind_address.to_string()
    };
    let server_url = match local.ip() {
        std::net::IpAddr::V6(_) if !args.bind_address.is_unspecified() => {
            format!("https://[{connect_host}]:{}", local.port())
        }
        _ => format!("https://{connect_host}:{}", local.port()),
    };
    let kubeconfig = args.data_dir.join("admin.kubeconfig");
    skiff_api::kubeconfig::write_admin_kubeconfig(&kubeconfig, &server_url, &pki)?;

    let (store, embedded) = open_store(&args).await?;
    let server = ApiServer::new(
        store.clone(),
        ApiServerConfig {
            response_transform: Some(Arc::new(TableTransform)),
            ..ApiServerConfig::default()
        },
    )
    .await
    .map_err(ApiServerCmdError::Start)?;

    let mut authenticators: Vec<Box<dyn Authenticator>> = vec![Box::new(ClientCertAuthenticator)];
    if let Some(path) = &args.token_auth_file {
        let tokens = TokenFileAuthenticator::from_file(path)?;
        tracing::info!(tokens = tokens.len(), file = %path.display(), "loaded bearer tokens");
        authenticators.push(Box::new(tokens));
    }
    let store_check = store.clone();
    let health = HealthChecks::new(vec![Box::new(FnCheck::new("etcd", move || {
        let store = store_check.clone();
        Box::pin(async move { store.status().await.map(|_| ()).map_err(|e| e.to_string()) })
    }))]);
    let router = app_router(
        &server,
        AppParts {
            auth: Some(AuthState::new(UnionAuthenticator::new(authenticators))),
            health,
            metrics: Metrics::new(),
            extra: Some(skiff_api::openapi::router(OpenApiCache::new(Arc::new(
                server.clone(),
            )))),
        },
    );

    tracing::info!(address = %local, "serving the Kubernetes API over HTTPS");
    tracing::info!(
        kubeconfig = %kubeconfig.display(),
        "admin kubeconfig written; try: kubectl --kubeconfig {} get namespaces",
        kubeconfig.display()
    );

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(serve_https(router, listener, tls, async move {
        let _ = stop_rx.await;
    }));
    let signal = crate::store::wait_for_signal()
        .await
        .map_err(io("installing signal handlers".into()))?;
    tracing::info!(signal, "stopping");
    let _ = stop_tx.send(());
    if let Ok(Err(e)) = serving.await {
        tracing::error!("serving failed: {e}");
    }
    drop(server);
    // The watch caches' tasks may still hold store handles for a moment; every
    // acknowledged write is durable already, so a store that does not close in time is
    // only left to the process exit.
    if let Some(store) = embedded {
        if tokio::time::timeout(STORE_CLOSE_GRACE, store.close())
            .await
            .is_err()
        {
            tracing::warn!(
                "the store did not close in time; acknowledged writes are durable regardless"
            );
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The names the serving certificate is valid for: localhost, 127.0.0.1, the host
/// name and the bind address.
fn certificate_hosts(args: &ApiServerArgs) -> Vec<String> {
    let mut hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let name = name.trim();
        if !name.is_empty() {
            hosts.push(name.to_string());
        }
    }
    if !args.bind_address.is_unspecified() {
        hosts.push(args.bind_address.to_string());
    }
    let mut unique = Vec::new();
    for host in hosts {
        if !unique.contains(&host) {
            unique.push(host);
        }
    }
    unique
}

/// THE PLACE WHERE THE STORE IS CHOSEN: `embedded` opens a Skiff store on redb in
/// DIR/store; `etcd://a:2379,b:2379` connects to a remote etcd. Returns the store, and
/// the embedded one again (to close it on the way out).
async fn open_store(
    args: &ApiServerArgs,
) -> Result<(Arc<dyn KvStore>, Option<MvccStore>), ApiServerCmdError> {
    if args.store == "embedded" {
        let dir = args.data_dir.join("store");
        let backend = tokio::task::spawn_blocking(move || RedbBackend::open(dir))
            .await
            .map_err(|e| skiff_store::StoreError::Open(format!("opening task failed: {e}")))??;
        tracing::info!(file = %backend.path().display(), "opened the embedded store");
        let store = MvccStore::open(backend, StoreConfig::default()).await?;
        return Ok((Arc::new(store.clone()), Some(store)));
    }
    let Some(list) = args.store.strip_prefix("etcd://") else {
        return Err(ApiServerCmdError::BadStore(args.store.clone()));
    };
    let endpoints: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| format!("http://{}", e.trim_start_matches("etcd://")))
        .collect();
    if endpoints.is_empty() {
        return Err(ApiServerCmdError::BadStore(args.store.clone()));
    }
    let store = RemoteStore::connect(endpoints.clone(), RemoteOptions::default()).await?;
    tracing::info!(?endpoints, "connected to etcd");
    Ok((Arc::new(store), None))
}
