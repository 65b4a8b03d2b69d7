//! # skiff-core — the API machinery every Skiff component shares
//!
//! This crate holds what every component needs to speak the Kubernetes API, with no
//! I/O of its own:
//!
//! - [`resource`]: the resource descriptor table (group, version, kind, plural, short
//!   names, categories, verbs, subresources) and group/version/kind names.
//! - [`status`]: [`status::ApiError`], the errors the API returns as a meta/v1 `Status`.
//!
//! The Kubernetes API types come from `k8s-openapi`; this crate does not choose its
//! version feature (the final binary does).
//!
//! Still to come (the API server issue): selectors, patches, quantities, the client
//! trait and the controller runtime.
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

pub mod resource;
pub mod status;
