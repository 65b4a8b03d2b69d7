//! Serving the API: HTTPS with rustls on the secure port, the request metrics layer,
//! the health endpoints and the `Status` answers shared by the other modules.
//!
//! # Organization
//! - [`app_router`]: everything the server answers, behind authentication and metrics.
//! - [`serve_https`]: the TLS accept loop around any axum `Router`.
//! - [`Metrics`], [`record_metrics`], [`metrics_handler`]: Prometheus request metrics.
//! - [`HealthChecks`]: `/healthz`, `/livez`, `/readyz`.
//! - [`RequestInfo`]: verb and resource of a request, read from its path.
//! - [`status_response`]: an `ApiError` as an HTTP response.

mod app;
mod health;
mod https;
mod metrics;
mod request_info;
mod status;

pub use app::{app_router, AppParts};
pub use health::{FnCheck, HealthCheck, HealthChecks};
pub use https::serve_https;
pub use metrics::{metrics_handler, record_metrics, Metrics};
pub use request_info::RequestInfo;
pub use status::status_response;
