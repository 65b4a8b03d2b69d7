//! HTTP handling of resource requests: one generic handler for every resource,
//! built-in or custom.
//!
//! # Organization
//! - `path.rs`: the path after the group and version, parsed.
//! - `params.rs`: query parameters.
//! - `body.rs`: size limit, content types, JSON/YAML/protobuf decoding.
//! - `verbs.rs`: get, list, create, update, delete, deletecollection.
//! - `patch.rs`: JSON patch, merge patch, strategic merge patch, server-side apply.
//! - `subresource.rs`: status, scale, binding, eviction, finalize.
//! - `eviction.rs`: pods' `eviction`, honouring PodDisruptionBudgets.
//! - `watch.rs`: watch requests served from the watch cache (as Tables on request).
//! - `response.rs`: JSON and `Status` responses, [`ResponseTransform`].

mod body;
mod cached_list;
mod eviction;
mod params;
mod patch;
mod path;
mod response;
mod subresource;
mod verbs;
mod watch;

use axum::body::Body;
use axum::response::Response;
use http::{Method, Request};
use skiff_core::status::ApiError;

use crate::registry::UpdateTarget;
use crate::server::{ApiServer, ServedResource};

pub use body::MAX_BODY_BYTES;
pub use params::QueryParams;
pub use path::{parse as parse_path, ResourcePath};
pub use response::{ApiResponse, ResponseTransform};

/// Everything a verb needs about a request.
pub struct RequestContext {
    /// The server.
    pub server: ApiServer,
    /// The resource addressed.
    pub served: std::sync::Arc<ServedResource>,
    /// Namespace from the path.
    pub namespace: Option<String>,
    /// Object name from the path.
    pub name: Option<String>,
    /// Subresource from the path.
    pub subresource: Option<String>,
    /// Query parameters.
    pub params: QueryParams,
    /// Request headers.
    pub headers: http::HeaderMap,
    /// The `Accept` header ("" when absent).
    pub accept: String,
}

/// Handles one resource request under `/api/{version}/` (`group` empty) or
/// `/apis/{group}/{version}/`; every failure is a `Status` response.
pub async fn handle(
    server: ApiServer,
    group: String,
    version: String,
    rest: String,
    request: Request<Body>,
) -> Response {
    match dispatch(server, &group, &version, &rest, request).await {
        Ok(r) => r,
        Err(e) => response::error(&e),
    }
}

async fn dispatch(
    server: ApiServer,
    group: &str,
    version: &str,
    rest: &str,
    request: Request<Body>,
) -> Result<Response, ApiError> {
    if group == crate::metrics_api::GROUP {
        let method = request.method().clone();
        let query = request.uri().query().map(str::to_owned);
        drop(request);
        return crate::metrics_api::handle(&server, version, rest, &method, query.as_deref()).await;
    }
    let path = path::parse(rest)?;
    let served = server
        .find(group, version, &path.plural)
        .ok_or_else(path::not_found)?;
    let resource = &served.resource;
    if path.namespace.is_some() && !resource.namespaced {
        return Err(path::not_found());
    }
    if path.name.is_some() && resource.namespaced && path.namespace.is_none() {
        return Err(path::not_found());
    }
    let (parts, body) = request.into_parts();
    let params = QueryParams::parse(parts.uri.query())?;
    let accept = parts
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let ctx = RequestContext {
        server: server.clone(),
        served: served.clone(),
        namespace: path.namespace.clone(),
        name: path.name.clone(),
        subresource: path.subresource.clone(),
        params,
        headers: parts.headers.clone(),
        accept,
    };
    if let Some(sub) = path.subresource.as_deref() {
        if sub != "finalize" && resource.subresource(sub).is_none() {
            return Err(path::not_found());
        }
        if resource.group.is_empty()
            && resource.plural == "pods"
            && crate::node_proxy::is_streaming(sub)
        {
            let method = parts.method.clone();
            return crate::node_proxy::handle(&ctx, sub, &method, parts).await;
        }
        return subresource::handle(&ctx, sub, &parts.method, body).await;
    }
    let qualified = resource.qualified_resource();
    let verb = match (&parts.method, ctx.name.is_some()) {
        (&Method::GET, false) if ctx.params.watch => "watch",
        (&Method::GET, false) => "list",
        (&Method::GET, true) if ctx.params.watch => "watch",
        (&Method::GET, true) => "get",
        (&Method::POST, false) => "create",
        (&Method::PUT, true) => "update",
        (&Method::PATCH, true) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        (m, _) => {
            return Err(ApiError::method_not_supported(
                &qualified,
                &m.as_str().to_ascii_lowercase(),
            ))
        }
    };
    if !resource.supports(verb) {
        return Err(ApiError::method_not_supported(&qualified, verb));
    }
    match verb {
        "watch" => watch::watch(&ctx).await,
        "list" => verbs::list(&ctx).await,
        "get" => verbs::get(&ctx).await,
        "create" => verbs::create(&ctx, body).await,
        "update" => verbs::update(&ctx, body, UpdateTarget::Main).await,
        "patch" => patch::patch(&ctx, body).await,
        "delete" => verbs::delete(&ctx, body).await,
        _ => verbs::delete_collection(&ctx, body).await,
    }
}
