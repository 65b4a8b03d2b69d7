//! Serving the API: HTTPS with rustls on the secure port, the request metrics layer,
//! the health endpoints and the `Status` answers shared by the other modules.
//!
//! # Organization
//! - [`status_response`]: an `ApiError` as an HTTP response.
pub use status::status_response;
mod status;
