//! [`ClientError`]: what a client call can fail with.

use crate::status::ApiError;

/// The error of every [`super::Client`] call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API server answered with an error `Status` (404, 409, 410, 422, ...).
    #[error("{0}")]
    Api(ApiError),
    /// The request was refused before it was sent (an empty name, a bad target).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The request could not be sent or the connection failed.
    #[error("transport: {0}")]
    Transport(String),
    /// The server's answer could not be decoded.
    #[error("decoding the response: {0}")]
    Decode(String),
    /// The kubeconfig or the credentials could not be loaded.
    #[error("configuration: {0}")]
    Config(String),
}

impl ClientError {
    /// The HTTP code of an API error (`None` for other failures).
    pub fn code(&self) -> Option<u16> {
        match self {
            ClientError::Api(e) => Some(e.code),
            _ => None,
        }
    }

    /// Whether the API answered 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }

    /// Whether the API answered 409 Conflict (stale resourceVersion or AlreadyExists).
    pub fn is_conflict(&self) -> bool {
        self.code() == Some(409)
    }

    /// Whether the API answered 410 Gone (a resourceVersion older than the window).
    pub fn is_gone(&self) -> bool {
        self.code() == Some(410)
    }
}

impl From<ApiError> for ClientError {
    fn from(e: ApiError) -> Self {
        ClientError::Api(e)
    }
}
