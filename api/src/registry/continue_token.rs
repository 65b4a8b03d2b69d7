//! The opaque `continue` token of paginated lists: the store revision of the first page
//! and the key to resume after, so every page reads the same snapshot.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use skiff_core::status::ApiError;

/// What a continue token carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContinueToken {
    /// Token format version, as Kubernetes writes it.
    pub v: String,
    /// The store revision every page is read at.
    pub rv: i64,
    /// The key to start the next page at, relative to the resource's key prefix.
    pub start: String,
}

impl ContinueToken {
    /// A token resuming at `start` (relative key) at revision `rv`.
    pub fn new(rv: i64, start: String) -> Self {
        ContinueToken {
            v: "meta.k8s.io/v1".into(),
            rv,
            start,
        }
    }

    /// The token as sent to clients (base64 of its JSON).
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Reads a token a client sent back; 400 when it is not one of ours.
    pub fn decode(token: &str) -> Result<Self, ApiError> {
        let bad = |why: &str| ApiError::bad_request(format!("continue key is not valid: {why}"));
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|_| bad("not base64"))?;
        let token: ContinueToken = serde_json::from_slice(&bytes)
            .map_err(|_| bad("incorrect encoded start resourceVersion (version meta.k8s.io/v1)"))?;
        if token.v != "meta.k8s.io/v1" {
            return Err(bad(
                "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
            ));
        }
        if token.rv <= 0 || token.start.contains("..") || token.start.starts_with('/') {
            return Err(bad("invalid start key"));
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let t = ContinueToken::new(42, "ns/name\u{0}".into());
        assert_eq!(ContinueToken::decode(&t.encode()).unwrap(), t);
        assert_eq!(ContinueToken::decode("%%%").unwrap_err().code, 400);
        assert_eq!(ContinueToken::decode("e30").unwrap_err().code, 400);
    }
}
