//! [`ApiServer::client`]: a [`Client`] that calls this server in the same process, with
//! no socket: each call is an HTTP request handed to the server's router with tower's
//! `oneshot`, exactly what a remote client would send.
//!
//! It still goes through JSON bytes both ways (the request is built and the answer
//! decoded as over HTTPS), so it behaves exactly like the remote client and shares its
//! code; a later optimisation may call the registries directly and skip the encoding.
//! There is no authentication on this path: it is the server's own door.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::Arc;
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use skiff_api::{ApiServer, ApiServerConfig};
//! use skiff_core::client::{Api, PostParams};
//!
//! let store = Arc::new(skiff_store::MvccStore::in_memory().await);
//! let server = ApiServer::new(store, ApiServerConfig::default()).await.unwrap();
//! let cms: Api<ConfigMap> = Api::namespaced(server.client(), "default");
//! let mut cm = ConfigMap::default();
//! cm.metadata.name = Some("settings".into());
//! cms.create(&cm, &PostParams::default()).await.unwrap();
//! assert!(cms.get_opt("settings").await.unwrap().is_some());
//! # }
//! ```

use std::sync::Arc;

use skiff_core::client::{Client, ServiceClient};

use crate::ApiServer;

/// The in-process client's type: the generic HTTP client over the server's router.
pub type InProcessClient = ServiceClient<axum::Router>;

impl ApiServer {
    /// A client of this server in the same process (no socket, no authentication).
    pub fn client(&self) -> Arc<dyn Client> {
        Arc::new(self.in_process_client())
    }

    /// The same client with its concrete type.
    pub fn in_process_client(&self) -> InProcessClient {
        ServiceClient::new(self.router())
    }
}
