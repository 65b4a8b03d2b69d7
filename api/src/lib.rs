//! # skiff-api — the API server
//!
//! The only door to the cluster: the Kubernetes REST API (resources, watch, discovery,
//! OpenAPI) over a [`skiff_store::KvStore`].
//!
//! # Organization
//! - [`ApiServer`]: the server; [`ApiServer::router`] is an axum `Router` (a tower
//!   `Service`) serving `/api/v1/...` and `/apis/{group}/{version}/...`.
//! - [`registry`]: storage of one resource over the store (create, get, list, update,
//!   delete with Kubernetes' object semantics).
//! - [`strategy`]: the per-kind data of the generic registry (defaulting, validation,
//!   status split, field selectors).
//! - [`handler`]: HTTP: paths, query parameters, bodies, verbs, subresources, errors.
//! - [`service_alloc`]: Services' cluster IPs and node ports, allocated atomically in
//!   the store.
//! - [`node_proxy`]: `pods/log`, `exec`, `attach`, `portforward` proxied to the
//!   pod's node agent.
//! - [`crd`]: CustomResourceDefinitions: custom resources served as their CRDs come
//!   and go.
//! - [`watch_cache`]: one store watch per resource feeding a window of recent events
//!   that serves every watch.
//! - [`ApiServer::client`]: a `skiff_core::client::Client` calling the server
//!   in-process (no socket, no JSON: the handlers called with values).
//! - [`standalone`]: a complete server from a data directory (certificates, admin
//!   kubeconfig, authentication, HTTPS), as `skiff apiserver` and `skiff up` run it.
//! - [`testing`]: an in-process server for tests, and a `kube::Client` on it
//!   (the counterpart of controller-runtime's envtest).
//!
//! ```no_run
//! # async fn run() {
//! use std::sync::Arc;
//! use skiff_api::{ApiServer, ApiServerConfig};
//! let store = Arc::new(skiff_store::MvccStore::in_memory().await);
//! let server = ApiServer::new(store, ApiServerConfig::default()).await.unwrap();
//! let app = server.router(); // serve with hyper, or call in-process with tower
//! # let _ = app;
//! # }
//! ```

// ApiError (core) is the error of every verb; boxing it everywhere buys nothing here.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod crd;
pub mod discovery;
pub mod handler;
mod in_process;
pub mod kubeconfig;
pub mod managed_fields;
pub mod metrics_api;
pub mod node_proxy;
pub mod openapi;
pub mod priority_admission;
pub mod protobuf;
pub mod registry;
pub mod serve;
mod server;
pub mod service_alloc;
pub mod standalone;
pub mod strategy;
pub mod table;
pub mod testing;
pub mod tls;
pub mod watch_cache;

pub use in_process::{InProcessClient, RouterClient};
pub use server::{ApiServer, ApiServerConfig, ServedResource, WeakApiServer};
