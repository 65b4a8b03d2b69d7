//! The authentication middleware.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::{AuthOutcome, Authenticator, UserInfo};

/// What the [`authenticate`] middleware needs: the authenticator to ask.
#[derive(Clone)]
pub struct AuthState {
    /// Decides who sent each request.
    pub authenticator: Arc<dyn Authenticator>,
}

impl AuthState {
    /// A state asking `authenticator`.
    pub fn new(authenticator: impl Authenticator) -> AuthState {
        AuthState {
            authenticator: Arc::new(authenticator),
        }
    }
}

/// Paths anyone may read without credentials (Kubernetes' `system:public-info-viewer`).
pub fn is_open_path(path: &str) -> bool {
    ["/healthz", "/livez", "/readyz", "/version"]
        .iter()
        .any(|open| path == *open || path.strip_prefix(open).is_some_and(|r| r.starts_with('/')))
}

/// Axum middleware: authenticate the request, put its [`UserInfo`] in the extensions
/// and run the rest of the stack, or answer 401 with a `Status`. Invalid credentials are
/// refused even on the open paths (as Kubernetes does).
pub async fn authenticate(
    State(state): State<AuthState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    match state.authenticator.authenticate(&parts) {
        AuthOutcome::Authenticated(user) => {
            parts.extensions.insert(user);
        }
        AuthOutcome::NoCredentials if is_open_path(parts.uri.path()) => {
            parts.extensions.insert(UserInfo {
                name: "system:anonymous".into(),
                uid: String::new(),
                groups: vec!["system:unauthenticated".into()],
            });
        }
        AuthOutcome::NoCredentials => {
            tracing::debug!(path = %parts.uri.path(), "no credentials");
            return unauthorized();
        }
        AuthOutcome::Rejected(why) => {
            tracing::debug!(path = %parts.uri.path(), %why, "credentials rejected");
            return unauthorized();
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

/// The 401 answer Kubernetes gives (it never says why, to avoid leaking anything).
fn unauthorized() -> Response {
    crate::serve::status_response(&skiff_core::status::ApiError::unauthorized())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::TokenFileAuthenticator;
    use axum::routing::get;
    use tower::ServiceExt;

    fn app() -> axum::Router {
        let tokens = TokenFileAuthenticator::parse("good,alice,1").unwrap();
        axum::Router::new()
            .route(
                "/api",
                get(|axum::Extension(user): axum::Extension<UserInfo>| async move { user.name }),
            )
            .route("/healthz", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(
                AuthState::new(tokens),
                authenticate,
            ))
    }

    async fn call(path: &str, token: Option<&str>) -> (u16, String) {
        let mut req = http::Request::builder().uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = app()
            .oneshot(req.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        let code = resp.status().as_u16();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (code, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn no_credentials_is_401_status() {
        let (code, body) = call("/api", None).await;
        assert_eq!(code, 401);
        let status: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["reason"], "Unauthorized");
        assert_eq!(status["code"], 401);
    }

    #[tokio::test]
    async fn valid_token_reaches_the_handler_with_the_user() {
        assert_eq!(call("/api", Some("good")).await, (200, "alice".into()));
    }

    #[tokio::test]
    async fn health_is_open_but_bad_tokens_are_not() {
        assert_eq!(call("/healthz", None).await.0, 200);
        assert_eq!(call("/healthz", Some("bad")).await.0, 401);
        assert_eq!(call("/api", Some("bad")).await.0, 401);
    }

    #[test]
    fn open_paths() {
        assert!(is_open_path("/healthz"));
        assert!(is_open_path("/readyz/ping"));
        assert!(is_open_path("/version"));
        assert!(!is_open_path("/versionx"));
        assert!(!is_open_path("/api/v1/secrets"));
    }
}
