//! Resource requests: one generic handler for every resource, built-in or custom, with
//! one code path per verb whatever the transport.
//!
//! [`handle`] serves HTTP: it parses the path and query into a [`RequestContext`],
//! runs [`serve`] with the body as [`RequestBody::Http`] and writes the [`Reply`] as a
//! response. The in-process client (`ApiServer::client`) builds the same context from
//! its target and params and runs the same [`serve`] with values
//! ([`RequestBody::Value`], [`RequestBody::Patch`]), taking the [`Reply`]'s value as
//! it is: admission, defaulting, validation, `fieldValidation`, `dryRun`,
//! managedFields, subresources, deletes and lists are the verbs' code, not the
//! transport's.
//!
//! ```
//! use skiff_api::handler::{parse_path, QueryParams};
//! let path = parse_path("namespaces/default/pods/web/status").unwrap();
//! assert_eq!(path.subresource.as_deref(), Some("status"));
//! let params = QueryParams::from_pairs([("limit", "5"), ("labelSelector", "app=web")]).unwrap();
//! assert_eq!(params.limit, 5);
//! ```
//!
//! # Organization
//! - `path.rs`: the path after the group and version, parsed.
//! - `params.rs`: query parameters.
//! - `input.rs`: [`RequestBody`], decoded when a verb asks for it.
//! - `body.rs`: size limit, content types, JSON/YAML/protobuf decoding.
//! - `verbs.rs`: get, list, create, update, delete, deletecollection.
//! - `patch.rs`: JSON patch, merge patch, strategic merge patch, server-side apply.
//! - `subresource.rs`: status, scale, binding, eviction, finalize.
//! - `eviction.rs`: pods' `eviction`, honouring PodDisruptionBudgets.
//! - `watch.rs`: watch requests served from the watch cache (as Tables on request).
//! - `response.rs`: [`Reply`], JSON and `Status` responses, [`ResponseTransform`].

mod body;
mod cached_list;
mod eviction;
mod input;
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
pub use cached_list::CachedPage;
pub use input::RequestBody;
pub use params::QueryParams;
pub use patch::PatchType;
pub use path::{not_found, parse as parse_path, ResourcePath};
pub use response::{ApiResponse, Reply, ReplyBody, ResponseTransform};

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
    let (parts, body) = request.into_parts();
    let ctx =
        RequestContext::resolve(&server, group, version, path, parts.headers.clone(), || {
            QueryParams::parse(parts.uri.query())
        })?;
    if let Some(sub) = ctx.node_stream() {
        let method = parts.method.clone();
        return crate::node_proxy::handle(&ctx, sub, &method, parts).await;
    }
    serve(&ctx, &parts.method, RequestBody::Http(body))
        .await?
        .into_response(&ctx)
        .await
}

impl RequestContext {
    /// The context of a request for `path` under `group`/`version`: 404 for a
    /// resource this server does not serve, a namespace on a cluster-scoped resource,
    /// a namespaced object without its namespace, or a subresource the resource does
    /// not have; then the query parameters from `params` (400 when malformed).
    pub fn resolve(
        server: &ApiServer,
        group: &str,
        version: &str,
        path: ResourcePath,
        headers: http::HeaderMap,
        params: impl FnOnce() -> Result<QueryParams, ApiError>,
    ) -> Result<RequestContext, ApiError> {
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
        if let Some(sub) = path.subresource.as_deref() {
            if sub != "finalize" && resource.subresource(sub).is_none() {
                return Err(path::not_found());
            }
        }
        let params = params()?;
        let accept = headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        Ok(RequestContext {
            server: server.clone(),
            served,
            namespace: path.namespace,
            name: path.name,
            subresource: path.subresource,
            params,
            headers,
            accept,
        })
    }

    /// The subresource, when it is one of pods' streams served by the node agent
    /// (`log`, `exec`, `attach`, `portforward`), which only HTTP can carry.
    pub fn node_stream(&self) -> Option<&str> {
        let resource = &self.served.resource;
        self.subresource.as_deref().filter(|sub| {
            resource.group.is_empty()
                && resource.plural == "pods"
                && crate::node_proxy::is_streaming(sub)
        })
    }
}

/// Serves one request on a resolved context, whatever its transport: the verb named by
/// `method` (and, for GET, `watch` and the object name), or the subresource's. Node
/// agent streams are not served here ([`RequestContext::node_stream`]).
pub async fn serve(
    ctx: &RequestContext,
    method: &Method,
    body: RequestBody,
) -> Result<Reply, ApiError> {
    let resource = &ctx.served.resource;
    if let Some(sub) = ctx.subresource.as_deref() {
        return subresource::handle(ctx, sub, method, body).await;
    }
    let qualified = resource.qualified_resource();
    let verb = match (method, ctx.name.is_some()) {
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
        "watch" => watch::watch(ctx).await,
        "list" => verbs::list(ctx).await,
        "get" => verbs::get(ctx).await,
        "create" => verbs::create(ctx, body).await,
        "update" => verbs::update(ctx, body, UpdateTarget::Main).await,
        "patch" => patch::patch(ctx, body).await,
        "delete" => verbs::delete(ctx, body).await,
        _ => verbs::delete_collection(ctx, body).await,
    }
}
