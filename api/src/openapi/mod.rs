//! OpenAPI v3: `GET /openapi/v3` (the index of group-versions) and
//! `GET /openapi/v3/api/v1`, `GET /openapi/v3/apis/{group}/{version}` (one document per
//! group-version), generated from the k8s-openapi types through their `schemars`
//! implementations.
//!
//! What kubectl needs from them, and what the documents hold:
//! - `components.schemas`: every type reachable from the group-version's kinds, in
//!   OpenAPI 3.0 form (`$ref` siblings moved into `allOf`, as Kubernetes does); each
//!   top-level kind carries `x-kubernetes-group-version-kind` (the array form), which
//!   `kubectl explain` looks up.
//! - `paths`: the collection, object and subresource paths, each operation with a
//!   single-object `x-kubernetes-group-version-kind`, and a `fieldValidation` query
//!   parameter on writes: kubectl checks the PATCH operation for it to decide that the
//!   server validates fields, and then sends `fieldValidation=Strict` instead of
//!   validating on its own.
//! - PATCH request bodies list JSON patch, merge patch and apply patch, but not
//!   strategic merge patch: the schemas lack the `x-kubernetes-patch-*` extensions, so
//!   kubectl must keep using its compiled-in patch metadata.
//!
//! Custom resources get their CRD's `openAPIV3Schema` (with `apiVersion`, `kind` and
//! `metadata` added), so `kubectl explain` works on them; other resources without a
//! k8s-openapi type get an object schema that accepts any fields
//! (`x-kubernetes-preserve-unknown-fields`).

mod document;
mod routes;
mod types;

pub use document::{
    group_version_document, group_version_document_with, group_version_path, index_document,
};
pub use routes::{router, OpenApiCache};
