//! Watch requests: parameters to a [`WatchOptions`] ([`watch`], whatever the
//! transport), then over HTTP the cache's lines as a chunked JSON-lines body
//! ([`respond`]).

use std::convert::Infallible;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::{header, HeaderValue, StatusCode};
use serde_json::Value;
use skiff_core::status::{ApiError, StatusCause};
use tokio_stream::wrappers::ReceiverStream;

use super::response::{Reply, ReplyBody};
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

/// Watch events as Tables, for clients that ask for Tables (`kubectl get -w`): each
/// event's object becomes a one-row Table (with the row's `PartialObjectMetadata`), the
/// column definitions only in the first, as Kubernetes sends them.
struct TableEvents {
    server: crate::server::ApiServer,
    resource: skiff_core::resource::ApiResource,
    accept: String,
    columns_sent: bool,
}

fn table_events(ctx: &RequestContext) -> Option<TableEvents> {
    let transform = ctx.server.config().response_transform.as_ref()?;
    // Only transforms that turn an object into a Table apply to watch events.
    let probe = serde_json::json!({"metadata": {}});
    let (converted, _) = transform
        .transform(&ctx.served.resource, &ctx.accept, &probe)?
        .ok()?;
    (converted.get("kind").and_then(Value::as_str) == Some("Table")).then(|| TableEvents {
        server: ctx.server.clone(),
        resource: ctx.served.resource.clone(),
        accept: ctx.accept.clone(),
        columns_sent: false,
    })
}

impl TableEvents {
    /// The event line with its object as a Table; ERROR events (a `Status`) and lines
    /// that do not parse are passed on as they are.
    fn line(&mut self, line: Bytes) -> Bytes {
        let Ok(mut event) = serde_json::from_slice::<Value>(&line) else {
            return line;
        };
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if kind == "ERROR" {
            return line;
        }
        let Some(transform) = self.server.config().response_transform.clone() else {
            return line;
        };
        let object = event.get("object").cloned().unwrap_or(Value::Null);
        let Some(Ok((mut table, _))) = transform.transform(&self.resource, &self.accept, &object)
        else {
            return line;
        };
        if kind == "BOOKMARK" {
            // A bookmark carries only a resourceVersion: a Table with no rows.
            table["rows"] = Value::Array(Vec::new());
        }
        if self.columns_sent {
            if let Some(map) = table.as_object_mut() {
                map.remove("columnDefinitions");
            }
        } else {
            self.columns_sent = true;
        }
        event["object"] = table;
        let mut out = serde_json::to_vec(&event).unwrap_or_default();
        out.push(b'\n');
        Bytes::from(out)
    }
}

/// GET with `watch=true`: the watch to open (checked parameters, start point,
/// selectors, timeout).
pub async fn watch(ctx: &RequestContext) -> Result<Reply, ApiError> {
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
    Ok(Reply::new(StatusCode::OK, ReplyBody::Watch(Box::new(opts))))
}

/// The HTTP answer of a watch: a chunked stream of `{"type":..,"object":..}` lines
/// (one-row Tables when the client asks for Tables).
pub async fn respond(ctx: &RequestContext, opts: WatchOptions) -> Response {
    let lines = serve_watch(&ctx.served.cache, opts).await;
    let lines = ReceiverStream::new(lines);
    let body = match table_events(ctx) {
        Some(mut tables) => {
            Body::from_stream(lines.map(move |l| Ok::<_, Infallible>(tables.line(l))))
        }
        None => Body::from_stream(lines.map(Ok::<_, Infallible>)),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
