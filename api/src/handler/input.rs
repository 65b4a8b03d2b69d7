//! [`RequestBody`]: what a request carries, decoded only when a verb asks for it, so
//! the verbs run the same code whether the request came over HTTP (bytes and a
//! `Content-Type`) or from the in-process client (values already decoded).
//!
//! ```
//! use serde_json::json;
//! use skiff_api::handler::RequestBody;
//! let body = RequestBody::Value(json!({"kind": "ConfigMap"}));
//! assert!(matches!(body, RequestBody::Value(_)));
//! ```

use axum::body::Body;
use serde_json::Value;
use skiff_core::client::Patch;
use skiff_core::status::ApiError;

use super::body;
use super::patch::PatchType;
use super::RequestContext;
use crate::registry::DeleteOptions;

/// The body of a request.
pub enum RequestBody {
    /// An HTTP body: read (up to the size limit) and decoded per the request's
    /// `Content-Type` when a verb needs it.
    Http(Body),
    /// An object already decoded (create, update, a subresource's body, or a
    /// `DeleteOptions` object for deletes).
    Value(Value),
    /// A patch already decoded, with its type.
    Patch(Patch),
    /// No body.
    Empty,
}

impl RequestContext {
    /// The request body as an object (create, update, subresources): JSON, YAML or
    /// protobuf over HTTP; 400 when it is not an object.
    pub async fn object_body(&self, body: RequestBody) -> Result<Value, ApiError> {
        let value = match body {
            RequestBody::Http(body) => {
                let bytes = body::read(body, self.server.config().max_body_bytes).await?;
                return body::decode_object(&body::content_type(&self.headers), &bytes);
            }
            RequestBody::Value(value) => value,
            RequestBody::Patch(_) | RequestBody::Empty => Value::Null,
        };
        if !value.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        Ok(value)
    }

    /// The request body as a patch: its type (415 for types this resource does not
    /// take) and document.
    pub async fn patch_body(&self, body: RequestBody) -> Result<(PatchType, Value), ApiError> {
        let gvk = self.served.resource.gvk();
        match body {
            RequestBody::Http(http_body) => {
                let patch_type =
                    PatchType::from_content_type(&body::content_type(&self.headers), &gvk)?;
                let bytes = body::read(http_body, self.server.config().max_body_bytes).await?;
                let patch = match patch_type {
                    PatchType::Apply => body::decode_yaml(&bytes)?,
                    _ => body::decode_json(&bytes)?,
                };
                Ok((patch_type, patch))
            }
            RequestBody::Patch(patch) => {
                let patch_type = PatchType::from_content_type(patch.content_type(), &gvk)?;
                let document = match patch {
                    Patch::Json(v) | Patch::Merge(v) | Patch::Strategic(v) | Patch::Apply(v) => v,
                };
                Ok((patch_type, document))
            }
            RequestBody::Value(_) | RequestBody::Empty => Err(ApiError::unsupported_media_type(
                "application/json",
                &super::patch::PATCH_TYPES,
            )),
        }
    }

    /// The delete options of a request: query parameters, overridden by a
    /// `DeleteOptions` body when one is sent.
    pub async fn delete_options(&self, body: RequestBody) -> Result<DeleteOptions, ApiError> {
        let mut opts = DeleteOptions {
            dry_run: self.params.dry_run,
            grace_period_seconds: self.params.grace_period_seconds,
            propagation_policy: self.params.propagation_policy.clone(),
            ..Default::default()
        };
        let value = match body {
            RequestBody::Http(http_body) => {
                let bytes = body::read(http_body, self.server.config().max_body_bytes).await?;
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    return Ok(opts);
                }
                body::decode_object(&body::content_type(&self.headers), &bytes)?
            }
            RequestBody::Value(value) => value,
            RequestBody::Patch(_) | RequestBody::Empty => return Ok(opts),
        };
        super::verbs::apply_delete_options(&mut opts, &value)?;
        Ok(opts)
    }
}
