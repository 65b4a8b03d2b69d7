//! # skiff-api — the API server
//!
//! The only door to the cluster: the Kubernetes REST API (resources, watch, discovery,
//! OpenAPI) over a [`skiff-store`] `KvStore`.
//!
//! **Status:** not implemented yet; this crate is a placeholder in the workspace layout.

pub mod auth;
pub mod discovery;
pub mod kubeconfig;
pub mod serve;
pub mod tls;
