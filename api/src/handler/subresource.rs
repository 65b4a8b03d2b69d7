//! Subresources: `status`, `scale` (autoscaling/v1 Scale), pods' `binding` and
//! `eviction`, namespaces' `finalize`.

use http::{Method, StatusCode};
use serde_json::{json, Value};
use skiff_core::status::{success_status, ApiError};

use super::patch::{apply, apply_config, patch_object, ApplyTarget, PatchType};
use super::response::{Reply, ReplyBody};
use super::{RequestBody, RequestContext};
use crate::crd::{jsonpath, ScalePaths};
use crate::registry::{meta, UpdateTarget, WriteOptions};

/// Handles `{object}/{sub}`.
pub async fn handle(
    ctx: &RequestContext,
    sub: &str,
    method: &Method,
    body: RequestBody,
) -> Result<Reply, ApiError> {
    let qualified = format!("{}/{sub}", ctx.served.resource.qualified_resource());
    let unsupported =
        || ApiError::method_not_supported(&qualified, &method.as_str().to_ascii_lowercase());
    match (sub, method) {
        ("status", &Method::GET) => super::verbs::get(ctx).await,
        ("status", &Method::PUT) => super::verbs::update(ctx, body, UpdateTarget::Status).await,
        ("status", &Method::PATCH) => {
            let (patch_type, patch) = ctx.patch_body(body).await?;
            if patch_type == PatchType::Apply {
                let (code, obj, warnings) = apply_config(ctx, patch, ApplyTarget::Status).await?;
                return Ok(Reply::object(obj).with_status(code).with_warnings(warnings));
            }
            let (patched, warnings) =
                patch_object(ctx, UpdateTarget::Status, patch_type, patch).await?;
            Ok(Reply::object(patched).with_warnings(warnings))
        }
        ("scale", &Method::GET) => {
            let obj = ctx
                .served
                .registry
                .get(ctx.namespace.as_deref(), ctx.object_name()?)
                .await?;
            Ok(Reply::plain(scale_of(&obj, &scale_paths(ctx))))
        }
        ("scale", &Method::PUT) => {
            let scale = ctx.object_body(body).await?;
            let updated = write_scale(ctx, |_| Ok(scale.clone())).await?;
            Ok(Reply::plain(scale_of(&updated, &scale_paths(ctx))))
        }
        ("scale", &Method::PATCH) => {
            let (patch_type, patch) = ctx.patch_body(body).await?;
            if patch_type == PatchType::Apply {
                let config = scale_apply_config(ctx, &patch)?;
                let (_, obj, _) = apply_config(ctx, config, ApplyTarget::Scale).await?;
                return Ok(Reply::plain(scale_of(&obj, &scale_paths(ctx))));
            }
            // A Scale has no merge keys: every patch type applies as to a plain object.
            let scale_gvk =
                skiff_core::resource::GroupVersionKind::new("autoscaling", "v1", "Scale");
            let updated = write_scale(ctx, |current| {
                apply(patch_type, current, &patch, &scale_gvk)
            })
            .await?;
            Ok(Reply::plain(scale_of(&updated, &scale_paths(ctx))))
        }
        ("binding", &Method::POST) => bind(ctx, body).await,
        ("eviction", &Method::POST) => super::eviction::evict(ctx, body).await,
        ("finalize", &Method::PUT) if ctx.served.resource.kind == "Namespace" => {
            finalize(ctx, body).await
        }
        ("proxy", _) => Err(ApiError::service_unavailable(&format!(
            "{qualified} is not proxied to the node agent yet"
        ))),
        _ => Err(unsupported()),
    }
}

/// Where the resource's Scale reads and writes: the built-in workloads' paths, or a
/// custom resource's `subresources.scale`.
fn scale_paths(ctx: &RequestContext) -> ScalePaths {
    ctx.served
        .registry
        .strategy()
        .custom_resource()
        .and_then(|c| c.scale.clone())
        .unwrap_or_else(ScalePaths::builtin)
}

/// The autoscaling/v1 Scale of a workload, read at `paths`.
pub fn scale_of(obj: &Value, paths: &ScalePaths) -> Value {
    let at = |path: &str| jsonpath::lookup(obj, path).ok().flatten();
    let m = &obj["metadata"];
    let mut metadata = json!({});
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = m.get(f) {
            metadata[f] = v.clone();
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": at(&paths.spec_replicas).and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": at(&paths.status_replicas).and_then(Value::as_i64).unwrap_or(0),
            "selector": match paths.label_selector.as_deref().and_then(at) {
                Some(Value::String(s)) => s.clone(),
                other => selector_string(other),
            },
        },
    })
}

/// A label selector object in its string form (`app=web,tier in (a,b)`).
fn selector_string(selector: Option<&Value>) -> String {
    let Some(selector) = selector else {
        return String::new();
    };
    let mut terms: Vec<String> = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    for expr in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> = expr
            .get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        terms.push(match expr.get("operator").and_then(Value::as_str) {
            Some("In") => format!("{key} in ({})", values.join(",")),
            Some("NotIn") => format!("{key} notin ({})", values.join(",")),
            Some("Exists") => key.to_owned(),
            _ => format!("!{key}"),
        });
    }
    terms.join(",")
}

/// The object configuration an apply of the Scale `scale` stands for: the object's
/// kind and name with its replicas field (and the Scale's resourceVersion as a
/// precondition). 422 for negative or non-integer replicas.
fn scale_apply_config(ctx: &RequestContext, scale: &Value) -> Result<Value, ApiError> {
    let name = ctx.object_name()?;
    let paths = scale_paths(ctx);
    let replicas_path = replicas_field(&paths)?;
    let replicas_path: Vec<&str> = replicas_path.iter().map(String::as_str).collect();
    let resource = &ctx.served.resource;
    let mut config = json!({
        "apiVersion": resource.api_version(),
        "kind": resource.kind,
        "metadata": {"name": name},
    });
    let rv = meta::meta_str(scale, "resourceVersion");
    if !rv.is_empty() {
        meta::set_meta_str(&mut config, "resourceVersion", rv);
    }
    if let Some(replicas) = scale.pointer("/spec/replicas") {
        check_replicas(name, replicas)?;
        meta::set_path(&mut config, &replicas_path, replicas.clone())?;
    }
    Ok(config)
}

/// The field names of the object's replicas field (`spec.replicas`, or what a custom
/// resource's scale subresource names).
fn replicas_field(paths: &ScalePaths) -> Result<Vec<String>, ApiError> {
    jsonpath::field_names(&paths.spec_replicas).map_err(|e| ApiError::internal(&e.to_string()))
}

/// 422 unless `replicas` is an integer of at least 0.
fn check_replicas(name: &str, replicas: &Value) -> Result<(), ApiError> {
    if replicas.as_i64().is_some_and(|r| r >= 0) {
        return Ok(());
    }
    Err(ApiError::invalid(
        "Scale.autoscaling",
        name,
        vec![skiff_core::status::StatusCause::invalid_value(
            "spec.replicas",
            replicas,
            "must be greater than or equal to 0",
        )],
    ))
}

/// Writes `spec.replicas` from the Scale `desired` returns (given the current Scale);
/// a resourceVersion in it is a precondition.
async fn write_scale<F>(ctx: &RequestContext, mut desired: F) -> Result<Value, ApiError>
where
    F: FnMut(&Value) -> Result<Value, ApiError>,
{
    let name = ctx.object_name()?.to_owned();
    let qualified = ctx.served.registry.qualified();
    let paths = scale_paths(ctx);
    let replicas_path = replicas_field(&paths)?;
    let replicas_path: Vec<&str> = replicas_path.iter().map(String::as_str).collect();
    ctx.served
        .registry
        .update_with(
            ctx.namespace.as_deref(),
            &name,
            UpdateTarget::Main,
            &ctx.write_options(),
            |current| {
                let scale = desired(&scale_of(current, &paths))?;
                let rv = meta::meta_str(&scale, "resourceVersion");
                if !rv.is_empty() && rv != meta::meta_str(current, "resourceVersion") {
                    return Err(ApiError::conflict(
                        &qualified,
                        &name,
                        ApiError::OPTIMISTIC_LOCK_MESSAGE,
                    ));
                }
                let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
                check_replicas(&name, &replicas)?;
                let mut next = current.clone();
                meta::set_path(&mut next, &replicas_path, replicas)?;
                Ok(next)
            },
        )
        .await
}

/// POST pods/{name}/binding: sets `spec.nodeName` once (409 if already bound) and the
/// `PodScheduled` condition.
async fn bind(ctx: &RequestContext, body: RequestBody) -> Result<Reply, ApiError> {
    let binding = ctx.object_body(body).await?;
    let name = ctx.object_name()?.to_owned();
    let target = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "Binding",
                &name,
                vec![skiff_core::status::StatusCause::required("target.name")],
            )
        })?
        .to_owned();
    let given = meta::name(&binding);
    if !given.is_empty() && given != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({given}) does not match the name on the URL ({name})"
        )));
    }
    let qualified = ctx.served.registry.qualified();
    let key = ctx
        .served
        .registry
        .object_key(ctx.namespace.as_deref(), &name);
    // The answer is a Status, not the pod: the pod goes to the watch cache as stored.
    // The pod is built from the stored one: its shape needs no second decode.
    let opts = WriteOptions {
        object_unused: true,
        shape_known: true,
        ..ctx.write_options()
    };
    // The scheduler binds pods it has just seen: the cache's copy is most likely the
    // current one, which spares reading and decoding the stored pod.
    ctx.served
        .registry
        .update_from(
            ctx.namespace.as_deref(),
            &name,
            ctx.served.cache.current(&key),
            UpdateTarget::Internal,
            &opts,
            |pod| {
                let current = pod
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !current.is_empty() {
                    return Err(ApiError::conflict(
                        &qualified,
                        &name,
                        &format!("pod {name} is already assigned to node {current:?}"),
                    ));
                }
                if meta::is_terminating(pod) {
                    return Err(ApiError::conflict(
                        &qualified,
                        &name,
                        "pod is being deleted, cannot be assigned to a host",
                    ));
                }
                let mut next = pod.clone();
                meta::set_path(&mut next, &["spec", "nodeName"], json!(target))?;
                let status = next
                    .as_object_mut()
                    .map(|m| m.entry("status").or_insert_with(|| json!({})));
                if let Some(status) = status.and_then(Value::as_object_mut) {
                    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
                    if let Some(list) = conditions.as_array_mut() {
                        list.retain(|c| {
                            c.get("type").and_then(Value::as_str) != Some("PodScheduled")
                        });
                        list.push(json!({
                            "type": "PodScheduled",
                            "status": "True",
                            "lastProbeTime": null,
                            "lastTransitionTime": meta::now_timestamp(),
                        }));
                    }
                }
                Ok(next)
            },
        )
        .await?;
    Ok(Reply::new(
        StatusCode::CREATED,
        ReplyBody::Plain(success_status(None)),
    ))
}

/// PUT namespaces/{name}/finalize: replaces `spec.finalizers` (the namespace
/// controller's); a terminating namespace left with none is deleted.
async fn finalize(ctx: &RequestContext, body: RequestBody) -> Result<Reply, ApiError> {
    let ns = ctx.object_body(body).await?;
    let finalizers = ns.pointer("/spec/finalizers").cloned().unwrap_or(json!([]));
    let updated = ctx
        .served
        .registry
        .update_with(
            None,
            ctx.object_name()?,
            UpdateTarget::Internal,
            &ctx.write_options(),
            |current| {
                let mut next = current.clone();
                meta::set_path(&mut next, &["spec", "finalizers"], finalizers.clone())?;
                Ok(next)
            },
        )
        .await?;
    Ok(Reply::plain(updated))
}
