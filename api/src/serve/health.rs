//! `/healthz`, `/livez` and `/readyz`, answered as kube-apiserver does: `ok` when every
//! check passes; with `?verbose` one `[+]name ok` line per check; a failing check makes
//! the answer 500 with `[-]name failed: reason withheld`. `/healthz/{check}` runs one.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::future::BoxFuture;

/// One named health check (the store answering, informers synced, ...).
pub trait HealthCheck: Send + Sync + 'static {
    /// The check's name, as printed in verbose output.
    fn name(&self) -> &str;
    /// Run the check: `Err` says why it fails (logged, not shown to clients).
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// A check that always passes (`ping`, as in Kubernetes).
struct Ping;

impl HealthCheck for Ping {
    fn name(&self) -> &str {
        "ping"
    }
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// A health check from a name and an async closure.
pub struct FnCheck<F> {
    name: String,
    check: F,
}

impl<F> FnCheck<F>
where
    F: Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static,
{
    /// A check called `name` that runs `check`.
    pub fn new(name: impl Into<String>, check: F) -> FnCheck<F> {
        FnCheck {
            name: name.into(),
            check,
        }
    }
}

impl<F> HealthCheck for FnCheck<F>
where
    F: Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        (self.check)()
    }
}

/// The checks behind the health endpoints (`ping` is always first).
#[derive(Clone)]
pub struct HealthChecks {
    checks: Arc<Vec<Box<dyn HealthCheck>>>,
}

impl Default for HealthChecks {
    fn default() -> Self {
        HealthChecks::new(Vec::new())
    }
}

impl HealthChecks {
    /// `ping` followed by `checks`.
    pub fn new(checks: Vec<Box<dyn HealthCheck>>) -> HealthChecks {
        let mut all: Vec<Box<dyn HealthCheck>> = vec![Box::new(Ping)];
        all.extend(checks);
        HealthChecks {
            checks: Arc::new(all),
        }
    }

    /// Runs every check, as `/readyz` does; the name and reason of each that fails
    /// (empty when all pass). For a program that embeds the server and waits for it.
    pub async fn failures(&self) -> Vec<(String, String)> {
        let mut failed = Vec::new();
        for check in self.checks.iter() {
            if let Err(why) = check.check().await {
                failed.push((check.name().to_owned(), why));
            }
        }
        failed
    }

    /// The router serving `/healthz`, `/livez`, `/readyz` and `/{endpoint}/{check}`.
    pub fn router(self) -> axum::Router {
        let mut router = axum::Router::new();
        for endpoint in ["healthz", "livez", "readyz"] {
            router = router
                .route(
                    &format!("/{endpoint}"),
                    get(move |state, query| all_checks(state, query, endpoint)),
                )
                .route(&format!("/{endpoint}/{{check}}"), get(one_check));
        }
        router.with_state(self)
    }
}

async fn all_checks(
    State(checks): State<HealthChecks>,
    RawQuery(query): RawQuery,
    endpoint: &str,
) -> Response {
    let verbose = query.as_deref().is_some_and(|q| {
        q.split('&')
            .any(|kv| kv == "verbose" || kv.starts_with("verbose="))
    });
    let mut lines = String::new();
    let mut failed = false;
    for check in checks.checks.iter() {
        match check.check().await {
            Ok(()) => lines.push_str(&format!("[+]{} ok\n", check.name())),
            Err(why) => {
                tracing::warn!(check = check.name(), %why, "{endpoint} check failed");
                failed = true;
                lines.push_str(&format!("[-]{} failed: reason withheld\n", check.name()));
            }
        }
    }
    let text = match (failed, verbose) {
        (false, false) => "ok".to_string(),
        (false, true) => format!("{lines}{endpoint} check passed\n"),
        (true, _) => format!("{lines}{endpoint} check failed\n"),
    };
    let code = if failed {
        http::StatusCode::INTERNAL_SERVER_ERROR
    } else {
        http::StatusCode::OK
    };
    (
        code,
        [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

async fn one_check(State(checks): State<HealthChecks>, Path(name): Path<String>) -> Response {
    let Some(check) = checks.checks.iter().find(|c| c.name() == name) else {
        return (http::StatusCode::NOT_FOUND, "404 page not found\n").into_response();
    };
    match check.check().await {
        Ok(()) => "ok".into_response(),
        Err(_) => (
            http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("[-]{name} failed: reason withheld\n"),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn get_text(router: &axum::Router, path: &str) -> (u16, String) {
        let req = http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = router.clone().oneshot(req).await.unwrap();
        let code = resp.status().as_u16();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        (code, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn passing_and_failing_checks() {
        let healthy = HealthChecks::new(vec![Box::new(FnCheck::new("store", || {
            Box::pin(async { Ok(()) })
        }))])
        .router();
        assert_eq!(get_text(&healthy, "/healthz").await, (200, "ok".into()));
        assert_eq!(
            get_text(&healthy, "/readyz?verbose").await,
            (200, "[+]ping ok\n[+]store ok\nreadyz check passed\n".into())
        );
        assert_eq!(get_text(&healthy, "/livez/store").await, (200, "ok".into()));
        assert_eq!(get_text(&healthy, "/livez/nope").await.0, 404);

        let broken = HealthChecks::new(vec![Box::new(FnCheck::new("store", || {
            Box::pin(async { Err("down".to_string()) })
        }))])
        .router();
        let (code, text) = get_text(&broken, "/livez").await;
        assert_eq!(code, 500);
        assert!(text.contains("[-]store failed: reason withheld"), "{text}");
        assert!(!text.contains("down"));
    }
}
