//! Lists served from the watch cache: consistent, paginated, and written from each
//! object's JSON serialized once, as Kubernetes serves lists from its watch cache.
//!
//! - `resourceVersion` unset (the most recent state): the cache is first brought up to
//!   the store's current revision (`wait_for`), so the list sees every write that
//!   finished before it, as a store read would (Kubernetes' consistent reads from
//!   cache).
//! - `resourceVersion=N` (not older than): waits until the cache reaches N.
//! - `resourceVersion=0`: whatever the cache holds, unpaginated.
//! - `limit`: the first page takes a [`ListSnapshot`]; when more pages follow it is
//!   kept, and `continue` tokens for its revision are served from it. A token whose
//!   snapshot is gone or whose revision the store has compacted away, `resourceVersionMatch=Exact` and anything invalid go to the
//!   store path ([`Registry::list`](crate::registry::Registry::list)), which reads at
//!   the token's revision and owns the error messages.
//!
//! Over HTTP a JSON list is written by concatenating the cached objects' bytes; a Table
//! (or any other response transform) is built from the decoded objects, and so is the
//! list the in-process client receives ([`CachedPage::into_list`], no bytes at all).

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use http::StatusCode;
use serde_json::{json, Map, Value};
use skiff_core::status::ApiError;

use super::{response, RequestContext};
use crate::registry::{ContinueToken, ListOptions};
use crate::watch_cache::ListSnapshot;

/// How long a list waits for the cache to reach the revision it must show.
const CATCH_UP: Duration = Duration::from_secs(3);

/// One page of a list from the cache, ready to be written.
pub struct CachedPage {
    /// The list's `metadata` (resourceVersion, continue, remainingItemCount).
    list_meta: Map<String, Value>,
    /// The objects of the page.
    items: Vec<crate::watch_cache::CachedObject>,
}

impl CachedPage {
    /// The list object (`kind: PodList`, `items`), the objects copied as values.
    pub fn into_list(self, ctx: &RequestContext) -> Value {
        let items = self
            .items
            .into_iter()
            .map(|o| Arc::unwrap_or_clone(o.value))
            .collect();
        ctx.served
            .registry
            .list_object(Value::Object(self.list_meta), items)
    }
}

/// Serves the list from the cache, or `None` when it must go to the store.
pub async fn serve(
    ctx: &RequestContext,
    opts: &ListOptions,
) -> Result<Option<CachedPage>, ApiError> {
    let Some((snapshot, start, limit)) = view(ctx, opts).await? else {
        return Ok(None);
    };
    let page = cut(&snapshot, &start, limit, ctx, opts);
    if page.next.is_some() {
        ctx.served.cache.pages().keep(snapshot.clone());
    }
    Ok(Some(CachedPage {
        list_meta: list_meta(ctx, &snapshot, &page),
        items: page.items.into_iter().cloned().collect(),
    }))
}

/// The snapshot to list from, the key to start at and the page size.
async fn view(
    ctx: &RequestContext,
    opts: &ListOptions,
) -> Result<Option<(Arc<ListSnapshot>, String, i64)>, ApiError> {
    let registry = &ctx.served.registry;
    let cache = &ctx.served.cache;
    let prefix = registry.list_prefix(ctx.namespace.as_deref());
    let rv = opts.resource_version.as_deref().filter(|v| !v.is_empty());
    match opts
        .resource_version_match
        .as_deref()
        .filter(|m| !m.is_empty())
    {
        None => {}
        Some("NotOlderThan") if rv.is_some() => {}
        Some(_) => return Ok(None),
    }
    if let Some(token) = opts.continue_token.as_deref().filter(|c| !c.is_empty()) {
        if rv.is_some_and(|v| v != "0") {
            return Ok(None);
        }
        let Ok(token) = ContinueToken::decode(token) else {
            return Ok(None);
        };
        let start = format!("{}{}", registry.prefix(), token.start);
        if !start.starts_with(&prefix) {
            return Ok(None);
        }
        let Some(snapshot) = cache.pages().find(&prefix, token.rv) else {
            return Ok(None);
        };
        // As with the store, a token older than the compacted history has expired.
        match registry.store().status().await {
            Ok(status) if token.rv >= status.compact_revision => {}
            _ => return Ok(None),
        }
        return Ok(Some((snapshot, start, opts.limit)));
    }
    let limit = match rv {
        Some("0") => 0,
        Some(v) => {
            let Ok(wanted) = v.parse::<i64>() else {
                return Ok(None);
            };
            if wanted < 0 {
                return Ok(None);
            }
            cache.wait_for(wanted, CATCH_UP).await?;
            opts.limit
        }
        None => {
            let Ok(status) = registry.store().status().await else {
                return Ok(None);
            };
            if cache
                .wait_for(status.header.revision, CATCH_UP)
                .await
                .is_err()
            {
                return Ok(None);
            }
            opts.limit
        }
    };
    Ok(Some((cache.list_snapshot(&prefix), prefix, limit)))
}

/// One page of a snapshot.
struct Page<'a> {
    items: Vec<&'a crate::watch_cache::CachedObject>,
    /// The store key the next page starts at.
    next: Option<String>,
    /// Objects after this page, when the list is not filtered.
    remaining: Option<i64>,
}

/// The matching objects from `start` on, at most `limit` (0 = all).
fn cut<'a>(
    snapshot: &'a ListSnapshot,
    start: &str,
    limit: i64,
    ctx: &RequestContext,
    opts: &ListOptions,
) -> Page<'a> {
    let strategy = ctx.served.registry.strategy().as_ref();
    let filtered = !opts.filter.is_empty();
    let from = snapshot.position(start);
    let mut page = Page {
        items: Vec::new(),
        next: None,
        remaining: None,
    };
    for (i, (key, obj)) in snapshot.entries.iter().enumerate().skip(from) {
        if filtered && !opts.filter.matches(&obj.value, strategy) {
            continue;
        }
        page.items.push(obj);
        if limit > 0 && page.items.len() as i64 >= limit {
            let rest = snapshot.entries.len() - (i + 1);
            if rest > 0 {
                page.next = Some(format!("{key}\0"));
                if !filtered {
                    page.remaining = Some(rest as i64);
                }
            }
            break;
        }
    }
    page
}

/// The list's `metadata`.
fn list_meta(ctx: &RequestContext, snapshot: &ListSnapshot, page: &Page<'_>) -> Map<String, Value> {
    let registry = &ctx.served.registry;
    let mut list_meta = Map::new();
    list_meta.insert(
        "resourceVersion".into(),
        json!(snapshot.revision.to_string()),
    );
    if let Some(next) = &page.next {
        let relative = next[registry.prefix().len()..].to_owned();
        list_meta.insert(
            "continue".into(),
            json!(ContinueToken::new(snapshot.revision, relative).encode()),
        );
        if let Some(r) = page.remaining {
            list_meta.insert("remainingItemCount".into(), json!(r));
        }
    }
    list_meta
}

/// The HTTP list response: raw JSON, or the transformed (Table) list.
pub fn respond(ctx: &RequestContext, page: &CachedPage) -> Result<Response, ApiError> {
    let registry = &ctx.served.registry;
    let transformed = ctx
        .server
        .config()
        .response_transform
        .as_ref()
        .is_some_and(|t| t.applies_to(&ctx.accept));
    if transformed {
        let items = page.items.iter().map(|o| (*o.value).clone()).collect();
        let list = registry.list_object(Value::Object(page.list_meta.clone()), items);
        return ctx.respond(StatusCode::OK, &list);
    }
    let head = json!({
        "kind": registry.list_kind(),
        "apiVersion": registry.resource().api_version(),
        "metadata": page.list_meta,
    });
    let size: usize = page.items.iter().map(|o| o.json().len() + 1).sum();
    let mut out = serde_json::to_vec(&head).unwrap_or_default();
    out.reserve(size + 12);
    // `{"kind":..,"metadata":{..}}` becomes `{..,"items":[..]}`.
    out.pop();
    out.extend_from_slice(b",\"items\":[");
    for (i, obj) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(obj.json());
    }
    out.extend_from_slice(b"]}");
    Ok(response::json_bytes(
        StatusCode::OK,
        out,
        "application/json",
    ))
}
