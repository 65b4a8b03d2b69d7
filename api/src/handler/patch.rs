//! PATCH: JSON patch (RFC 6902), merge patch (RFC 7386), strategic merge patch and
//! server-side apply, applied inside the registry's read-modify-write so concurrent
//! writers retry.

use http::StatusCode;
use serde_json::Value;
use skiff_core::patch::{
    apply_json_patch, apply_merge_patch, apply_strategic_merge_patch,
    supports_strategic_merge_patch,
};
use skiff_core::resource::GroupVersionKind;
use skiff_core::status::ApiError;

use super::response::Reply;
use super::{RequestBody, RequestContext};
use crate::managed_fields;
use crate::registry::{meta, UpdateTarget, WriteOptions};

/// The patch types and their media types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json` (built-in kinds only).
    StrategicMerge,
    /// `application/apply-patch+yaml`: server-side apply (the body is YAML or JSON).
    Apply,
}

/// The media types PATCH accepts.
pub const PATCH_TYPES: [&str; 4] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

impl PatchType {
    /// The patch type of a content type for objects of `gvk`; 415 for others
    /// (including strategic merge patches of kinds without merge keys, as Kubernetes
    /// answers for custom resources).
    pub fn from_content_type(content_type: &str, gvk: &GroupVersionKind) -> Result<Self, ApiError> {
        match content_type {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" if supports_strategic_merge_patch(gvk) => {
                Ok(PatchType::StrategicMerge)
            }
            "application/apply-patch+yaml" => Ok(PatchType::Apply),
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
        PatchType::Apply => Err(ApiError::unsupported_media_type(
            "application/apply-patch+yaml",
            &PATCH_TYPES[..3],
        )),
    }
}

/// Patches the object or its status. A `metadata.resourceVersion` the patch sets is a
/// precondition (409 when stale), as in Kubernetes. Returns the `fieldValidation`
/// warnings with the object.
pub async fn patch_object(
    ctx: &RequestContext,
    target: UpdateTarget,
    patch_type: PatchType,
    patch: Value,
) -> Result<(Value, Vec<String>), ApiError> {
    let name = ctx.object_name()?.to_owned();
    let qualified = ctx.served.registry.qualified();
    let gvk = ctx.served.resource.gvk();
    let mut warnings = Vec::new();
    let patched = ctx
        .served
        .registry
        .update_with(
            ctx.namespace.as_deref(),
            &name,
            target,
            &ctx.write_options(),
            |current| {
                let patched = apply(patch_type, current, &patch, &gvk)?;
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
                let mut patched = patched;
                warnings = ctx.field_validation(&mut patched)?;
                Ok(patched)
            },
        )
        .await?;
    Ok((patched, warnings))
}

/// PATCH of an object.
pub async fn patch(ctx: &RequestContext, body: RequestBody) -> Result<Reply, ApiError> {
    let (patch_type, patch) = ctx.patch_body(body).await?;
    if patch_type == PatchType::Apply {
        return server_side_apply(ctx, patch).await;
    }
    if ctx.params.force {
        return Err(ApiError::bad_request(
            "force flag can only be used with Apply patch",
        ));
    }
    let (patched, warnings) = patch_object(ctx, UpdateTarget::Main, patch_type, patch).await?;
    Ok(Reply::object(patched).with_warnings(warnings))
}

/// What a server-side apply writes to: the object itself (created when missing), its
/// `status`, or its `scale` (whose `spec.replicas` is applied to the object's replicas
/// field, owned in managedFields with subresource `scale`, as Kubernetes records it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyTarget {
    /// The object; a missing object is created.
    Object,
    /// `/status`; 404 when the object does not exist.
    Status,
    /// `/scale`; 404 when the object does not exist.
    Scale,
}

impl ApplyTarget {
    fn update_target(self) -> UpdateTarget {
        match self {
            ApplyTarget::Status => UpdateTarget::Status,
            ApplyTarget::Object | ApplyTarget::Scale => UpdateTarget::Main,
        }
    }

    fn subresource(self) -> &'static str {
        match self {
            ApplyTarget::Object => "",
            ApplyTarget::Status => "status",
            ApplyTarget::Scale => "scale",
        }
    }
}

/// Server-side apply: merges the configuration into the object with field ownership,
/// or creates the object (201) when it does not exist.
async fn server_side_apply(ctx: &RequestContext, config: Value) -> Result<Reply, ApiError> {
    let (code, obj, warnings) = apply_config(ctx, config, ApplyTarget::Object).await?;
    Ok(Reply::object(obj).with_status(code).with_warnings(warnings))
}

/// Applies `config` (an object of the resource's kind, possibly without its name) to
/// `target`; returns 200 or 201 (created), the stored object and the
/// `fieldValidation` warnings.
pub async fn apply_config(
    ctx: &RequestContext,
    mut config: Value,
    target: ApplyTarget,
) -> Result<(StatusCode, Value, Vec<String>), ApiError> {
    let name = ctx.object_name()?.to_owned();
    let Some(manager) = ctx.params.field_manager.clone() else {
        return Err(ApiError::bad_request(
            "PATCH requests with the apply patch type require a fieldManager",
        ));
    };
    if !config.is_object() {
        return Err(ApiError::bad_request(
            "the body of an apply request must be an object",
        ));
    }
    match meta::name(&config) {
        "" => meta::set_meta_str(&mut config, "name", &name),
        n if n != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )))
        }
        _ => {}
    }
    let registry = &ctx.served.registry;
    let api_version = ctx.served.resource.api_version();
    let update_target = target.update_target();
    let request = managed_fields::ApplyRequest {
        manager: &manager,
        api_version: &api_version,
        force: ctx.params.force,
        scope: registry.field_scope(update_target),
        subresource: target.subresource(),
    };
    let opts = WriteOptions {
        dry_run: ctx.params.dry_run,
        field_manager: Some(manager.clone()),
        managed_fields_set: true,
        object_unused: false,
        shape_known: false,
    };
    let precondition = meta::meta_str(&config, "resourceVersion").to_owned();
    let qualified = registry.qualified();
    let mut warnings = Vec::new();
    // Create when missing; a create racing another writer retries as an update.
    for _ in 0..2 {
        let updated = registry
            .update_with(
                ctx.namespace.as_deref(),
                &name,
                update_target,
                &opts,
                |current| {
                    if !precondition.is_empty()
                        && precondition != meta::meta_str(current, "resourceVersion")
                    {
                        return Err(ApiError::conflict(
                            &qualified,
                            &name,
                            ApiError::OPTIMISTIC_LOCK_MESSAGE,
                        ));
                    }
                    let mut merged = managed_fields::apply(current, &config, &request)?;
                    warnings = ctx.field_validation(&mut merged)?;
                    Ok(merged)
                },
            )
            .await;
        match updated {
            Ok(obj) => return Ok((StatusCode::OK, obj, warnings)),
            Err(e) if e.code == 404 && precondition.is_empty() && target == ApplyTarget::Object => {
            }
            Err(e) => return Err(e),
        }
        let mut obj = managed_fields::apply(&Value::Null, &config, &request)?;
        meta::remove_meta(&mut obj, "resourceVersion");
        let warnings = ctx.field_validation(&mut obj)?;
        match registry.create(ctx.namespace.as_deref(), obj, &opts).await {
            Ok(created) => return Ok((StatusCode::CREATED, created, warnings)),
            Err(e) if e.is_already_exists() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(
        &qualified,
        &name,
        ApiError::OPTIMISTIC_LOCK_MESSAGE,
    ))
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
            PatchType::from_content_type("application/apply-patch+yaml", &widget).unwrap(),
            PatchType::Apply
        );
        assert_eq!(
            apply(PatchType::Apply, &doc, &json!({}), &pod)
                .unwrap_err()
                .code,
            415
        );
    }
}
