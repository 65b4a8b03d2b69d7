//! The discovery and version routes.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use skiff_core::resource::ApiResource;
use skiff_core::status::ApiError;

use super::{
    aggregated_discovery, api_group, api_group_list, api_resource_list, api_versions, version_info,
    wants_aggregated, AGGREGATED_CONTENT_TYPE,
};
use crate::serve::status_response;

/// Where discovery reads the resources served right now (built-in plus custom).
pub trait ResourceSource: Send + Sync + 'static {
    /// Every resource currently served.
    fn resources(&self) -> Vec<ApiResource>;

    /// What the CRDs say about the custom resources among them (their schemas, for
    /// OpenAPI); none by default.
    fn custom_resources(&self) -> Vec<crate::crd::CustomResourceVersion> {
        Vec::new()
    }
}

impl ResourceSource for Vec<ApiResource> {
    fn resources(&self) -> Vec<ApiResource> {
        self.clone()
    }
}

impl<F> ResourceSource for F
where
    F: Fn() -> Vec<ApiResource> + Send + Sync + 'static,
{
    fn resources(&self) -> Vec<ApiResource> {
        self()
    }
}

type Source = Arc<dyn ResourceSource>;

/// The router serving `/api`, `/apis`, `/apis/{group}`, `/api/v1`,
/// `/apis/{group}/{version}` and `/version` from `source`.
pub fn router(source: Arc<dyn ResourceSource>) -> axum::Router {
    axum::Router::new()
        .route("/api", get(core_root))
        .route("/api/", get(core_root))
        .route("/apis", get(groups_root))
        .route("/apis/", get(groups_root))
        .route("/api/{version}", get(core_version))
        .route("/apis/{group}", get(one_group))
        .route("/apis/{group}/{version}", get(group_version))
        .route("/version", get(|| async { Json(version_info()) }))
        .with_state(source)
}

fn accept(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
}

/// JSON with the given content type and `Vary: Accept` (the answer depends on it).
fn json_with_type(value: serde_json::Value, content_type: &'static str) -> Response {
    (
        [
            (http::header::CONTENT_TYPE, content_type),
            (http::header::VARY, "Accept"),
        ],
        value.to_string(),
    )
        .into_response()
}

fn not_found() -> Response {
    status_response(&ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    ))
}

async fn core_root(State(source): State<Source>, headers: HeaderMap) -> Response {
    if wants_aggregated(accept(&headers)) {
        json_with_type(
            aggregated_discovery(&source.resources(), true),
            AGGREGATED_CONTENT_TYPE,
        )
    } else {
        json_with_type(api_versions(), "application/json")
    }
}

async fn groups_root(State(source): State<Source>, headers: HeaderMap) -> Response {
    let resources = source.resources();
    if wants_aggregated(accept(&headers)) {
        json_with_type(
            aggregated_discovery(&resources, false),
            AGGREGATED_CONTENT_TYPE,
        )
    } else {
        json_with_type(api_group_list(&resources), "application/json")
    }
}

async fn core_version(State(source): State<Source>, Path(version): Path<String>) -> Response {
    match api_resource_list(&source.resources(), "", &version) {
        Some(list) => Json(list).into_response(),
        None => not_found(),
    }
}

async fn one_group(State(source): State<Source>, Path(group): Path<String>) -> Response {
    match api_group(&source.resources(), &group) {
        Some(doc) => Json(doc).into_response(),
        None => not_found(),
    }
}

async fn group_version(
    State(source): State<Source>,
    Path((group, version)): Path<(String, String)>,
) -> Response {
    match api_resource_list(&source.resources(), &group, &version) {
        Some(list) => Json(list).into_response(),
        None => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_core::resource::builtin_resources;
    use tower::ServiceExt;

    async fn call(path: &str, accept: Option<&str>) -> (u16, String, serde_json::Value) {
        let app = router(Arc::new(builtin_resources()));
        let mut req = http::Request::get(path);
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let resp = app
            .oneshot(req.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        let code = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 22)
            .await
            .unwrap();
        (code, ct, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn negotiates_aggregated_or_legacy() {
        let agg =
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
        let (code, ct, body) = call("/apis", Some(agg)).await;
        assert_eq!((code, ct.as_str()), (200, AGGREGATED_CONTENT_TYPE));
        assert_eq!(body["kind"], "APIGroupDiscoveryList");
        let (_, ct, body) = call("/api", Some("application/json")).await;
        assert_eq!(ct, "application/json");
        assert_eq!(body["kind"], "APIVersions");
    }

    #[tokio::test]
    async fn group_versions_and_unknowns() {
        assert_eq!(call("/api/v1", None).await.2["groupVersion"], "v1");
        assert_eq!(
            call("/apis/batch/v1", None).await.2["groupVersion"],
            "batch/v1"
        );
        assert_eq!(call("/apis/apps", None).await.2["kind"], "APIGroup");
        let (code, _, body) = call("/apis/nope.io/v1", None).await;
        assert_eq!((code, body["kind"].as_str()), (404, Some("Status")));
        assert_eq!(call("/version", None).await.2["minor"], "33");
    }
}
