//! `skiff apiserver`: the Kubernetes API server over HTTPS, on an embedded store or a
//! remote etcd, until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use skiff_api::standalone::{RunningServer, ServingOptions, StartError};
use skiff_store::location::{LocationError, StoreLocation};

/// How long closing the embedded store may take on the way out.
pub const STORE_CLOSE_GRACE: Duration = Duration::from_secs(3);

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
    /// Services, default tolerations, advertised address.
    #[command(flatten)]
    pub api: crate::apiserver_flags::ApiServerFlags,
}

/// Why `skiff apiserver` could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ApiServerCmdError {
    /// `--store` is neither `embedded` nor `etcd://...`.
    #[error(transparent)]
    BadStore(#[from] LocationError),
    /// The store could not be opened or reached.
    #[error("cannot open the store: {0}")]
    Store(#[from] skiff_store::StoreError),
    /// The server could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The signal handlers could not be installed.
    #[error("installing signal handlers: {0}")]
    Signal(std::io::Error),
}

/// Run `skiff apiserver` until Ctrl-C or SIGTERM.
pub async fn run(args: ApiServerArgs) -> Result<(), ApiServerCmdError> {
    let store = StoreLocation::parse(&args.store, &args.data_dir)?
        .open()
        .await?;
    let mut options = ServingOptions::new(args.data_dir);
    options.bind_address = args.bind_address;
    options.secure_port = args.secure_port;
    options.token_auth_file = args.token_auth_file;
    args.api.apply(&mut options);
    let server = RunningServer::start(options, store.store()).await?;
    let kubeconfig = server.kubeconfig().display().to_string();
    tracing::info!(
        %kubeconfig,
        "admin kubeconfig written; try: kubectl --kubeconfig {kubeconfig} get namespaces"
    );
    let signal = crate::store::wait_for_signal()
        .await
        .map_err(ApiServerCmdError::Signal)?;
    tracing::info!(signal, "stopping");
    server.stop().await;
    close_store(store).await;
    tracing::info!("stopped");
    Ok(())
}

/// Closes the store on the way out. The watch caches' tasks may still hold store
/// handles for a moment; every acknowledged write is durable already, so a store that
/// does not close in time is only left to the process exit.
pub async fn close_store(store: skiff_store::location::OpenedStore) {
    if !store.close(STORE_CLOSE_GRACE).await {
        tracing::warn!(
            "the store did not close in time; acknowledged writes are durable regardless"
        );
    }
}
