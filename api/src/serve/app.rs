//! The whole HTTP application of the API server: resource handlers, discovery,
//! `/version`, health, metrics (and OpenAPI when given), behind authentication and the
//! metrics layer.

use std::sync::Arc;

use axum::routing::get;
use skiff_core::resource::ApiResource;
use skiff_core::status::ApiError;

use super::{metrics_handler, record_metrics, status_response, HealthChecks, Metrics};
use crate::auth::{authenticate, AuthState};
use crate::discovery::{self, ResourceSource};
use crate::ApiServer;

impl ResourceSource for ApiServer {
    fn resources(&self) -> Vec<ApiResource> {
        let mut resources = ApiServer::resources(self);
        if self.config().kubelet_client.is_some() {
            resources.extend(crate::metrics_api::resources());
        }
        resources
    }

    fn custom_resources(&self) -> Vec<crate::crd::CustomResourceVersion> {
        self.served()
            .iter()
            .filter_map(|s| s.registry.strategy().custom_resource().cloned())
            .collect()
    }
}

/// The parts [`app_router`] puts together.
pub struct AppParts {
    /// Decides who sent each request; `None` serves everyone (in-process tests only).
    pub auth: Option<AuthState>,
    /// Checks behind `/healthz`, `/livez`, `/readyz`.
    pub health: HealthChecks,
    /// Where request metrics are recorded (and served at `/metrics`).
    pub metrics: Metrics,
    /// Extra routes (such as `/openapi/v3`), merged as they are.
    pub extra: Option<axum::Router>,
}

/// The API server's full router: resources, discovery, version, health, metrics and
/// `extra`; unknown paths answer a 404 `Status`. Authentication runs first (401 before
/// anything else), then the metrics layer times the request.
pub fn app_router(server: &ApiServer, parts: AppParts) -> axum::Router {
    let mut router = server
        .router()
        .merge(discovery::router(Arc::new(server.clone())))
        .merge(parts.health.router())
        .route(
            "/metrics",
            get(metrics_handler).with_state(parts.metrics.clone()),
        );
    if let Some(extra) = parts.extra {
        router = router.merge(extra);
    }
    router = router
        .fallback(|| async {
            status_response(&ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ))
        })
        .layer(axum::middleware::from_fn_with_state(
            parts.metrics,
            record_metrics,
        ));
    if let Some(auth) = parts.auth {
        router = router.layer(axum::middleware::from_fn_with_state(auth, authenticate));
    }
    router
}
