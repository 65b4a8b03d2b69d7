//! The OpenAPI routes, with the documents cached until the served resources change.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use skiff_core::resource::ApiResource;
use skiff_core::status::ApiError;

use super::{group_version_document_with, group_version_path, index_document};
use crate::crd::CustomResourceVersion;
use crate::discovery::ResourceSource;
use crate::serve::status_response;

/// Documents for one set of served resources: path -> (hash, JSON bytes).
struct Built {
    resources: Vec<ApiResource>,
    custom: Vec<CustomResourceVersion>,
    documents: BTreeMap<String, (String, Arc<Vec<u8>>)>,
}

/// The OpenAPI documents of the resources a [`ResourceSource`] serves, rebuilt only
/// when that set changes.
#[derive(Clone)]
pub struct OpenApiCache {
    source: Arc<dyn ResourceSource>,
    /// The documents of the last resource set seen; held while building.
    built: Arc<Mutex<Option<Arc<Built>>>>,
}

impl OpenApiCache {
    /// A cache over `source`.
    pub fn new(source: Arc<dyn ResourceSource>) -> OpenApiCache {
        OpenApiCache {
            source,
            built: Arc::new(Mutex::new(None)),
        }
    }

    fn current(&self) -> Arc<Built> {
        let resources = self.source.resources();
        let custom = self.source.custom_resources();
        let mut guard = match self.built.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(built) = guard.as_ref() {
            if built.resources == resources && built.custom == custom {
                return built.clone();
            }
        }
        let mut documents = BTreeMap::new();
        let mut group_versions: Vec<(String, String)> = Vec::new();
        for r in &resources {
            let gv = (r.group.clone(), r.version.clone());
            if !group_versions.contains(&gv) {
                group_versions.push(gv);
            }
        }
        for (group, version) in group_versions {
            if let Some(doc) = group_version_document_with(&resources, &custom, &group, &version) {
                let bytes = serde_json::to_vec(&doc).unwrap_or_default();
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut hasher);
                let hash = format!("{:016X}", hasher.finish());
                documents.insert(
                    group_version_path(&group, &version),
                    (hash, Arc::new(bytes)),
                );
            }
        }
        let built = Arc::new(Built {
            resources,
            custom,
            documents,
        });
        *guard = Some(built.clone());
        built
    }
}

/// The router serving `/openapi/v3` and `/openapi/v3/{api/v1 | apis/{g}/{v}}`.
pub fn router(cache: OpenApiCache) -> axum::Router {
    axum::Router::new()
        .route("/openapi/v3", get(index))
        .route("/openapi/v3/", get(index))
        .route("/openapi/v3/{*path}", get(document))
        .with_state(cache)
}

async fn index(State(cache): State<OpenApiCache>) -> Response {
    let built = cache.current();
    let entries = built
        .documents
        .iter()
        .map(|(path, (hash, _))| (path.clone(), hash.clone()))
        .collect();
    axum::Json(index_document(&entries)).into_response()
}

async fn document(State(cache): State<OpenApiCache>, Path(path): Path<String>) -> Response {
    let built = cache.current();
    match built.documents.get(path.trim_matches('/')) {
        Some((_, bytes)) => (
            [(http::header::CONTENT_TYPE, "application/json")],
            bytes.as_ref().clone(),
        )
            .into_response(),
        None => status_response(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_core::resource::builtin_resources;
    use tower::ServiceExt;

    async fn get_json(app: &axum::Router, uri: &str) -> (u16, serde_json::Value) {
        let req = http::Request::get(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let code = resp.status().as_u16();
        let body = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .unwrap();
        (code, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn index_links_to_each_document() {
        let app = router(OpenApiCache::new(Arc::new(builtin_resources())));
        let (code, index) = get_json(&app, "/openapi/v3").await;
        assert_eq!(code, 200);
        let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="));
        let (code, doc) = get_json(&app, url).await;
        assert_eq!(code, 200);
        assert!(doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());
        assert_eq!(get_json(&app, "/openapi/v3/apis/nope/v1").await.0, 404);
    }
}
