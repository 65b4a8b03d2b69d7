//! PATCH: JSON patch (RFC 6902), merge patch (RFC 7386) and strategic merge patch,
//! applied inside the registry's read-modify-write so concurrent writers retry.

use axum::body::Body;
use axum::response::Response;
use http::StatusCode;
use serde_json::Value;
use skiff_core::patch::{
    apply_json_patch, apply_merge_patch, apply_strategic_merge_patch,
    supports_strategic_merge_patch,
};
use skiff_core::resource::GroupVersionKind;
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
    /// `application/strategic-merge-patch+json` (built-in kinds only).
    StrategicMerge,
}

/// The media types PATCH accepts now (server-side apply's
/// `application/apply-patch+yaml` is not served yet: 415).
pub const PATCH_TYPES: [&str; 3] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

impl PatchType {
    /// The patch type of a content type for objects of `gvk`; 415 for others
    /// (including `application/apply-patch+yaml`, and strategic merge patches of kinds
    /// without merge keys, as Kubernetes answers for custom resources).
    pub fn from_content_type(content_type: &str, gvk: &GroupVersionKind) -> Result<Self, ApiError> {
        match content_type {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" if supports_strategic_merge_patch(gvk) => {
                Ok(PatchType::StrategicMerge)
            }
            other => Err(ApiError::unsupported_media_type(other, &PATCH_TYPES)),
        }
    }
}

/// Applies a patch document to `current` (an object of `gvk`); 400 for a malformed
/// patch, 422 when it cannot be applied.
pub fn apply(
    patch_type: PatchType,
    current: &Value,
    patch: &Value,
    gvk: &GroupVersionKind,
) -> Result<Value, ApiError> {
    match patch_type {
        PatchType::Json => apply_json_patch(current, patch),
        PatchType::Merge => apply_merge_patch(current, patch),
        PatchType::StrategicMerge => apply_strategic_merge_patch(current, patch, gvk),
    }
}

/// Reads and decodes a PATCH body.
pub async fn patch_body(ctx: &RequestContext, body: Body) -> Result<(PatchType, Value), ApiError> {
    let gvk = ctx.served.resource.gvk();
    let patch_type = PatchType::from_content_type(&body::content_type(&ctx.headers), &gvk)?;
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
    let gvk = ctx.served.resource.gvk();
    ctx.served
        .registry
        .update_with(
            ctx.namespace.as_deref(),
            &name,
            target,
            &ctx.write_options(),
            |current| {
                let patched = apply(patch_type, current, &patch, &gvk)?;
                ctx.check_unknown_fields(&patched)?;
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
    fn patch_types() {
        let pod = GroupVersionKind::new("", "v1", "Pod");
        let widget = GroupVersionKind::new("example.com", "v1", "Widget");
        let doc = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let smp =
            PatchType::from_content_type("application/strategic-merge-patch+json", &pod).unwrap();
        let patched = apply(
            smp,
            &doc,
            &json!({"spec": {"containers": [{"name": "b", "image": "z"}]}}),
            &pod,
        )
        .unwrap();
        assert_eq!(
            patched["spec"]["containers"][0]["image"], "x",
            "merged by name, not replaced"
        );
        assert_eq!(patched["spec"]["containers"][1]["image"], "z");
        let merged = apply(
            PatchType::Merge,
            &doc,
            &json!({"spec": {"containers": []}}),
            &pod,
        )
        .unwrap();
        assert_eq!(merged["spec"]["containers"], json!([]));
        assert_eq!(
            PatchType::from_content_type("application/strategic-merge-patch+json", &widget)
                .unwrap_err()
                .code,
            415
        );
        assert_eq!(
            PatchType::from_content_type("application/apply-patch+yaml", &pod)
                .unwrap_err()
                .code,
            415
        );
    }
}
