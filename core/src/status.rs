//! API errors and the meta/v1 `Status` objects that carry them over the wire.
//!
//! Every failure the API server answers with is an [`ApiError`]: an HTTP code, a
//! machine-readable reason (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, ...),
//! a message worded as Kubernetes words it (clients match on some of these), and
//! optional details naming the object and the fields at fault. [`ApiError::to_status`]
//! renders the `Status` body; [`ApiError::from_status`] reads one back (clients).
//!
//! Resources and kinds are passed *qualified* the way Kubernetes prints them:
//! `pods`, `deployments.apps` (see `ApiResource::qualified_resource`); `Pod`,
//! `Deployment.apps` for [`ApiError::invalid`]. The part after the first `.` becomes
//! `details.group`.
//!
//! ```
//! use skiff_core::status::{ApiError, StatusCause};
//!
//! let err = ApiError::invalid(
//!     "Deployment.apps",
//!     "web",
//!     vec![StatusCause::required("spec.selector")],
//! );
//! assert_eq!(err.code, 422);
//! assert_eq!(err.message, "Deployment.apps \"web\" is invalid: spec.selector: Required value");
//! let status = err.to_status();
//! assert_eq!(status["details"]["causes"][0]["reason"], "FieldValueRequired");
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// An error the API answers with, rendered as a meta/v1 `Status`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status code, such as 404.
    pub code: u16,
    /// Machine-readable reason, such as `NotFound` (`metav1.StatusReason`).
    pub reason: String,
    /// Human-readable message, worded as Kubernetes words it.
    pub message: String,
    /// The object and causes the error is about, if any.
    pub details: Option<StatusDetails>,
}

/// `Status.details`: which object an error is about and, for invalid objects, why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    /// Name of the object, if the error is about one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// API group of the resource or kind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The resource (`pods`) or kind (`Pod`, for `Invalid`) the error is about.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// UID of the object, if known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Individual causes, such as one per invalid field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
    /// Seconds a client should wait before retrying (429, 503, 504).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
}

/// One cause of an error (`metav1.StatusCause`), such as an invalid field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCause {
    /// Machine-readable reason, such as `FieldValueRequired`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Human-readable description, such as `Required value`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The field at fault in JSON-path-like form, such as `spec.containers[0].name`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

impl StatusCause {
    /// A cause from its three parts.
    pub fn new(reason: &str, message: &str, field: &str) -> Self {
        Self {
            reason: reason.to_owned(),
            message: message.to_owned(),
            field: field.to_owned(),
        }
    }

    /// A required field is missing (`FieldValueRequired`, "Required value").
    pub fn required(field: &str) -> Self {
        Self::new("FieldValueRequired", "Required value", field)
    }

    /// A field has a value that is not allowed (`FieldValueInvalid`):
    /// `Invalid value: "x": detail`. The value is printed as JSON.
    pub fn invalid_value(field: &str, value: &Value, detail: &str) -> Self {
        Self::new(
            "FieldValueInvalid",
            &with_detail(&format!("Invalid value: {}", short_value(value)), detail),
            field,
        )
    }

    /// A field may not be set or changed (`FieldValueForbidden`): `Forbidden: detail`.
    pub fn forbidden(field: &str, detail: &str) -> Self {
        Self::new(
            "FieldValueForbidden",
            &with_detail("Forbidden", detail),
            field,
        )
    }

    /// A value outside a fixed set (`FieldValueNotSupported`):
    /// `Unsupported value: "x": supported values: "a", "b"`.
    pub fn not_supported(field: &str, value: &Value, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        Self::new(
            "FieldValueNotSupported",
            &format!(
                "Unsupported value: {}: supported values: {}",
                short_value(value),
                list.join(", ")
            ),
            field,
        )
    }

    /// A value that must be unique appears twice (`FieldValueDuplicate`).
    pub fn duplicate(field: &str, value: &Value) -> Self {
        Self::new(
            "FieldValueDuplicate",
            &format!("Duplicate value: {}", short_value(value)),
            field,
        )
    }

    /// A referenced item does not exist (`FieldValueNotFound`).
    pub fn not_found(field: &str, value: &Value) -> Self {
        Self::new(
            "FieldValueNotFound",
            &format!("Not found: {}", short_value(value)),
            field,
        )
    }

    /// A value longer than allowed (`FieldValueTooLong`).
    pub fn too_long(field: &str, max: usize) -> Self {
        Self::new(
            "FieldValueTooLong",
            &format!("Too long: may not be more than {max} bytes"),
            field,
        )
    }

    /// A field-manager conflict of server-side apply (`FieldManagerConflict`).
    pub fn field_manager_conflict(field: &str, manager: &str) -> Self {
        Self::new(
            "FieldManagerConflict",
            &format!("conflict with {manager:?}"),
            field,
        )
    }

    /// `field: message`, the way Kubernetes joins a field error into a message.
    fn to_message(&self) -> String {
        if self.field.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.field, self.message)
        }
    }
}

fn with_detail(head: &str, detail: &str) -> String {
    if detail.is_empty() {
        head.to_owned()
    } else {
        format!("{head}: {detail}")
    }
}

/// A value as Kubernetes prints it in a field error: scalars as JSON, objects and
/// arrays by type (Kubernetes does not print whole structures either).
fn short_value(value: &Value) -> String {
    match value {
        Value::Object(_) => "\"object\"".to_owned(),
        Value::Array(_) => "\"array\"".to_owned(),
        other => other.to_string(),
    }
}

/// Splits `deployments.apps` into (`deployments`, `apps`).
fn split_qualified(qualified: &str) -> (&str, &str) {
    qualified.split_once('.').unwrap_or((qualified, ""))
}

fn details(name: &str, qualified: &str) -> StatusDetails {
    let (kind, group) = split_qualified(qualified);
    StatusDetails {
        name: name.to_owned(),
        group: group.to_owned(),
        kind: kind.to_owned(),
        ..StatusDetails::default()
    }
}

impl ApiError {
    /// An error from its parts, with no details.
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.to_owned(),
            message: message.into(),
            details: None,
        }
    }

    /// Attaches details; empty details are none, so errors compare equal after a
    /// round trip through [`ApiError::to_status`].
    fn with_details(mut self, details: StatusDetails) -> Self {
        self.details = (details != StatusDetails::default()).then_some(details);
        self
    }

    /// 404 `NotFound`: `pods "web" not found`.
    pub fn not_found(resource: &str, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{resource} {name:?} not found"))
            .with_details(details(name, resource))
    }

    /// 409 `AlreadyExists`: `pods "web" already exists`.
    pub fn already_exists(resource: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{resource} {name:?} already exists"),
        )
        .with_details(details(name, resource))
    }

    /// 409 `Conflict`: `Operation cannot be fulfilled on pods "web": msg`. The message
    /// Kubernetes uses for a stale resourceVersion is
    /// [`ApiError::OPTIMISTIC_LOCK_MESSAGE`].
    pub fn conflict(resource: &str, name: &str, msg: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {resource} {name:?}: {msg}"),
        )
        .with_details(details(name, resource))
    }

    /// The conflict message Kubernetes sends for a stale resourceVersion.
    pub const OPTIMISTIC_LOCK_MESSAGE: &'static str =
        "the object has been modified; please apply your changes to the latest version and try again";

    /// 409 `Conflict` of server-side apply, with one `FieldManagerConflict` cause per
    /// conflicting field: `Apply failed with N conflict(s): ...`.
    pub fn apply_conflict(causes: Vec<StatusCause>) -> Self {
        let lines: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.message, c.field))
            .collect();
        let noun = if causes.len() == 1 {
            "conflict"
        } else {
            "conflicts"
        };
        let message = format!(
            "Apply failed with {} {noun}: {}",
            causes.len(),
            lines.join("\n")
        );
        Self::new(409, "Conflict", message).with_details(StatusDetails {
            causes,
            ..StatusDetails::default()
        })
    }

    /// 422 `Invalid`: `Pod "web" is invalid: spec.x: Required value`, or with several
    /// causes `Pod "web" is invalid: [a: ..., b: ...]`. `kind` is qualified by group
    /// (`Deployment.apps`).
    pub fn invalid(kind: &str, name: &str, causes: Vec<StatusCause>) -> Self {
        let messages: Vec<String> = causes.iter().map(StatusCause::to_message).collect();
        let body = match messages.len() {
            0 => String::new(),
            1 => format!(": {}", messages[0]),
            _ => format!(": [{}]", messages.join(", ")),
        };
        let mut d = details(name, kind);
        d.causes = causes;
        Self::new(422, "Invalid", format!("{kind} {name:?} is invalid{body}")).with_details(d)
    }

    /// 400 `BadRequest` with this message.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", msg)
    }

    /// 410 `Expired`: a resourceVersion too old for a watch or a continue token.
    pub fn expired(msg: impl Into<String>) -> Self {
        Self::new(410, "Expired", msg)
    }

    /// 405 `MethodNotAllowed`: `create is not supported on resources of kind "pods"`.
    pub fn method_not_supported(resource: &str, action: &str) -> Self {
        let (kind, group) = split_qualified(resource);
        Self::new(
            405,
            "MethodNotAllowed",
            format!("{action} is not supported on resources of kind {resource:?}"),
        )
        .with_details(StatusDetails {
            group: group.to_owned(),
            kind: kind.to_owned(),
            ..StatusDetails::default()
        })
    }

    /// 415 `UnsupportedMediaType`, listing the media types the endpoint accepts.
    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format ({content_type:?}) - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
    }

    /// 406 `NotAcceptable`: none of the Accept types can be produced.
    pub fn not_acceptable(accepted: &[&str]) -> Self {
        Self::new(
            406,
            "NotAcceptable",
            format!(
                "only the following media types are accepted: {}",
                accepted.join(", ")
            ),
        )
    }

    /// 413 `RequestEntityTooLarge`: `Request entity too large: msg`.
    pub fn request_entity_too_large(msg: &str) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: {msg}"),
        )
    }

    /// 401 `Unauthorized`: no valid credentials.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 403 `Forbidden`: `pods "web" is forbidden: msg` (`pods is forbidden: msg`
    /// without a name, `forbidden: msg` without a resource).
    pub fn forbidden(resource: &str, name: &str, msg: &str) -> Self {
        let message = match (resource.is_empty(), name.is_empty()) {
            (true, _) => format!("forbidden: {msg}"),
            (false, true) => format!("{resource} is forbidden: {msg}"),
            (false, false) => format!("{resource} {name:?} is forbidden: {msg}"),
        };
        Self::new(403, "Forbidden", message).with_details(details(name, resource))
    }

    /// 500 `InternalError`: `Internal error occurred: msg`. For server faults only,
    /// never for bad input.
    pub fn internal(msg: &str) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {msg}"),
        )
        .with_details(StatusDetails {
            causes: vec![StatusCause::new("", msg, "")],
            ..StatusDetails::default()
        })
    }

    /// 504 `Timeout`: `Timeout: msg`; the request did not complete in time.
    pub fn timeout(msg: &str) -> Self {
        Self::new(504, "Timeout", format!("Timeout: {msg}"))
    }

    /// 429 `TooManyRequests`, asking the client to retry after `retry_after_seconds`.
    pub fn too_many_requests(msg: &str, retry_after_seconds: u32) -> Self {
        Self::new(429, "TooManyRequests", msg.to_owned()).with_details(StatusDetails {
            retry_after_seconds: Some(retry_after_seconds),
            ..StatusDetails::default()
        })
    }

    /// 503 `ServiceUnavailable`, such as while the store is unreachable.
    pub fn service_unavailable(msg: &str) -> Self {
        Self::new(503, "ServiceUnavailable", msg.to_owned())
    }

    /// Whether this is a 404 `NotFound`.
    pub fn is_not_found(&self) -> bool {
        self.reason == "NotFound"
    }

    /// Whether this is a 409 `AlreadyExists`.
    pub fn is_already_exists(&self) -> bool {
        self.reason == "AlreadyExists"
    }

    /// Whether this is a 409 `Conflict`.
    pub fn is_conflict(&self) -> bool {
        self.reason == "Conflict"
    }

    /// The meta/v1 `Status` object of this error: `kind`, `apiVersion: v1`,
    /// `metadata: {}`, `status: Failure`, `message`, `reason`, `details`, `code`.
    pub fn to_status(&self) -> Value {
        let mut status = Map::new();
        status.insert("kind".into(), json!("Status"));
        status.insert("apiVersion".into(), json!("v1"));
        status.insert("metadata".into(), json!({}));
        status.insert("status".into(), json!("Failure"));
        status.insert("message".into(), json!(self.message));
        status.insert("reason".into(), json!(self.reason));
        if let Some(details) = &self.details {
            status.insert(
                "details".into(),
                serde_json::to_value(details).unwrap_or(Value::Null),
            );
        }
        status.insert("code".into(), json!(self.code));
        Value::Object(status)
    }

    /// Reads a failed meta/v1 `Status` (as a client receives it) back into an error.
    /// `None` when `value` is not a `Status` with `status: Failure`.
    pub fn from_status(value: &Value) -> Option<Self> {
        if value.get("kind")?.as_str()? != "Status" || value.get("status")?.as_str()? != "Failure" {
            return None;
        }
        let code = value
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(500);
        let text = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let details = value
            .get("details")
            .and_then(|d| serde_json::from_value(d.clone()).ok());
        Some(Self {
            code,
            reason: text("reason"),
            message: text("message"),
            details,
        })
    }
}

/// A meta/v1 `Status` with `status: Success`, as Kubernetes returns for some deletes.
pub fn success_status(details: Option<StatusDetails>) -> Value {
    let mut status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
    });
    if let Some(d) = details {
        status["details"] = serde_json::to_value(d).unwrap_or(Value::Null);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_match_kubernetes() {
        let cases: Vec<(ApiError, u16, &str, &str)> = vec![
            (ApiError::not_found("pods", "web"), 404, "NotFound", "pods \"web\" not found"),
            (
                ApiError::not_found("deployments.apps", "web"),
                404,
                "NotFound",
                "deployments.apps \"web\" not found",
            ),
            (
                ApiError::already_exists("configmaps", "c"),
                409,
                "AlreadyExists",
                "configmaps \"c\" already exists",
            ),
            (
                ApiError::conflict("pods", "web", ApiError::OPTIMISTIC_LOCK_MESSAGE),
                409,
                "Conflict",
                "Operation cannot be fulfilled on pods \"web\": the object has been modified; please apply your changes to the latest version and try again",
            ),
            (ApiError::bad_request("bad"), 400, "BadRequest", "bad"),
            (ApiError::expired("too old resource version: 1 (5)"), 410, "Expired", "too old resource version: 1 (5)"),
            (
                ApiError::method_not_supported("pods", "deletecollection"),
                405,
                "MethodNotAllowed",
                "deletecollection is not supported on resources of kind \"pods\"",
            ),
            (ApiError::request_entity_too_large("limit is 3145728"), 413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728"),
            (ApiError::unauthorized(), 401, "Unauthorized", "Unauthorized"),
            (ApiError::forbidden("pods", "", "no"), 403, "Forbidden", "pods is forbidden: no"),
            (ApiError::forbidden("pods", "p", "no"), 403, "Forbidden", "pods \"p\" is forbidden: no"),
            (ApiError::forbidden("", "", "no"), 403, "Forbidden", "forbidden: no"),
            (ApiError::internal("boom"), 500, "InternalError", "Internal error occurred: boom"),
            (ApiError::timeout("slow"), 504, "Timeout", "Timeout: slow"),
        ];
        for (err, code, reason, message) in cases {
            assert_eq!(
                (err.code, err.reason.as_str(), err.message.as_str()),
                (code, reason, message)
            );
            let status = err.to_status();
            assert_eq!(status["kind"], "Status");
            assert_eq!(status["apiVersion"], "v1");
            assert_eq!(status["status"], "Failure");
            assert_eq!(status["code"], code);
            assert_eq!(status["reason"], reason);
            assert_eq!(status["message"], message);
            assert_eq!(ApiError::from_status(&status), Some(err));
        }
    }

    #[test]
    fn details_split_the_qualified_resource() {
        let status = ApiError::not_found("deployments.apps", "web").to_status();
        assert_eq!(
            status["details"],
            json!({"name": "web", "group": "apps", "kind": "deployments"})
        );
        let status = ApiError::not_found("pods", "p").to_status();
        assert_eq!(status["details"], json!({"name": "p", "kind": "pods"}));
        assert!(ApiError::bad_request("x")
            .to_status()
            .get("details")
            .is_none());
    }

    #[test]
    fn status_deserializes_as_k8s_openapi_status() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
        let err = ApiError::invalid(
            "Pod",
            "p",
            vec![
                StatusCause::required("spec.containers"),
                StatusCause::invalid_value(
                    "metadata.name",
                    &json!("A_b"),
                    "a lowercase RFC 1123 subdomain",
                ),
            ],
        );
        let status: Status = serde_json::from_value(err.to_status()).unwrap();
        assert_eq!(status.code, Some(422));
        let causes = status.details.unwrap().causes.unwrap();
        assert_eq!(causes[1].field.as_deref(), Some("metadata.name"));
        assert_eq!(causes[1].reason.as_deref(), Some("FieldValueInvalid"));
    }

    #[test]
    fn invalid_messages_join_like_kubernetes() {
        let one = ApiError::invalid("Pod", "p", vec![StatusCause::required("spec.containers")]);
        assert_eq!(
            one.message,
            "Pod \"p\" is invalid: spec.containers: Required value"
        );
        let two = ApiError::invalid(
            "Deployment.apps",
            "d",
            vec![
                StatusCause::required("spec.selector"),
                StatusCause::forbidden("spec.template.spec.nodeName", "may not be set"),
            ],
        );
        assert_eq!(
            two.message,
            "Deployment.apps \"d\" is invalid: [spec.selector: Required value, spec.template.spec.nodeName: Forbidden: may not be set]"
        );
        let details = two.details.unwrap();
        assert_eq!(
            (details.kind.as_str(), details.group.as_str()),
            ("Deployment", "apps")
        );
        assert_eq!(
            StatusCause::invalid_value(
                "spec.replicas",
                &json!(-1),
                "must be greater than or equal to 0"
            )
            .message,
            "Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(
            StatusCause::not_supported(
                "spec.restartPolicy",
                &json!("Sometimes"),
                &["Always", "Never"]
            )
            .message,
            "Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\""
        );
    }

    #[test]
    fn apply_conflict_lists_fields() {
        let err = ApiError::apply_conflict(vec![StatusCause::field_manager_conflict(
            ".spec.replicas",
            "kubectl-scale",
        )]);
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"kubectl-scale\": .spec.replicas"
        );
        assert_eq!(
            err.to_status()["details"]["causes"][0]["reason"],
            "FieldManagerConflict"
        );
    }

    #[test]
    fn from_status_rejects_other_objects() {
        assert_eq!(ApiError::from_status(&json!({"kind": "Pod"})), None);
        assert_eq!(ApiError::from_status(&success_status(None)), None);
        assert_eq!(ApiError::from_status(&json!("text")), None);
    }
}
