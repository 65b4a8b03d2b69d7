//! An API server in the test's own process, for tests of controllers and operators:
//! the Rust counterpart of controller-runtime's envtest, with no socket, no
//! certificates and no external binaries.
//!
//! [`TestApiServer`] starts an [`ApiServer`] over an in-memory store. Its
//! [`service`](TestApiServer::service) is the server's whole HTTP application (resources,
//! discovery, OpenAPI, health) as a tower `Service`, without authentication; a
//! `kube::Client` wraps it directly with `kube::Client::new`, so kube-rs code (typed
//! `Api`s, `kube::runtime::watcher`, `Controller`) runs against it unchanged. Skiff's own
//! components take [`client`](TestApiServer::client) instead.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use kube::api::{Api, PostParams};
//!
//! let env = skiff_api::testing::TestApiServer::start().await?;
//! let client = kube::Client::new(env.service(), "default");
//! let cms: Api<ConfigMap> = Api::default_namespaced(client);
//! let mut cm = ConfigMap::default();
//! cm.metadata.name = Some("settings".into());
//! cms.create(&PostParams::default(), &cm).await?;
//! assert!(cms.get_opt("settings").await?.is_some());
//! # Ok(()) }
//! ```
//!
//! Requests still travel as HTTP requests with JSON bodies, as they would over a
//! socket; only the network and TLS are skipped.

use std::sync::Arc;

use skiff_core::client::Client;
use skiff_core::status::ApiError;
use skiff_store::MvccStore;

use crate::openapi::OpenApiCache;
use crate::serve::{app_router, AppParts, HealthChecks, Metrics};
use crate::{ApiServer, ApiServerConfig};

/// An API server over an in-memory store, served in-process.
#[derive(Clone, Debug)]
pub struct TestApiServer {
    server: ApiServer,
    store: Arc<MvccStore>,
}

impl TestApiServer {
    /// A server with the default settings.
    pub async fn start() -> Result<TestApiServer, ApiError> {
        TestApiServer::start_with(ApiServerConfig::default()).await
    }

    /// A server with `config` (a small `watch_cache.window` makes 410 Gone easy to
    /// reach, for instance).
    pub async fn start_with(config: ApiServerConfig) -> Result<TestApiServer, ApiError> {
        let store = Arc::new(MvccStore::in_memory().await);
        let server = ApiServer::new(store.clone(), config).await?;
        Ok(TestApiServer { server, store })
    }

    /// The server.
    pub fn server(&self) -> &ApiServer {
        &self.server
    }

    /// The store under the server.
    pub fn store(&self) -> &Arc<MvccStore> {
        &self.store
    }

    /// The server's HTTP application as a tower `Service` (no authentication): give it
    /// to `kube::Client::new(service, "default")`, or call it with
    /// `tower::ServiceExt::oneshot`. Each call builds a new router over the same server.
    pub fn service(&self) -> axum::Router {
        app_router(
            &self.server,
            AppParts {
                auth: None,
                health: HealthChecks::default(),
                metrics: Metrics::new(),
                extra: Some(crate::openapi::router(OpenApiCache::new(Arc::new(
                    self.server.clone(),
                )))),
            },
        )
    }

    /// A Skiff client of the server ([`ApiServer::client`]).
    pub fn client(&self) -> Arc<dyn Client> {
        self.server.client()
    }
}
