//! `skiff node`: node agents (skiff-node) against an API server reached over HTTPS
//! from a kubeconfig: one real node running pods as host processes, or many hollow
//! nodes on the simulated runtime, until Ctrl-C or SIGTERM.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use skiff_core::client::https::{ClusterAccess, HttpsClient, KubeconfigError};
use skiff_core::client::Client;
use skiff_node::fleet::{node_names, Fleet, FleetConfig, NodeServing, RuntimeKind};

/// How often readiness is checked while waiting for the nodes.
const READY_POLL: Duration = Duration::from_millis(500);

/// The `--runtime` flag of `skiff node` and `skiff up`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RuntimeArg {
    /// Containers are processes: as root, each in its own mount, PID, UTS and IPC
    /// namespaces with cgroup limits; otherwise host processes. An image not in the
    /// node's store runs the container's command with the host's file system.
    Process,
    /// Simulated containers, no processes: hollow nodes for scale tests.
    Sim,
}

impl From<RuntimeArg> for RuntimeKind {
    fn from(arg: RuntimeArg) -> Self {
        match arg {
            RuntimeArg::Process => RuntimeKind::Process,
            RuntimeArg::Sim => RuntimeKind::Sim,
        }
    }
}

/// Flags of `skiff node`, named as the kubelet's.
#[derive(Args, Debug)]
pub struct NodeArgs {
    /// Kubeconfig of the API server (for a node, one issued by
    /// `skiff kubeconfig --user system:node:NAME --group system:nodes`).
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// The Node's name (default: the host name for one process node,
    /// skiff-node-N or hollow-node-N for several). With --count N, the nodes are
    /// NAME-1 ... NAME-N.
    #[arg(long)]
    pub node_name: Option<String>,
    /// Where the pods' containers run.
    #[arg(long, value_enum, default_value_t = RuntimeArg::Process)]
    pub runtime: RuntimeArg,
    /// How many node agents to run in this process (meant for hollow nodes:
    /// `--runtime sim --count 500`).
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// A directory of static pod manifests (YAML or JSON) to run even with no API
    /// server; their mirror pods are published when it is reachable.
    #[arg(long)]
    pub pod_manifest_path: Option<PathBuf>,
    /// Directory for the pods' working directories, logs and images (DIR/NODE-NAME).
    #[arg(long, default_value = ".skiff/node")]
    pub data_dir: PathBuf,
    /// The cluster's pod range, when the controller manager runs with
    /// --allocate-node-cidrs: process nodes wait for their pod CIDR before starting
    /// pods, and masquerade pod traffic leaving this range (see
    /// docs/networking.md). Without it pods still get addresses once the node has a
    /// pod CIDR.
    #[arg(long)]
    pub cluster_cidr: Option<String>,
}

/// Why `skiff node` could not run.
#[derive(Debug, thiserror::Error)]
pub enum NodeCmdError {
    /// The kubeconfig could not be loaded.
    #[error("cannot use the kubeconfig: {0}")]
    Client(#[from] skiff_core::client::ClientError),
    /// The kubeconfig's cluster CA could not be read.
    #[error("cannot read the kubeconfig: {0}")]
    Kubeconfig(#[from] KubeconfigError),
    /// `--count 0`.
    #[error("--count must be at least 1")]
    NoNodes,
    /// `--cluster-cidr` is not an IPv4 CIDR.
    #[error("--cluster-cidr {0:?} is not an IPv4 CIDR")]
    ClusterCidr(String),
    /// The signal handlers could not be installed.
    #[error("installing signal handlers: {0}")]
    Signal(std::io::Error),
}

/// Runs the agents until Ctrl-C or SIGTERM, then stops their pods.
pub async fn run(args: NodeArgs) -> Result<(), NodeCmdError> {
    if args.count == 0 {
        return Err(NodeCmdError::NoNodes);
    }
    let client: Arc<dyn Client> = Arc::new(HttpsClient::from_kubeconfig(&args.kubeconfig)?);
    let names = node_names(args.node_name.as_deref(), args.count, args.runtime.into());
    tracing::info!(nodes = names.len(), runtime = ?args.runtime, "starting node agents");
    // The node servers (logs, exec, port-forward) let in client certificates of the
    // cluster CA that the kubeconfig trusts: the API server's kubelet client.
    let cluster_ca = ClusterAccess::from_kubeconfig(&args.kubeconfig)?.ca_pem;
    let mut config = FleetConfig::new(args.runtime.into(), names, args.data_dir);
    config.pod_manifest_path = args.pod_manifest_path;
    if let Some(cidr) = &args.cluster_cidr {
        config.cluster_cidr = Some(
            cidr.parse()
                .map_err(|_| NodeCmdError::ClusterCidr(cidr.clone()))?,
        );
    }
    match String::from_utf8(cluster_ca) {
        Ok(client_ca_pem) if !client_ca_pem.trim().is_empty() => {
            config = config.serving(NodeServing {
                bind_ip: IpAddr::from([127, 0, 0, 1]),
                client_ca_pem,
            });
        }
        _ => tracing::warn!("the kubeconfig names no cluster CA: no logs, exec or port-forward"),
    }
    let fleet = Fleet::start(client.clone(), config).await;
    // One listener from start to end: a signal between "nodes ready" and a second
    // listener would be lost.
    let signal = crate::store::wait_for_signal();
    tokio::pin!(signal);
    tokio::select! {
        () = wait_until_ready(&fleet, &client) => {}
        signal = &mut signal => {
            return stop(fleet, signal.map_err(NodeCmdError::Signal)?).await;
        }
    }
    let signal = signal.await.map_err(NodeCmdError::Signal)?;
    stop(fleet, signal).await
}

async fn stop(fleet: Fleet, signal: &str) -> Result<(), NodeCmdError> {
    tracing::info!(signal, "stopping the node agents and their pods");
    fleet.stop().await;
    tracing::info!("stopped");
    Ok(())
}

/// Returns once the API server reports every node of `fleet` Ready, logging "nodes
/// ready"; logs progress every few seconds before that.
pub async fn wait_until_ready(fleet: &Fleet, client: &Arc<dyn Client>) {
    let mut polls = 0u32;
    loop {
        match fleet.ready_count(client).await {
            Ok(ready) if ready == fleet.len() => break,
            Ok(ready) if polls % 20 == 19 => {
                tracing::info!(
                    ready,
                    nodes = fleet.len(),
                    "waiting for the nodes to be Ready"
                );
            }
            Err(e) if polls % 20 == 19 => tracing::info!("waiting for the API server: {e}"),
            _ => {}
        }
        polls = polls.wrapping_add(1);
        tokio::time::sleep(READY_POLL).await;
    }
    tracing::info!(nodes = fleet.len(), "nodes ready");
}
