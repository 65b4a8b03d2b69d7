//! The node agents of one program: N agents on the process runtime (real host
//! processes) or on the simulated one (hollow nodes), started and stopped together,
//! as `skiff up` and `skiff node` run them.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use skiff_node::fleet::{node_names, Fleet, FleetConfig, RuntimeKind};
//! let names = node_names(None, 50, RuntimeKind::Sim); // hollow-node-1 ... hollow-node-50
//! let fleet = Fleet::start(client.clone(), FleetConfig::new(RuntimeKind::Sim, names, ".skiff/nodes".into())).await;
//! while fleet.ready_count(&client).await.unwrap_or(0) < fleet.len() {
//!     tokio::time::sleep(std::time::Duration::from_millis(500)).await;
//! }
//! fleet.stop().await; // the pods' containers are stopped
//! # }
//! ```

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;
use skiff_core::client::{Api, Client, ClientError, ListParams};

use crate::agent::{AgentConfig, NodeAgent, NodeResources, RunningAgent};
use crate::process::{ProcessRuntime, ProcessRuntimeConfig};
use crate::server::{NodeServer, NodeServerConfig};
use crate::sim::SimRuntime;

/// Which runtime the agents run their pods on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeKind {
    /// Each container a host process ([`crate::process`]).
    Process,
    /// No processes: hollow nodes for scale tests ([`crate::sim`]).
    Sim,
}

/// What to start.
#[derive(Clone, Debug)]
pub struct FleetConfig {
    /// The runtime of every agent.
    pub runtime: RuntimeKind,
    /// One agent per name.
    pub names: Vec<String>,
    /// The process runtime keeps each node's pods, logs and images under
    /// `data_dir/NAME` (unused by hollow nodes).
    pub data_dir: PathBuf,
    /// Whether and how process nodes serve logs, exec and port-forward to the API
    /// server ([`crate::server`]); hollow nodes never do.
    pub serving: Option<NodeServing>,
    /// A directory of static pod manifests every agent runs (the kubelet's
    /// `--pod-manifest-path`), even with no API server.
    pub pod_manifest_path: Option<PathBuf>,
    /// The cluster's pod range (`--cluster-cidr`) when the controller manager gives
    /// nodes pod CIDRs from it (`--allocate-node-cidrs`): process nodes then wait for
    /// their node's pod CIDR before starting pods, give each pod an address of its
    /// own (see [`crate::process::network`]) and masquerade pod traffic leaving it.
    pub cluster_cidr: Option<ipnet::Ipv4Net>,
}

/// How the agents' servers listen and whom they let in.
#[derive(Clone, Debug)]
pub struct NodeServing {
    /// The address each server listens on (a free port each, published in the Node's
    /// `status.daemonEndpoints`).
    pub bind_ip: IpAddr,
    /// Client certificates signed by this CA (PEM; the cluster CA, which signs the API
    /// server's kubelet client certificate) are let in.
    pub client_ca_pem: String,
}

impl FleetConfig {
    /// Agents named `names` on `runtime`, with their files under `data_dir`.
    pub fn new(runtime: RuntimeKind, names: Vec<String>, data_dir: PathBuf) -> Self {
        FleetConfig {
            runtime,
            names,
            data_dir,
            serving: None,
            pod_manifest_path: None,
            cluster_cidr: None,
        }
    }

    /// Process nodes also serve logs, exec and port-forward ([`NodeServing`]).
    #[must_use]
    pub fn serving(mut self, serving: NodeServing) -> Self {
        self.serving = Some(serving);
        self
    }
}

/// The names of `count` nodes: with one process node and no `base`, the host name (as
/// a kubelet names its node); otherwise `BASE-1` ... `BASE-N` (default base
/// `skiff-node`, or `hollow-node` for hollow nodes); exactly `base` for one node.
pub fn node_names(base: Option<&str>, count: usize, runtime: RuntimeKind) -> Vec<String> {
    if count == 1 {
        if let Some(base) = base {
            return vec![base.to_owned()];
        }
        if runtime == RuntimeKind::Process {
            if let Some(host) = host_name() {
                return vec![host];
            }
        }
    }
    let base = base.unwrap_or(match runtime {
        RuntimeKind::Process => "skiff-node",
        RuntimeKind::Sim => "hollow-node",
    });
    (1..=count).map(|i| format!("{base}-{i}")).collect()
}

/// This machine's host name, if it is a valid node name (a lowercase DNS subdomain).
fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim().to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    valid.then_some(name)
}

/// Started agents.
pub struct Fleet {
    agents: Vec<(String, RunningAgent)>,
    servers: Vec<NodeServer>,
    /// When the agents started, in whole seconds since the epoch (the precision of a
    /// heartbeat time): a Ready condition older than this is a previous run's.
    started: i64,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("nodes", &self.names())
            .finish()
    }
}

impl Fleet {
    /// Starts one agent per name on the current tokio runtime, each with its own
    /// runtime instance (and, for process nodes with [`FleetConfig::serving`], its own
    /// node server; one that cannot start is logged and its node runs without).
    pub async fn start(client: Arc<dyn Client>, config: FleetConfig) -> Fleet {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        if config.runtime == RuntimeKind::Process {
            if let Err(e) = std::fs::create_dir_all(&config.data_dir) {
                tracing::warn!(dir = %config.data_dir.display(), error = %e, "cannot create the nodes' directory");
            }
        }
        let mut agents = Vec::with_capacity(config.names.len());
        let mut servers = Vec::new();
        for (i, name) in config.names.iter().enumerate() {
            let mut agent = AgentConfig::new(name);
            agent.pod_manifest_path = config.pod_manifest_path.clone();
            let runtime: Arc<dyn crate::runtime::Runtime> = match config.runtime {
                RuntimeKind::Process => {
                    let root = config.data_dir.join(name);
                    agent.resources = NodeResources::from_machine(&config.data_dir);
                    let mut runtime = ProcessRuntimeConfig::new(root);
                    runtime.cluster_cidr = config.cluster_cidr;
                    if config.cluster_cidr.is_some() {
                        // The node IPAM controller answers within a second or so.
                        agent.pod_cidr_wait = std::time::Duration::from_secs(30);
                    }
                    Arc::new(ProcessRuntime::new(runtime))
                }
                RuntimeKind::Sim => {
                    agent.resources = NodeResources::hollow();
                    Arc::new(SimRuntime::with_ip_prefix(&hollow_ip_prefix(i)))
                }
            };
            if let (RuntimeKind::Process, Some(serving)) = (config.runtime, &config.serving) {
                let mut server_config = NodeServerConfig::new(name);
                server_config.bind = SocketAddr::new(serving.bind_ip, 0);
                server_config.hosts.push(serving.bind_ip.to_string());
                server_config.client_ca_pem = Some(serving.client_ca_pem.clone());
                match NodeServer::start(runtime.clone(), server_config).await {
                    Ok(server) => {
                        agent.kubelet_port = Some(server.local_addr().port());
                        servers.push(server);
                    }
                    Err(e) => tracing::warn!(
                        node = %name, error = %e,
                        "the node server did not start: no logs, exec or port-forward for this node"
                    ),
                }
            }
            let running = NodeAgent::new(client.clone(), runtime, agent).start();
            agents.push((name.clone(), running));
        }
        Fleet {
            agents,
            servers,
            started,
        }
    }

    /// The nodes' names.
    pub fn names(&self) -> Vec<&str> {
        self.agents.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// How many agents there are.
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    /// How many of this fleet's nodes the API server reports Ready with a heartbeat
    /// from this run (a node stopped while Ready still says so until the node
    /// lifecycle controller notices).
    pub async fn ready_count(&self, client: &Arc<dyn Client>) -> Result<usize, ClientError> {
        let names: HashSet<&str> = self.names().into_iter().collect();
        let nodes = Api::<Node>::all(client.clone())
            .list(&ListParams::default())
            .await?;
        Ok(nodes
            .items
            .iter()
            .filter(|n| {
                n.metadata
                    .name
                    .as_deref()
                    .is_some_and(|m| names.contains(m))
            })
            .filter(|n| ready_since(n, self.started))
            .count())
    }

    /// Stops every agent at once: heartbeats end and each pod's containers are
    /// stopped (their processes are gone when this returns).
    pub async fn stop(self) {
        futures::future::join_all(self.servers.into_iter().map(NodeServer::stop)).await;
        futures::future::join_all(self.agents.into_iter().map(|(_, a)| a.stop())).await;
    }
}

/// Whether the node's `Ready` condition is `True` with a heartbeat at or after
/// `since` (seconds since the epoch).
fn ready_since(node: &Node, since: i64) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.type_ == "Ready"
                    && c.status == "True"
                    && c.last_heartbeat_time
                        .as_ref()
                        .is_some_and(|t| t.0.as_second() >= since)
            })
        })
}

/// A distinct /24 of pod IPs for the hollow node at `index`.
fn hollow_ip_prefix(index: usize) -> String {
    format!("10.{}.{}", 128 + (index / 256) % 128, index % 256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_count_and_runtime() {
        assert_eq!(
            node_names(None, 2, RuntimeKind::Process),
            ["skiff-node-1", "skiff-node-2"]
        );
        assert_eq!(node_names(None, 1, RuntimeKind::Sim), ["hollow-node-1"]);
        assert_eq!(node_names(Some("n"), 1, RuntimeKind::Sim), ["n"]);
        assert_eq!(node_names(Some("n"), 2, RuntimeKind::Sim), ["n-1", "n-2"]);
        let one = node_names(None, 1, RuntimeKind::Process);
        assert_eq!(one.len(), 1);
        assert!(!one[0].is_empty());
        assert!(node_names(None, 0, RuntimeKind::Process).is_empty());
    }

    #[test]
    fn only_a_fresh_ready_heartbeat_counts() {
        let node = |status: &str, at: &str| -> Node {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "n"},
                "status": {"conditions": [
                    {"type": "Ready", "status": status, "lastHeartbeatTime": at}
                ]}
            }))
            .unwrap()
        };
        let t = 1_700_000_000; // 2023-11-14T22:13:20Z
        assert!(ready_since(&node("True", "2023-11-14T22:13:20Z"), t));
        assert!(!ready_since(&node("True", "2023-11-14T22:13:19Z"), t));
        assert!(!ready_since(&node("False", "2023-11-14T22:13:30Z"), t));
        assert!(!ready_since(&Node::default(), t));
    }

    #[test]
    fn hollow_nodes_get_distinct_prefixes() {
        let prefixes: HashSet<String> = (0..5000).map(hollow_ip_prefix).collect();
        assert_eq!(prefixes.len(), 5000);
    }
}
