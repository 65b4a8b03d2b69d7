//! The node's pod CIDR: read from the Node (`spec.podCIDR`, set by the node IPAM
//! controller after registration) and handed to the runtime
//! ([`crate::runtime::RuntimeService::update_runtime_config`]) so that pods get
//! addresses of their own.
//!
//! The agent waits for it after registering, at most
//! [`crate::agent::AgentConfig::pod_cidr_wait`], before it starts any pod; if the
//! node has none by then, it says so, its pods use the host's network, and it keeps
//! looking ([`watch`]): pods created after the CIDR shows up get their own network.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>, runtime: std::sync::Arc<dyn skiff_node::runtime::Runtime>) {
//! use std::time::Duration;
//! use skiff_node::agent::pod_cidr;
//! let got = pod_cidr::wait(&client, runtime.as_ref(), "node-1", Duration::from_secs(30)).await;
//! println!("pod CIDR: {got:?}");
//! # }
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use skiff_core::client::{Api, Client};

use crate::runtime::{Runtime, RuntimeConfig};

/// The node's pod CIDR as it stands (`spec.podCIDR`, else the first of `podCIDRs`).
pub fn of(node: &Node) -> Option<String> {
    let spec = node.spec.as_ref()?;
    spec.pod_cidr
        .clone()
        .or_else(|| spec.pod_cidrs.as_ref()?.first().cloned())
        .filter(|c| !c.is_empty())
}

/// Reads the node once; when it has a pod CIDR, hands it to the runtime and
/// returns it.
pub async fn check(client: &Arc<dyn Client>, runtime: &dyn Runtime, node: &str) -> Option<String> {
    let nodes: Api<Node> = Api::all(client.clone());
    let cidr = match nodes.get(node).await {
        Ok(n) => of(&n)?,
        Err(e) => {
            tracing::debug!(node, error = %e, "reading the node's pod CIDR");
            return None;
        }
    };
    let config = RuntimeConfig {
        pod_cidr: cidr.clone(),
    };
    match runtime.update_runtime_config(&config).await {
        Ok(()) => Some(cidr),
        Err(e) => {
            tracing::warn!(node, %cidr, error = %e, "the runtime refused the node's pod CIDR; pods use the host's network");
            // Stop looking: the answer will not change.
            Some(cidr)
        }
    }
}

/// Waits up to `timeout` for the node's pod CIDR (checking at least once).
pub async fn wait(
    client: &Arc<dyn Client>,
    runtime: &dyn Runtime,
    node: &str,
    timeout: Duration,
) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(cidr) = check(client, runtime, node).await {
            tracing::info!(node, pod_cidr = %cidr, "pods get addresses from the node's pod CIDR");
            return Some(cidr);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Keeps checking every `period` until the node has a pod CIDR.
pub async fn watch(
    client: Arc<dyn Client>,
    runtime: Arc<dyn Runtime>,
    node: String,
    period: Duration,
) {
    loop {
        tokio::time::sleep(period).await;
        if let Some(cidr) = check(&client, runtime.as_ref(), &node).await {
            tracing::info!(node, pod_cidr = %cidr, "the node has a pod CIDR now: new pods get addresses from it");
            return;
        }
    }
}
