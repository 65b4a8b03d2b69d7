//! Request metrics in Prometheus text format, as kube-apiserver names them:
//! `apiserver_request_total` (a counter by verb, group, version, resource, subresource
//! and code) and `apiserver_request_duration_seconds` (a histogram of the time to the
//! response head, by verb, group, version, resource and subresource).
//!
//! [`record_metrics`] is the middleware (a tower layer through
//! `axum::middleware::from_fn_with_state`); [`metrics_handler`] serves `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::RequestInfo;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// Labels of a series: verb, group, version, resource, subresource.
type SeriesKey = [String; 5];

/// One latency histogram.
#[derive(Clone, Debug, Default)]
struct Histogram {
    /// Observations at or below each bound of [`BUCKETS`] (cumulative when printed).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Counters and histograms of served requests; cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Guards both maps; held only to update or print them.
    inner: Arc<Mutex<MetricsInner>>,
}

#[derive(Debug, Default)]
struct MetricsInner {
    requests: BTreeMap<(SeriesKey, u16), u64>,
    durations: BTreeMap<SeriesKey, Histogram>,
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Record one request that was answered with `code` after `seconds`.
    pub fn observe(&self, info: &RequestInfo, code: u16, seconds: f64) {
        let verb = info.verb.to_ascii_uppercase();
        let key: SeriesKey = [
            verb,
            info.group.clone(),
            info.version.clone(),
            info.resource.clone(),
            info.subresource.clone(),
        ];
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        *inner.requests.entry((key.clone(), code)).or_default() += 1;
        let histogram = inner.durations.entry(key).or_default();
        histogram.count += 1;
        histogram.sum += seconds;
        for (bound, bucket) in BUCKETS.iter().zip(histogram.buckets.iter_mut()) {
            if seconds <= *bound {
                *bucket += 1;
            }
        }
    }

    /// The metrics in Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(inner) = self.inner.lock() else {
            return out;
        };
        out.push_str("# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, group, version, resource, subresource and HTTP response code.\n");
        out.push_str("# TYPE apiserver_request_total counter\n");
        for ((key, code), count) in &inner.requests {
            let _ = writeln!(
                out,
                "apiserver_request_total{{{},code=\"{code}\"}} {count}",
                labels(key)
            );
        }
        out.push_str("# HELP apiserver_request_duration_seconds Response latency distribution in seconds for each verb, group, version, resource and subresource.\n");
        out.push_str("# TYPE apiserver_request_duration_seconds histogram\n");
        for (key, histogram) in &inner.durations {
            let labels = labels(key);
            for (bound, count) in BUCKETS.iter().zip(histogram.buckets.iter()) {
                let _ = writeln!(
                    out,
                    "apiserver_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_sum{{{labels}}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_count{{{labels}}} {}",
                histogram.count
            );
        }
        out
    }
}

/// `verb="GET",group="",...` for a series key, with values escaped.
fn labels(key: &SeriesKey) -> String {
    let names = ["verb", "group", "version", "resource", "subresource"];
    names
        .iter()
        .zip(key.iter())
        .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Escape a label value (backslash, quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware: time each request to its response head and record it in `metrics`.
pub async fn record_metrics(
    State(metrics): State<Metrics>,
    request: Request,
    next: Next,
) -> Response {
    let info = RequestInfo::parse(
        request.method(),
        request.uri().path(),
        request.uri().query(),
    );
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.observe(
        &info,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Handler of `GET /metrics`.
pub async fn metrics_handler(State(metrics): State<Metrics>) -> Response {
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn counts_requests_by_verb_resource_and_code() {
        let metrics = Metrics::new();
        let app = axum::Router::new()
            .route("/api/v1/namespaces/{ns}/pods", get(|| async { "[]" }))
            .route("/metrics", get(metrics_handler))
            .with_state(metrics.clone())
            .layer(axum::middleware::from_fn_with_state(
                metrics.clone(),
                record_metrics,
            ));
        for path in [
            "/api/v1/namespaces/a/pods",
            "/api/v1/namespaces/b/pods",
            "/api/v1/nope",
        ] {
            let req = http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap();
            app.clone().oneshot(req).await.unwrap();
        }
        let req = http::Request::get("/metrics")
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains(
            "apiserver_request_total{verb=\"LIST\",group=\"\",version=\"v1\",resource=\"pods\",subresource=\"\",code=\"200\"} 2"
        ), "{text}");
        assert!(
            text.contains("resource=\"nope\",subresource=\"\",code=\"404\"} 1"),
            "{text}"
        );
        assert!(text.contains(
            "apiserver_request_duration_seconds_count{verb=\"LIST\",group=\"\",version=\"v1\",resource=\"pods\",subresource=\"\"} 2"
        ), "{text}");
        assert!(text.contains("le=\"+Inf\"} 2"), "{text}");
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }
}
