//! Turning an [`ApiError`] into the HTTP answer Kubernetes gives: the `Status` object as
//! JSON with the error's code.

use axum::response::{IntoResponse, Response};
use skiff_core::status::ApiError;

/// The response for `error`: its code, and its `Status` as a JSON body.
pub fn status_response(error: &ApiError) -> Response {
    let code =
        http::StatusCode::from_u16(error.code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(error.to_status())).into_response()
}
