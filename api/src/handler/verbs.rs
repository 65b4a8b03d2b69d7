//! The verbs on objects and collections: get, list, create, update, delete,
//! deletecollection.

use axum::response::Response;
use http::StatusCode;
use serde_json::Value;
use skiff_core::status::{success_status, ApiError, StatusDetails};

use super::response::{self, Reply, ReplyBody};
use super::{RequestBody, RequestContext};
use crate::registry::{
    meta, DeleteOptions, DeleteOutcome, ListOptions, ObjectFilter, UpdateTarget, WriteOptions,
};

impl RequestContext {
    /// The object name from the path (verbs on objects only reach here with one).
    pub fn object_name(&self) -> Result<&str, ApiError> {
        self.name.as_deref().ok_or_else(super::path::not_found)
    }

    /// The write options of the query.
    pub fn write_options(&self) -> WriteOptions {
        WriteOptions {
            dry_run: self.params.dry_run,
            field_manager: self.field_manager(),
            managed_fields_set: false,
            object_unused: false,
            shape_known: false,
        }
    }

    /// The manager of a write: `fieldManager`, else derived from the User-Agent as
    /// Kubernetes does; `None` when neither names one.
    pub fn field_manager(&self) -> Option<String> {
        self.params.field_manager.clone().or_else(|| {
            let agent = self
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            Some(crate::managed_fields::manager_from_user_agent(agent)).filter(|m| !m.is_empty())
        })
    }

    /// The label and field selectors of the query.
    pub fn filter(&self) -> Result<ObjectFilter, ApiError> {
        ObjectFilter::parse(
            self.params.label_selector.as_deref(),
            self.params.field_selector.as_deref(),
            self.served.registry.strategy().as_ref(),
        )
    }

    /// The list options of the query.
    pub fn list_options(&self) -> Result<ListOptions, ApiError> {
        Ok(ListOptions {
            filter: self.filter()?,
            limit: self.params.limit,
            continue_token: self.params.continue_token.clone(),
            resource_version: self.params.resource_version.clone(),
            resource_version_match: self.params.resource_version_match.clone(),
        })
    }

    /// Applies `fieldValidation` to an object a request writes: 400 BadRequest for
    /// unknown fields under `Strict`; under `Warn` (the default) and `Ignore` they are
    /// dropped from `obj`, and `Warn` returns a warning for each.
    pub fn field_validation(&self, obj: &mut Value) -> Result<Vec<String>, ApiError> {
        self.field_validation_shape(obj)
            .map(|(warnings, _)| warnings)
    }

    /// [`field_validation`](Self::field_validation), also saying whether `obj` was
    /// decoded into its kind's type on the way (then validation need not again).
    pub fn field_validation_shape(&self, obj: &mut Value) -> Result<(Vec<String>, bool), ApiError> {
        let mode = self.params.field_validation.as_deref().unwrap_or("Warn");
        let pruned = self.served.registry.strategy().prune_unknown_fields(obj);
        let decoded = pruned.is_some();
        let unknown: Vec<String> = pruned
            .unwrap_or_default()
            .iter()
            .map(|f| format!("unknown field {f:?}"))
            .collect();
        if mode == "Ignore" {
            return Ok((Vec::new(), decoded));
        }
        if unknown.is_empty() || mode != "Strict" {
            return Ok((unknown, decoded));
        }
        let kind = &self.served.resource.kind;
        Err(ApiError::bad_request(format!(
            "{kind} in version {:?} cannot be handled as a {kind}: strict decoding error: {}",
            self.served.resource.version,
            unknown.join(", ")
        )))
    }

    /// A 200/201 response of `obj`, through the response transform when the client
    /// asks for another representation.
    pub fn respond(&self, status: StatusCode, obj: &Value) -> Result<Response, ApiError> {
        if let Some(transform) = &self.server.config().response_transform {
            if let Some(result) = transform.transform_served(&self.served, &self.accept, obj) {
                let (body, content_type) = result?;
                return Ok(response::json_bytes(
                    status,
                    serde_json::to_vec(&body).unwrap_or_default(),
                    &content_type,
                ));
            }
        }
        Ok(response::json(status, obj))
    }
}

/// GET of one object.
pub async fn get(ctx: &RequestContext) -> Result<Reply, ApiError> {
    let obj = ctx
        .served
        .registry
        .get(ctx.namespace.as_deref(), ctx.object_name()?)
        .await?;
    Ok(Reply::object(obj))
}

/// GET of a collection: from the watch cache when it can serve it (see
/// [`cached_list`](super::cached_list)), else from the store.
pub async fn list(ctx: &RequestContext) -> Result<Reply, ApiError> {
    if ctx.params.send_initial_events.is_some() {
        return Err(ApiError::bad_request(
            "sendInitialEvents is forbidden for list",
        ));
    }
    let opts = ctx.list_options()?;
    if let Some(page) = super::cached_list::serve(ctx, &opts).await? {
        return Ok(Reply::new(StatusCode::OK, ReplyBody::CachedList(page)));
    }
    let list = ctx
        .served
        .registry
        .list(ctx.namespace.as_deref(), &opts)
        .await?;
    Ok(Reply::object(list))
}

/// POST to a collection.
pub async fn create(ctx: &RequestContext, body: RequestBody) -> Result<Reply, ApiError> {
    let mut obj = ctx.object_body(body).await?;
    let (warnings, shape_known) = ctx.field_validation_shape(&mut obj)?;
    let opts = WriteOptions {
        shape_known,
        ..ctx.write_options()
    };
    let created = ctx
        .served
        .registry
        .create(ctx.namespace.as_deref(), obj, &opts)
        .await?;
    Ok(Reply::object(created)
        .with_status(StatusCode::CREATED)
        .with_warnings(warnings))
}

/// PUT of an object, or of its status (`target`).
pub async fn update(
    ctx: &RequestContext,
    body: RequestBody,
    target: UpdateTarget,
) -> Result<Reply, ApiError> {
    let mut obj = ctx.object_body(body).await?;
    let (warnings, shape_known) = ctx.field_validation_shape(&mut obj)?;
    let opts = WriteOptions {
        shape_known,
        ..ctx.write_options()
    };
    let updated = ctx
        .served
        .registry
        .replace(
            ctx.namespace.as_deref(),
            ctx.object_name()?,
            obj,
            target,
            &opts,
        )
        .await?;
    Ok(Reply::object(updated).with_warnings(warnings))
}

/// Reads a `DeleteOptions` object into `opts`.
pub(crate) fn apply_delete_options(
    opts: &mut DeleteOptions,
    value: &Value,
) -> Result<(), ApiError> {
    let bad = |f: &str| ApiError::bad_request(format!("DeleteOptions: invalid {f}"));
    if let Some(g) = value.get("gracePeriodSeconds").filter(|v| !v.is_null()) {
        opts.grace_period_seconds = Some(g.as_i64().ok_or_else(|| bad("gracePeriodSeconds"))?);
    }
    if let Some(p) = value.get("propagationPolicy").filter(|v| !v.is_null()) {
        opts.propagation_policy = Some(
            p.as_str()
                .ok_or_else(|| bad("propagationPolicy"))?
                .to_owned(),
        );
    }
    if let Some(o) = value.get("orphanDependents").and_then(Value::as_bool) {
        if opts.propagation_policy.is_none() {
            opts.propagation_policy = Some(if o { "Orphan" } else { "Background" }.to_owned());
        }
    }
    if let Some(d) = value.get("dryRun").and_then(Value::as_array) {
        opts.dry_run |= d.iter().any(|v| v == "All");
    }
    if let Some(p) = value.get("preconditions") {
        opts.precondition_uid = p.get("uid").and_then(Value::as_str).map(str::to_owned);
        opts.precondition_resource_version = p
            .get("resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    Ok(())
}

/// DELETE of an object: the object while it terminates (finalizers, grace period);
/// once gone, the object for pods and a `Status` Success for other kinds, as Kubernetes
/// answers.
pub async fn delete(ctx: &RequestContext, body: RequestBody) -> Result<Reply, ApiError> {
    let opts = ctx.delete_options(body).await?;
    let registry = &ctx.served.registry;
    let outcome = registry
        .delete(ctx.namespace.as_deref(), ctx.object_name()?, &opts)
        .await?;
    let resource = &ctx.served.resource;
    Ok(Reply::plain(match outcome {
        DeleteOutcome::Pending(obj) => obj,
        DeleteOutcome::Deleted(obj) if resource.group.is_empty() && resource.kind == "Pod" => obj,
        DeleteOutcome::Deleted(obj) => success_status(Some(StatusDetails {
            name: meta::name(&obj).to_owned(),
            group: resource.group.clone(),
            kind: resource.plural.clone(),
            uid: meta::meta_str(&obj, "uid").to_owned(),
            ..Default::default()
        })),
    }))
}

/// DELETE of a collection: deletes what the selectors select; answers with the list
/// of objects deleted or now terminating.
pub async fn delete_collection(ctx: &RequestContext, body: RequestBody) -> Result<Reply, ApiError> {
    let opts = ctx.delete_options(body).await?;
    let list = ctx
        .served
        .registry
        .delete_collection(ctx.namespace.as_deref(), &ctx.list_options()?, &opts)
        .await?;
    Ok(Reply::plain(list))
}
