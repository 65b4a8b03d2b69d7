//! Responses: JSON objects, `Status` errors, and the hook through which other modules
//! render alternative representations (Tables, PartialObjectMetadata).

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use serde_json::Value;
use skiff_core::resource::ApiResource;
use skiff_core::status::ApiError;

/// Renders a response body in another representation when the request's `Accept`
/// asks for one this transform knows (a `meta.k8s.io/v1 Table` for kubectl, ...).
///
/// The handlers call it for the bodies of get and list (a single object or a list);
/// `None` means "not mine, send the body as it is".
pub trait ResponseTransform: Send + Sync {
    /// The converted body and its content type, an error (406), or `None`.
    fn transform(
        &self,
        resource: &ApiResource,
        accept: &str,
        body: &Value,
    ) -> Option<Result<(Value, String), ApiError>>;

    /// Whether this transform may change a response for `accept`; when `false`, a
    /// handler may write plain JSON without building the object. The default is
    /// `true`.
    fn applies_to(&self, accept: &str) -> bool {
        let _ = accept;
        true
    }

    /// Like [`transform`](Self::transform), given the whole served resource, whose
    /// strategy knows what a custom resource's CRD says (printer columns). The default
    /// calls `transform`.
    fn transform_served(
        &self,
        served: &crate::ServedResource,
        accept: &str,
        body: &Value,
    ) -> Option<Result<(Value, String), ApiError>> {
        self.transform(&served.resource, accept, body)
    }
}

/// A JSON response.
pub fn json(status: StatusCode, body: &Value) -> Response {
    json_bytes(
        status,
        serde_json::to_vec(body).unwrap_or_default(),
        "application/json",
    )
}

/// A response of pre-serialized JSON with a content type.
pub fn json_bytes(status: StatusCode, bytes: Vec<u8>, content_type: &str) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/json")),
    );
    resp
}

/// Adds one `Warning: 299 - "..."` header per warning, as Kubernetes sends them
/// (kubectl prints each as `Warning: ...`).
pub fn add_warnings(resp: &mut Response, warnings: &[String]) {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
}

/// The `Status` response of an error.
pub fn error(err: &ApiError) -> Response {
    let status = StatusCode::from_u16(err.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(status, &err.to_status())
}

/// A response that is either a JSON body or a `Status` error.
pub struct ApiResponse(pub Result<Response, ApiError>);

impl IntoResponse for ApiResponse {
    fn into_response(self) -> Response {
        match self.0 {
            Ok(r) => r,
            Err(e) => error(&e),
        }
    }
}
