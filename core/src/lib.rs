//! # skiff-core — the API machinery every Skiff component shares
//!
//! This crate holds what every component needs to speak the Kubernetes API, with no
//! I/O of its own:
//!
//! - [`client`]: the [`client::Client`] trait every component reaches the cluster
//!   through, its verb options and typed [`client::Api`].
//! - [`resource`]: the resource descriptor table (group, version, kind, plural, short
//!   names, categories, verbs, subresources) and group/version/kind names.
//! - [`status`]: [`status::ApiError`], the errors the API returns as a meta/v1 `Status`.
//! - [`patch`]: JSON patch, JSON merge patch and strategic merge patch on JSON values.
//! - [`quantity`]: resource quantities (`100m`, `1Gi`) with exact arithmetic.
//! - [`selector`]: label and field selectors (parse, print, match).
//! - [`validation`]: Kubernetes' name and label checks (qualified names, DNS names).
//! - [`runtime`]: the controller runtime (watcher, reflector, work queue, `Controller`,
//!   leader election, event recorder), in the style of kube-runtime.
//!
//! The Kubernetes API types come from `k8s-openapi`; this crate does not choose its
//! version feature (the final binary does).
//!
//! The client's implementations: [`client::ServiceClient`] over any tower HTTP service,
//! over HTTPS from a kubeconfig with the `https` feature (`client::https`), in-process
//! in skiff-api (`ApiServer::client`); every one passes the suite of the `conformance`
//! feature (`client::conformance`).
//!
//! ```
//! let pods = skiff_core::resource::builtin_resources()
//!     .into_iter()
//!     .find(|r| r.plural == "pods")
//!     .unwrap();
//! let err = skiff_core::status::ApiError::not_found(&pods.qualified_resource(), "web");
//! assert_eq!(err.code, 404);
//! assert_eq!(err.to_string(), "pods \"web\" not found");
//! ```

pub mod client;
pub mod patch;
pub mod quantity;
pub mod resource;
pub mod runtime;
pub mod selector;
pub mod status;
pub mod validation;
