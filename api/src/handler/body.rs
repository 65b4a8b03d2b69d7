//! Request bodies: the size limit, content types, JSON and YAML decoding.

use axum::body::Body;
use http::HeaderMap;
use serde_json::Value;
use skiff_core::status::ApiError;

/// The largest request body accepted (Kubernetes' 3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// The media type of a request (`application/json`), without parameters; JSON when
/// the header is absent.
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "application/json".to_owned())
}

/// Reads the whole body; 413 past `limit`.
pub async fn read(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::request_entity_too_large(&format!("limit is {limit}")))
}

/// Decodes an object body (create, update); 415 for other media types, 400 for
/// malformed JSON or YAML.
pub fn decode_object(content_type: &str, bytes: &[u8]) -> Result<Value, ApiError> {
    let value = match content_type {
        "application/json" | "*/*" => decode_json(bytes)?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => decode_yaml(bytes)?,
        crate::protobuf::MEDIA_TYPE => crate::protobuf::decode_object(bytes)
            .map_err(|e| ApiError::bad_request(format!("error decoding protobuf body: {e}")))?,
        other => {
            return Err(ApiError::unsupported_media_type(
                other,
                &[
                    "application/json",
                    "application/yaml",
                    crate::protobuf::MEDIA_TYPE,
                ],
            ))
        }
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    Ok(value)
}

/// JSON, 400 when malformed or empty.
pub fn decode_json(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the body of the request is empty"));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("error decoding JSON body: {e}")))
}

/// YAML (a superset of JSON), 400 when malformed.
pub fn decode_yaml(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_yaml::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_json_and_yaml() {
        assert_eq!(
            decode_object("application/json", b"{\"a\":1}").unwrap()["a"],
            1
        );
        assert_eq!(
            decode_object("application/yaml", b"a: 1\n").unwrap()["a"],
            1
        );
        assert_eq!(
            decode_object("application/json", b"{").unwrap_err().code,
            400
        );
        assert_eq!(
            decode_object("application/json", b"[1]").unwrap_err().code,
            400
        );
        assert_eq!(decode_object("text/plain", b"x").unwrap_err().code, 415);
    }
}
