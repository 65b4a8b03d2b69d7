//! The API server under benchmark: Skiff's API server on a durable embedded store (redb
//! in a temporary directory, as `skiff apiserver` runs it), reachable in-process and
//! over HTTPS on loopback with client-certificate authentication.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let bench = skiff_benches::apiserver_setup::BenchApiServer::start(None).await?;
//! let in_process = bench.in_process_client();
//! let https = bench.https_client()?;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use skiff_api::auth::{AuthState, Authenticator, ClientCertAuthenticator, UnionAuthenticator};
use skiff_api::serve::{app_router, serve_https, AppParts, HealthChecks, Metrics};
use skiff_api::tls::{server_config, ClusterPki};
use skiff_api::{ApiServer, ApiServerConfig};
use skiff_core::client::https::HttpsClient;
use skiff_core::client::Client;
use skiff_store::{MvccStore, RedbBackend, StoreConfig};
use tokio::net::TcpListener;

/// Why the benchmark server could not start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A file or socket operation failed.
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
    /// The store could not open.
    #[error("store: {0}")]
    Store(#[from] skiff_store::StoreError),
    /// Certificates could not be made.
    #[error(transparent)]
    Tls(#[from] skiff_api::tls::TlsError),
    /// The API server did not start.
    #[error("API server: {0}")]
    Api(skiff_core::status::ApiError),
    /// The HTTPS client could not be built.
    #[error("client: {0}")]
    Client(#[from] skiff_core::client::ClientError),
}

/// A running API server for the benchmark. Dropping it stops serving.
pub struct BenchApiServer {
    server: ApiServer,
    kubeconfig: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl BenchApiServer {
    /// Starts the server with its data in a new temporary directory under `root` (the
    /// system temp directory when `None`).
    pub async fn start(root: Option<&Path>) -> Result<BenchApiServer, SetupError> {
        let dir = match root {
            Some(root) => tempfile::tempdir_in(root),
            None => tempfile::tempdir(),
        }
        .map_err(|e| SetupError::Io("temporary directory", e))?;
        let store_dir = dir.path().join("store");
        let backend = tokio::task::spawn_blocking(move || RedbBackend::open(store_dir))
            .await
            .map_err(|e| SetupError::Io("opening task", std::io::Error::other(e)))??;
        let store = MvccStore::open(backend, StoreConfig::default()).await?;
        let server = ApiServer::new(Arc::new(store), ApiServerConfig::default())
            .await
            .map_err(SetupError::Api)?;

        let pki = ClusterPki::load_or_create(dir.path(), &["127.0.0.1".to_owned()])?;
        let tls = Arc::new(server_config(&pki)?);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| SetupError::Io("listen", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| SetupError::Io("local address", e))?;
        let kubeconfig = dir.path().join("admin.kubeconfig");
        skiff_api::kubeconfig::write_admin_kubeconfig(
            &kubeconfig,
            &format!("https://127.0.0.1:{}", addr.port()),
            &pki,
        )?;
        let authenticators: Vec<Box<dyn Authenticator>> = vec![Box::new(ClientCertAuthenticator)];
        let router = app_router(
            &server,
            AppParts {
                auth: Some(AuthState::new(UnionAuthenticator::new(authenticators))),
                health: HealthChecks::default(),
                metrics: Metrics::new(),
                extra: None,
            },
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve_https(router, listener, tls, async move {
            let _ = stopped.await;
        }));
        Ok(BenchApiServer {
            server,
            kubeconfig,
            stop: Some(stop),
            _dir: dir,
        })
    }

    /// A client calling the server's handlers in this process (no socket, no JSON).
    pub fn in_process_client(&self) -> Arc<dyn Client> {
        self.server.client()
    }

    /// A client sending HTTP requests with JSON bodies to the server's router in this
    /// process (no socket): the in-process path before the handlers were called
    /// directly.
    pub fn in_process_http_client(&self) -> Arc<dyn Client> {
        self.server.http_client()
    }

    /// The server itself, for requests that bypass the client (raw responses).
    pub fn server(&self) -> &ApiServer {
        &self.server
    }

    /// A new HTTPS client (its own connection) with the admin's client certificate.
    pub fn https_client(&self) -> Result<Arc<dyn Client>, SetupError> {
        Ok(Arc::new(HttpsClient::from_kubeconfig(&self.kubeconfig)?))
    }
}

impl Drop for BenchApiServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
