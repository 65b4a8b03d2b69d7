//! Fetching node agents' `/stats/summary` through the kubelet client of
//! [`crate::node_proxy`], concurrently, each with a time limit. A node that cannot
//! be reached is left out (and logged), as metrics-server leaves it out.

use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde_json::Value;

use crate::node_proxy::client::{self, KubeletClientConfig};
use crate::node_proxy::target::{node_address, Target};

/// How long one node may take to answer.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest summary read.
const MAX_SUMMARY_BYTES: usize = 16 << 20;

/// Why one node's summary could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The Node object says no address or port.
    #[error("node {0} publishes no address or kubelet port")]
    NoEndpoint(String),
    /// Connecting or the HTTP exchange failed.
    #[error("node {node}: {message}")]
    Failed {
        /// The node.
        node: String,
        /// What failed.
        message: String,
    },
}

/// Where the node agent of `node` listens.
fn endpoint(node: &Value) -> Option<(String, u16)> {
    let host = node_address(node)?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_i64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)?;
    Some((host, port))
}

/// One node's summary.
async fn summary(kubelet: &KubeletClientConfig, node: &Value) -> Result<Value, ScrapeError> {
    let name = node
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let (host, port) = endpoint(node).ok_or_else(|| ScrapeError::NoEndpoint(name.clone()))?;
    let failed = |message: String| ScrapeError::Failed {
        node: name.clone(),
        message,
    };
    let target = Target {
        host,
        port,
        path_and_query: "/stats/summary".into(),
    };
    let fetch = async {
        let mut conn = client::connect(kubelet, &target.host, target.port)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let request = client::request(kubelet, Method::GET, &target, &HeaderMap::new())
            .map_err(|e| failed(e.to_string()))?;
        let response = conn
            .send(request)
            .await
            .map_err(|e| failed(e.to_string()))?;
        if response.status() != StatusCode::OK {
            return Err(failed(format!("answered {}", response.status())));
        }
        let body = Limited::new(response.into_body(), MAX_SUMMARY_BYTES)
            .collect()
            .await
            .map_err(|e| failed(format!("reading the summary: {e}")))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| failed(format!("decoding the summary: {e}")))
    };
    tokio::time::timeout(SCRAPE_TIMEOUT, fetch)
        .await
        .unwrap_or_else(|_| Err(failed(format!("no answer within {SCRAPE_TIMEOUT:?}"))))
}

/// The summaries of `nodes` that answered, with each node's object.
pub async fn summaries<'a>(
    kubelet: &KubeletClientConfig,
    nodes: &'a [Value],
) -> Vec<(&'a Value, Value)> {
    let fetches = nodes.iter().map(|node| async move {
        match summary(kubelet, node).await {
            Ok(s) => Some((node, s)),
            Err(e) => {
                tracing::debug!(error = %e, "no resource metrics from a node");
                None
            }
        }
    });
    futures::future::join_all(fetches)
        .await
        .into_iter()
        .flatten()
        .collect()
}
