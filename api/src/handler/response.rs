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

/// What a verb answers, before any transport renders it: the HTTP handler writes it as
/// a response ([`Reply::into_response`]), the in-process client hands the value over
/// as it is.
pub struct Reply {
    /// The HTTP status of a success (200, 201).
    pub status: StatusCode,
    /// The answer.
    pub body: ReplyBody,
    /// `fieldValidation` warnings (HTTP `Warning` headers).
    pub warnings: Vec<String>,
}

/// The answer of a verb.
pub enum ReplyBody {
    /// An object or list of the resource, which a [`ResponseTransform`] may render in
    /// another representation (get, list, create, update, patch).
    Object(Value),
    /// A body sent as it is (a `Status`, a `Scale`, a delete's answer).
    Plain(Value),
    /// A page of a list served from the watch cache (objects serialized once).
    CachedList(super::cached_list::CachedPage),
    /// A watch to open from the watch cache.
    Watch(Box<crate::watch_cache::WatchOptions>),
}

impl Reply {
    /// A 200 of an object of the resource.
    pub fn object(body: Value) -> Reply {
        Reply::new(StatusCode::OK, ReplyBody::Object(body))
    }

    /// A 200 of a body sent as it is.
    pub fn plain(body: Value) -> Reply {
        Reply::new(StatusCode::OK, ReplyBody::Plain(body))
    }

    /// A reply with no warnings.
    pub fn new(status: StatusCode, body: ReplyBody) -> Reply {
        Reply {
            status,
            body,
            warnings: Vec::new(),
        }
    }

    /// The same reply with another status.
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Reply {
        self.status = status;
        self
    }

    /// The same reply with `fieldValidation` warnings.
    #[must_use]
    pub fn with_warnings(mut self, warnings: Vec<String>) -> Reply {
        self.warnings = warnings;
        self
    }

    /// The HTTP response: JSON (or the response transform's representation), with a
    /// `Warning` header per warning; a watch becomes a chunked JSON-lines body.
    pub async fn into_response(self, ctx: &super::RequestContext) -> Result<Response, ApiError> {
        let mut resp = match self.body {
            ReplyBody::Object(obj) => ctx.respond(self.status, &obj)?,
            ReplyBody::Plain(obj) => json(self.status, &obj),
            ReplyBody::CachedList(page) => super::cached_list::respond(ctx, &page)?,
            ReplyBody::Watch(opts) => super::watch::respond(ctx, *opts).await,
        };
        add_warnings(&mut resp, &self.warnings);
        Ok(resp)
    }
}
