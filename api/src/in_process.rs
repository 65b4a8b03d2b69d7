//! [`ApiServer::client`]: a [`Client`] that calls this server in the same process, with
//! no socket, no HTTP request and no JSON bytes between the caller and the handlers.
//!
//! [`InProcessClient`] turns each call into the context an HTTP request would have
//! produced (the resource, namespace, name and subresource of its target; its params
//! read by the same query-parameter parser) and runs the API server's verb code
//! ([`crate::handler::serve`]) with the object as a `serde_json::Value`. Admission,
//! defaulting, validation, `fieldValidation`, `dryRun`, managedFields, subresources,
//! patches, deletes and lists are therefore exactly the HTTP path's. What differs is
//! only the transport:
//! - objects are handed over as values; lists served from the watch cache are built
//!   from the cached values, not from their JSON;
//! - a watch reads the watch cache's events as `WatchEvent<Value>`s (the same
//!   watcher, start points, 410 ERROR event, bookmarks and selector semantics);
//!   `watch_shared` hands out the cache's own `Arc<Value>`s with no copy, so the
//!   runtime's informers decode their typed objects straight from the cache's entry;
//! - there is no request body, hence no body size limit (413) on this path;
//! - no `Accept` header: answers are plain JSON objects, never Tables;
//! - no authentication: it is the server's own door; and, as before, in-process calls
//!   do not go through the `/metrics` middleware (only the full HTTP application does).
//!
//! What is still encoded: the store holds JSON bytes, so each write is serialized
//! once for the store (and each object once for the watch cache's HTTP lines).
//! `pods/log`, `exec`, `attach` and `portforward` stream from the node agent and the
//! `metrics.k8s.io` group is served by its own HTTP handler: those calls still go
//! through the router as HTTP requests ([`ApiServer::http_client`]).
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

mod direct;
mod events;

use std::sync::Arc;

use skiff_core::client::{Client, ServiceClient};

use crate::ApiServer;

pub use direct::InProcessClient;

/// The in-process client over HTTP: every call an HTTP request (JSON bodies) handed to
/// the server's router, exactly what a remote client sends.
pub type RouterClient = ServiceClient<axum::Router>;

impl ApiServer {
    /// A client of this server in the same process ([`InProcessClient`]: no socket,
    /// no JSON, no authentication).
    pub fn client(&self) -> Arc<dyn Client> {
        Arc::new(self.in_process_client())
    }

    /// The same client with its concrete type.
    pub fn in_process_client(&self) -> InProcessClient {
        InProcessClient::new(self.clone())
    }

    /// A client of this server that sends every call as an HTTP request with JSON
    /// bodies to the server's router (no socket, no authentication), for tests and
    /// benchmarks of the wire path.
    pub fn http_client(&self) -> Arc<dyn Client> {
        Arc::new(self.router_client())
    }

    /// The HTTP client over the router with its concrete type.
    pub fn router_client(&self) -> RouterClient {
        ServiceClient::new(self.router())
    }
}
