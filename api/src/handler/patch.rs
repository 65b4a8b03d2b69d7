//! PATCH: JSON patch (RFC 6902), merge patch (RFC 7386) and strategic merge patch,
//! applied inside the registry's read-modify-write so concurrent writers retry.

use axum::body::Body;
use axum::response::Response;
use http::StatusCode;
use serde_json::Value;
use skiff_core::status::ApiError;

use super::{body, RequestContext};
use crate::registry::{meta, UpdateTarget};

/// The patch types and their media types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
}

/// The media types PATCH accepts now.
pub const PATCH_TYPES: [&str; 2] = [
    "application/json-patch+json",
    "application/merge-patch+json",
];

impl PatchType {
    /// The patch type of a content type; 415 for others (including
    /// `application/apply-patch+yaml` and strategic merge patch, not served yet).
    pub fn from_content_type(content_type: &str) -> Result<Self, ApiError> {
        match content_type {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            other => Err(ApiError::unsupported_media_type(other, &PATCH_TYPES)),
        }
    }
}

/// Applies a patch document to `current`; 422 when the patch cannot be applied.
pub fn apply(patch_type: PatchType, current: &Value, patch: &Value) -> Result<Value, ApiError> {
    let mut doc = current.clone();
    match patch_type {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the JSON patch could not be applied: {e}"),
                )
            })?;
        }
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            json_patch::merge(&mut doc, patch);
        }
    }
    Ok(doc)
}

/// Reads and decodes a PATCH body.
pub async fn patch_body(ctx: &RequestContext, body: Body) -> Result<(PatchType, Value), ApiError> {
    let patch_type = PatchType::from_content_type(&body::content_type(&ctx.headers))?;
    let bytes = body::read(body, ctx.server.config().max_body_bytes).await?;
    Ok((patch_type, body::decode_json(&bytes)?))
}

/// Patches the object or its status. A `metadata.resourceVersion` the patch sets is a
/// precondition (409 when stale), as in Kubernetes.
pub async fn patch_object(
    ctx: &RequestContext,
    target: UpdateTarget,
    patch_type: PatchType,
    patch: Value,
) -> Result<Value, ApiError> {
    let name = ctx.object_name()?.to_owned();
    let qualified = ctx.served.registry.qualified();
    ctx.served
        .registry
        .update_with(
            ctx.namespace.as_deref(),
            &name,
            target,
            &ctx.write_options(),
            |current| {
                let patched = apply(patch_type, current, &patch)?;
                if meta::meta_str(&patched, "resourceVersion")
                    != meta::meta_str(current, "resourceVersion")
                {
                    return Err(ApiError::conflict(
                        &qualified,
                        &name,
                        ApiError::OPTIMISTIC_LOCK_MESSAGE,
                    ));
                }
                if meta::name(&patched) != name {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({}) does not match the name on the URL ({name})",
                        meta::name(&patched)
                    )));
                }
                Ok(patched)
            },
        )
        .await
}

/// PATCH of an object.
pub async fn patch(ctx: &RequestContext, body: Body) -> Result<Response, ApiError> {
    let (patch_type, patch) = patch_body(ctx, body).await?;
    let patched = patch_object(ctx, UpdateTarget::Main, patch_type, patch).await?;
    ctx.respond(StatusCode::OK, &patched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_and_merge_patches() {
        let doc = json!({"spec": {"replicas": 1, "paused": true}});
        let merged = apply(
            PatchType::Merge,
            &doc,
            &json!({"spec": {"replicas": 3, "paused": null}}),
        )
        .unwrap();
        assert_eq!(merged, json!({"spec": {"replicas": 3}}));
        let patched = apply(
            PatchType::Json,
            &doc,
            &json!([{"op": "replace", "path": "/spec/replicas", "value": 5}]),
        )
        .unwrap();
        assert_eq!(patched["spec"]["replicas"], 5);
        let failed = apply(
            PatchType::Json,
            &doc,
            &json!([{"op": "test", "path": "/spec/replicas", "value": 9}]),
        );
        assert_eq!(failed.unwrap_err().code, 422);
        assert_eq!(
            PatchType::from_content_type("application/apply-patch+yaml")
                .unwrap_err()
                .code,
            415
        );
    }
}
