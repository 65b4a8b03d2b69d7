//! CustomResourceDefinitions: creating an `apiextensions.k8s.io/v1`
//! CustomResourceDefinition serves its custom resources at once (every served
//! version, namespaced or cluster-scoped, with `status` and `scale` subresources,
//! structural-schema validation, pruning and defaulting, printer columns), and
//! deleting it deletes their objects and stops serving them.
//!
//! ```
//! use serde_json::json;
//! use skiff_api::crd::{served_versions, validate_crd};
//!
//! let crd = json!({
//!     "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
//!     "metadata": {"name": "widgets.example.com"},
//!     "spec": {"group": "example.com", "scope": "Namespaced",
//!         "names": {"plural": "widgets", "kind": "Widget"},
//!         "versions": [{"name": "v1", "served": true, "storage": true,
//!             "schema": {"openAPIV3Schema": {"type": "object"}}}]},
//! });
//! assert!(validate_crd(&crd).is_empty());
//! let versions = served_versions(&crd).unwrap();
//! assert_eq!(versions[0].resource.api_version(), "example.com/v1");
//! ```
//!
//! # Organization
//! - [`definition`](served_versions): what a CRD serves ([`CustomResourceVersion`]).
//! - [`validate_crd`]: validation of CRD objects (`structural.rs`: the schema rules).
//! - [`schema`]: validation, pruning and defaulting of custom objects (pure functions).
//! - [`DefinitionStrategy`] / [`CustomResourceStrategy`]: the registry strategies of
//!   CRDs and of custom objects.
//! - [`jsonpath`]: the simple JSONPaths of printer columns and scale paths.
//! - `controller.rs`: reconciles CRD objects into served resources ([`start`]);
//!   `status.rs`: the conditions and names it reports.
//! - `openapi.rs`: the OpenAPI v3 schema of a custom resource ([`openapi_schema`]).

mod controller;
mod definition;
pub mod jsonpath;
mod openapi;
pub mod schema;
mod status;
mod strategy;
mod structural;
mod validation;

pub use controller::{start, CRD_GROUP};
pub use definition::{
    accepted_names, decode, served_versions, CustomResourceVersion, PrinterColumn, ScalePaths,
    CLEANUP_FINALIZER,
};
pub use openapi::openapi_schema;
pub use strategy::{CustomResourceStrategy, DefinitionStrategy};
pub use validation::{validate_crd, validate_crd_update};

/// What can go wrong reading a CRD.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// The object does not decode as a CustomResourceDefinition.
    #[error("{0}")]
    Decode(String),
    /// No version is marked as the storage version.
    #[error("no version of the CustomResourceDefinition is marked as storage version")]
    NoStorageVersion,
    /// A JSONPath the server cannot evaluate.
    #[error("unsupported JSONPath {0:?}")]
    JsonPath(String),
}
