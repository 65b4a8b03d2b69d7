//! Watch requests: parameters to a [`WatchOptions`], the cache's lines as a chunked
//! JSON-lines body.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::Response;
use futures::StreamExt;
use http::{header, HeaderValue, StatusCode};
use skiff_core::status::{ApiError, StatusCause};
use tokio_stream::wrappers::ReceiverStream;

use super::RequestContext;
use crate::registry::{api_error, parse_resource_version, ObjectFilter};
use crate::watch_cache::{serve_watch, StartPoint, WatchOptions};

fn invalid(field: &str, detail: &str) -> ApiError {
    ApiError::invalid(
        "ListOptions.meta.k8s.io",
        "",
        vec![StatusCause::forbidden(field, detail)],
    )
}

/// GET with `watch=true`: a chunked stream of `{"type":..,"object":..}` lines.
pub async fn watch(ctx: &RequestContext) -> Result<Response, ApiError> {
    let p = &ctx.params;
    let registry = &ctx.served.registry;
    let mut filter = ctx.filter()?;
    if let Some(name) = &ctx.name {
        // A watch on an object path: the collection watch with a name selector.
        let by_name = format!("metadata.name={name}");
        let field = match p.field_selector.as_deref() {
            Some(f) => format!("{f},{by_name}"),
            None => by_name,
        };
        filter = ObjectFilter::parse(
            p.label_selector.as_deref(),
            Some(&field),
            registry.strategy().as_ref(),
        )?;
    }
    let send_initial = p.send_initial_events;
    if send_initial == Some(true) {
        if !p.allow_watch_bookmarks {
            return Err(invalid(
                "allowWatchBookmarks",
                "sendInitialEvents requires setting allowWatchBookmarks to true",
            ));
        }
        if p.resource_version_match.as_deref() != Some("NotOlderThan") {
            return Err(invalid(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
    } else if send_initial.is_none() && p.resource_version_match.is_some() {
        return Err(invalid(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        ));
    }
    let rv = p.resource_version.as_deref().filter(|v| !v.is_empty());
    let current = || async {
        ctx.server
            .store()
            .status()
            .await
            .map(|s| s.header.revision)
            .map_err(api_error)
    };
    let start = match (rv, send_initial) {
        (None, Some(false)) => StartPoint::After(current().await?),
        (None, _) => StartPoint::Current(Some(current().await?)),
        (Some("0"), Some(false)) => StartPoint::After(ctx.served.cache.revision()),
        (Some("0"), _) => StartPoint::Current(None),
        (Some(v), Some(true)) => StartPoint::Current(Some(parse_resource_version(v)?)),
        (Some(v), _) => StartPoint::After(parse_resource_version(v)?),
    };
    let opts = WatchOptions {
        start,
        initial_events_end: send_initial == Some(true),
        bookmarks: p.allow_watch_bookmarks,
        timeout: p
            .timeout
            .unwrap_or(ctx.server.config().default_watch_timeout),
        prefix: registry.list_prefix(ctx.namespace.as_deref()),
        filter,
        strategy: registry.strategy().clone(),
        kind: ctx.served.resource.kind.clone(),
        api_version: ctx.served.resource.api_version(),
    };
    let lines = serve_watch(&ctx.served.cache, opts).await;
    let body = Body::from_stream(ReceiverStream::new(lines).map(Ok::<_, Infallible>));
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}
