//! Starting a complete API server from a data directory, as `skiff apiserver` and
//! `skiff up` do: the cluster CA and certificates under `DIR/pki` (created on first
//! start, reused after), `DIR/admin.kubeconfig`, client-certificate and token
//! authentication, health checks on the store, OpenAPI, Tables, and HTTPS on the
//! secure port.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use skiff_api::standalone::{RunningServer, ServingOptions};
//! let store = Arc::new(skiff_store::MvccStore::in_memory().await);
//! let server = RunningServer::start(ServingOptions::new(".skiff".into()), store).await?;
//! println!("kubectl --kubeconfig {} get ns", server.kubeconfig().display());
//! let client = server.client(); // in-process, for components in the same program
//! # let _ = client;
//! server.stop().await;
//! # Ok(()) }
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use skiff_core::client::Client;
use skiff_store::KvStore;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::{
    AuthState, Authenticator, ClientCertAuthenticator, TokenFileAuthenticator, UnionAuthenticator,
};
use crate::node_proxy::KubeletClientConfig;
use crate::openapi::OpenApiCache;
use crate::serve::{app_router, serve_https, AppParts, FnCheck, HealthChecks, Metrics};
use crate::table::TableTransform;
use crate::tls::{server_config, ClusterPki};
use crate::{ApiServer, ApiServerConfig};

/// The user of the API server's client certificate towards node agents.
pub const KUBELET_CLIENT_USER: &str = "kube-apiserver-kubelet-client";

/// Where and how the server serves (kube-apiserver's flags of the same names).
#[derive(Clone, Debug)]
pub struct ServingOptions {
    /// Holds `pki/` and `admin.kubeconfig`.
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub bind_address: IpAddr,
    /// HTTPS port; 0 picks a free one (the kubeconfig names the one chosen).
    pub secure_port: u16,
    /// Static bearer tokens, one `token,user,uid[,"group1,group2"]` per line.
    pub token_auth_file: Option<PathBuf>,
    /// The address other members of the cluster reach this server at, listed in the
    /// `kubernetes` Service's Endpoints (`--advertise-address`); the bind address when
    /// `None` (loopback when binding every address).
    pub advertise_address: Option<IpAddr>,
    /// The ranges of Services' cluster IPs and node ports.
    pub service_ranges: crate::service_alloc::Ranges,
    /// Pods' default toleration of not-ready and unreachable nodes.
    pub default_toleration_seconds: crate::strategy::default_tolerations::TolerationSeconds,
    /// Pods take their priority from their PriorityClass (see
    /// [`ApiServerConfig::priority_admission`]).
    pub priority_admission: bool,
}

impl ServingOptions {
    /// Loopback on 6443, no token file.
    pub fn new(data_dir: PathBuf) -> Self {
        ServingOptions {
            data_dir,
            bind_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            secure_port: 6443,
            token_auth_file: None,
            advertise_address: None,
            service_ranges: Default::default(),
            default_toleration_seconds: Default::default(),
            priority_admission: true,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Certificates or the kubeconfig could not be created or loaded.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The token file is unusable.
    #[error(transparent)]
    Tokens(#[from] crate::auth::TokenFileError),
    /// The API server could not start its resources.
    #[error("cannot start the API server: {0}")]
    Start(skiff_core::status::ApiError),
    /// A directory or the listening socket failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// A server serving HTTPS, until [`RunningServer::stop`].
pub struct RunningServer {
    server: ApiServer,
    health: HealthChecks,
    local_addr: SocketAddr,
    url: String,
    kubeconfig: PathBuf,
    ca_cert_pem: String,
    /// This server in the `kubernetes` Service's Endpoints.
    advertised: SocketAddr,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("url", &self.url)
            .field("kubeconfig", &self.kubeconfig)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// Creates the data directory, certificates and admin kubeconfig if missing,
    /// starts the API server on `store` and serves it over HTTPS.
    pub async fn start(
        options: ServingOptions,
        store: Arc<dyn KvStore>,
    ) -> Result<RunningServer, StartError> {
        let io = |what: String| move |source| StartError::Io { what, source };
        let dir = &options.data_dir;
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;

        let addr = SocketAddr::new(options.bind_address, options.secure_port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(io(format!("cannot listen on {addr}")))?;
        let local_addr = listener.local_addr().map_err(io("local address".into()))?;

        let pki = ClusterPki::load_or_create(dir, &certificate_hosts(options.bind_address))?;
        let tls = Arc::new(server_config(&pki)?);
        let url = server_url(options.bind_address, local_addr.port());
        let kubeconfig = dir.join("admin.kubeconfig");
        crate::kubeconfig::write_admin_kubeconfig(&kubeconfig, &url, &pki)?;

        // The API server's client certificate for the node agents' servers (logs,
        // exec, port-forward), as kube-apiserver's --kubelet-client-certificate. Node
        // agents serve self-signed certificates, which it accepts (no
        // --kubelet-certificate-authority).
        let kubelet =
            ClusterPki::issue_client_certificate(dir, KUBELET_CLIENT_USER, Some("system:masters"))?;
        let server = ApiServer::new(
            store.clone(),
            ApiServerConfig {
                response_transform: Some(Arc::new(TableTransform)),
                kubelet_client: Some(KubeletClientConfig {
                    client_cert_pem: Some(kubelet.cert_pem),
                    client_key_pem: Some(kubelet.key_pem),
                    ..KubeletClientConfig::default()
                }),
                service_ranges: options.service_ranges,
                default_toleration_seconds: options.default_toleration_seconds,
                priority_admission: options.priority_admission,
                ..ApiServerConfig::default()
            },
        )
        .await
        .map_err(StartError::Start)?;
        let advertised = SocketAddr::new(
            options
                .advertise_address
                .unwrap_or_else(|| server_url_host(options.bind_address)),
            local_addr.port(),
        );
        if let Err(e) = crate::service_alloc::kubernetes_service::ensure(&server, advertised).await
        {
            tracing::warn!("cannot set up the kubernetes Service: {e}");
        }

        let mut authenticators: Vec<Box<dyn Authenticator>> =
            vec![Box::new(ClientCertAuthenticator)];
        if let Some(path) = &options.token_auth_file {
            let tokens = TokenFileAuthenticator::from_file(path)?;
            tracing::info!(tokens = tokens.len(), file = %path.display(), "loaded bearer tokens");
            authenticators.push(Box::new(tokens));
        }
        let health = HealthChecks::new(vec![Box::new(FnCheck::new("etcd", move || {
            let store = store.clone();
            Box::pin(async move { store.status().await.map(|_| ()).map_err(|e| e.to_string()) })
        }))]);
        let router = app_router(
            &server,
            AppParts {
                auth: Some(AuthState::new(UnionAuthenticator::new(authenticators))),
                health: health.clone(),
                metrics: Metrics::new(),
                extra: Some(crate::openapi::router(OpenApiCache::new(Arc::new(
                    server.clone(),
                )))),
            },
        );

        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(serve_https(router, listener, tls, async move {
            let _ = stopped.await;
        }));
        tracing::info!(address = %local_addr, "serving the Kubernetes API over HTTPS");
        Ok(RunningServer {
            ca_cert_pem: pki.ca_cert_pem.clone(),
            advertised,
            server,
            health,
            local_addr,
            url,
            kubeconfig,
            stop,
            serving,
        })
    }

    /// The cluster CA certificate (PEM): node agents accept the API server's client
    /// certificate, which it signed.
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    /// A client of this server in the same process (no socket, no authentication), for
    /// the components a program runs beside it.
    pub fn client(&self) -> Arc<dyn Client> {
        self.server.client()
    }

    /// The server itself.
    pub fn api_server(&self) -> &ApiServer {
        &self.server
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `https://host:port`, as written in the kubeconfig.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The admin kubeconfig (`DIR/admin.kubeconfig`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Runs the checks behind `/readyz`; the failing ones (empty when ready).
    pub async fn readiness_failures(&self) -> Vec<(String, String)> {
        self.health.failures().await
    }

    /// Stops accepting, lets requests in flight finish for a grace period and cuts the
    /// rest (long watches).
    pub async fn stop(self) {
        if let Err(e) =
            crate::service_alloc::kubernetes_service::withdraw(&self.server, self.advertised).await
        {
            tracing::warn!("cannot remove this server from the kubernetes Endpoints: {e}");
        }
        let _ = self.stop.send(());
        match self.serving.await {
            Ok(Err(e)) => tracing::error!("serving failed: {e}"),
            Err(e) => tracing::error!("serving task failed: {e}"),
            Ok(Ok(())) => {}
        }
    }
}

/// `https://host:port` for clients: loopback when listening on every address.
fn server_url(bind: IpAddr, port: u16) -> String {
    format!("https://{}", SocketAddr::new(server_url_host(bind), port))
}

/// The host clients reach a server bound to `bind` at: loopback when it listens on
/// every address.
fn server_url_host(bind: IpAddr) -> IpAddr {
    if bind.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        bind
    }
}

/// The names the serving certificate is valid for: localhost, 127.0.0.1, the host
/// name and the bind address.
fn certificate_hosts(bind: IpAddr) -> Vec<String> {
    let mut hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let name = name.trim();
        if !name.is_empty() {
            hosts.push(name.to_string());
        }
    }
    if !bind.is_unspecified() {
        hosts.push(bind.to_string());
    }
    let mut unique = Vec::new();
    for host in hosts {
        if !unique.contains(&host) {
            unique.push(host);
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_reachable_address() {
        assert_eq!(
            server_url("127.0.0.1".parse().unwrap(), 6443),
            "https://127.0.0.1:6443"
        );
        assert_eq!(
            server_url("0.0.0.0".parse().unwrap(), 1),
            "https://127.0.0.1:1"
        );
        assert_eq!(server_url("::1".parse().unwrap(), 2), "https://[::1]:2");
    }

    #[test]
    fn certificates_cover_loopback_and_the_bind_address() {
        let hosts = certificate_hosts("10.1.2.3".parse().unwrap());
        assert!(hosts.contains(&"localhost".to_string()));
        assert!(hosts.contains(&"10.1.2.3".to_string()));
        let hosts = certificate_hosts("127.0.0.1".parse().unwrap());
        assert_eq!(hosts.iter().filter(|h| *h == "127.0.0.1").count(), 1);
    }

    #[tokio::test]
    async fn serves_and_stops_with_a_kubeconfig_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = ServingOptions::new(dir.path().to_path_buf());
        options.secure_port = 0;
        let store = Arc::new(skiff_store::MvccStore::in_memory().await);
        let server = RunningServer::start(options, store).await.unwrap();
        assert!(server.readiness_failures().await.is_empty());
        assert_ne!(server.local_addr().port(), 0);
        let text = std::fs::read_to_string(server.kubeconfig()).unwrap();
        assert_eq!(
            crate::kubeconfig::server_of(&text).as_deref(),
            Some(server.url())
        );
        let namespaces =
            skiff_core::client::Api::<k8s_openapi::api::core::v1::Namespace>::all(server.client())
                .list(&skiff_core::client::ListParams::default())
                .await
                .unwrap();
        assert!(!namespaces.items.is_empty());
        server.stop().await;
    }
}
