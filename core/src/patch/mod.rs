//! The three patch types of `PATCH` requests, applied to objects as `serde_json::Value`:
//!
//! - [`apply_json_patch`]: RFC 6902 JSON patch (`application/json-patch+json`), atomic.
//! - [`apply_merge_patch`]: RFC 7386 JSON merge patch (`application/merge-patch+json`).
//! - [`apply_strategic_merge_patch`]: Kubernetes' strategic merge patch
//!   (`application/strategic-merge-patch+json`) for built-in kinds: lists with a merge
//!   key (containers by `name`, ports by `containerPort`, conditions by `type`, ...) are
//!   merged item by item, other lists replaced, `null` deletes, and the directives
//!   `$patch`, `$setElementOrder/…`, `$retainKeys` and `$deleteFromPrimitiveList/…` are
//!   honoured. [`schema`] holds the table of merge keys.
//!
//! Errors are [`ApiError`]s as the API server returns them: `BadRequest` for a patch
//! that is not well formed, 422 `Invalid` for one that cannot be applied (a JSON patch
//! `test` that fails, a path that does not exist).
//!
//! ```
//! use serde_json::json;
//! use skiff_core::patch::apply_strategic_merge_patch;
//! use skiff_core::resource::GroupVersionKind;
//!
//! let live = json!({"spec": {"containers": [
//!     {"name": "web", "image": "nginx:1"},
//!     {"name": "sidecar", "image": "envoy"},
//! ]}});
//! let patch = json!({"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}});
//! let pod = GroupVersionKind::new("", "v1", "Pod");
//! let patched = apply_strategic_merge_patch(&live, &patch, &pod).unwrap();
//! assert_eq!(patched["spec"]["containers"][0]["image"], "nginx:2");
//! assert_eq!(patched["spec"]["containers"][1]["name"], "sidecar");
//! ```

pub mod schema;
mod strategic;

use serde_json::Value;

use crate::resource::GroupVersionKind;
use crate::status::ApiError;

pub use schema::{builtin_schema, BuiltinSchema, FieldPatch, ListMerge, PatchSchema};
pub use strategic::apply_strategic_merge_patch_with;

/// Applies an RFC 6902 JSON patch (an array of operations). All operations apply or
/// none: a failing operation leaves no partial result. A patch that is not an array of
/// operations is `BadRequest`; one that cannot be applied is 422 `Invalid`.
pub fn apply_json_patch(document: &Value, patch: &Value) -> Result<Value, ApiError> {
    let operations: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
    let mut patched = document.clone();
    json_patch::patch(&mut patched, &operations)
        .map_err(|e| ApiError::new(422, "Invalid", e.to_string()))?;
    Ok(patched)
}

/// Applies an RFC 7386 JSON merge patch: objects merge recursively, `null` deletes,
/// anything else (lists included) replaces.
pub fn apply_merge_patch(document: &Value, patch: &Value) -> Result<Value, ApiError> {
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "invalid merge patch: the patch must be a JSON object",
        ));
    }
    let mut patched = document.clone();
    json_patch::merge(&mut patched, patch);
    Ok(patched)
}

/// Applies a strategic merge patch to an object of a built-in kind, using the merge
/// keys of that kind's fields. Kinds without a schema (custom resources) are merged
/// with no merge keys: every list is replaced, as a JSON merge patch would, but the
/// directives are still honoured. (Kubernetes refuses strategic merge patches for
/// custom resources with 415; callers decide with [`supports_strategic_merge_patch`].)
pub fn apply_strategic_merge_patch(
    document: &Value,
    patch: &Value,
    gvk: &GroupVersionKind,
) -> Result<Value, ApiError> {
    let schema = builtin_schema();
    let root = schema.root(&gvk.group, &gvk.kind);
    apply_strategic_merge_patch_with(document, patch, schema, root)
}

/// Whether Kubernetes accepts strategic merge patches for this kind: the built-in
/// kinds do, custom resources do not.
pub fn supports_strategic_merge_patch(gvk: &GroupVersionKind) -> bool {
    builtin_schema().root(&gvk.group, &gvk.kind).is_some()
}

#[cfg(test)]
mod tests;
