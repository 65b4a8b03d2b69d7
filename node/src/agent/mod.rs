//! The node agent: registers the Node, heartbeats, and runs the pods bound to it on a
//! runtime.
//!
//! [`NodeAgent::start`] spawns three kinds of tasks: the heartbeat (Lease renewals and
//! node status), the pod source (list + watch of `spec.nodeName=<node>`) and one
//! [`worker::PodWorker`] per pod. It reaches the cluster only through the client
//! trait, so it runs the same in-process, against a remote API server, or against a
//! real Kubernetes cluster. The workers record the kubelet's events about their pods
//! (Pulled, Created, Started, Killing, BackOff, Unhealthy, FailedMount, ...; see
//! [`events`]) unless [`AgentConfig::record_events`] is off.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use std::sync::Arc;
//! use skiff_node::agent::{AgentConfig, NodeAgent, NodeResources};
//! use skiff_node::sim::SimRuntime;
//!
//! let mut config = AgentConfig::new("hollow-1");
//! config.resources = NodeResources::hollow();
//! config.pressure_thresholds = None; // not the host's pressure
//! let agent = NodeAgent::new(client, Arc::new(SimRuntime::new()), config).start();
//! // ... pods bound to hollow-1 now run in the simulated runtime ...
//! agent.stop().await;
//! # }
//! ```

mod backoff;
pub mod env;
pub mod events;
pub mod heartbeat;
pub mod hooks;
pub mod limits;
pub mod node_object;
pub mod pod_cidr;
pub mod pod_source;
pub mod pod_status;
pub mod pressure;
pub mod probe;
pub mod static_pods;
pub mod volumes;
pub mod worker;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use skiff_core::client::Client;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use backoff::RestartBackoff;
pub use node_object::NodeResources;
use pod_source::PodEvent;

use crate::runtime::Runtime;

/// The agent's settings.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The Node's name.
    pub node_name: String,
    /// The node's InternalIP (also the `hostIP` of its pods).
    pub node_ip: String,
    /// Labels added to the standard ones.
    pub labels: BTreeMap<String, String>,
    /// Capacity (= allocatable).
    pub resources: NodeResources,
    /// How often the Lease is renewed (10 s, as the kubelet).
    pub lease_interval: Duration,
    /// The Lease's `leaseDurationSeconds` (40, as the kubelet).
    pub lease_duration_seconds: i32,
    /// How often the node's status is reported.
    pub status_interval: Duration,
    /// How often each pod is synced when nothing changes (its containers' exits are
    /// noticed within this).
    pub sync_period: Duration,
    /// CrashLoopBackOff delays.
    pub backoff: RestartBackoff,
    /// The agent's data directory: pods' volumes live in `pods/<uid>/volumes`, and
    /// DiskPressure watches its file system.
    pub root_dir: std::path::PathBuf,
    /// How often configMap, secret, downwardAPI and projected volumes are rewritten
    /// from the API (the kubelet's sync period plus cache TTL is about a minute).
    pub volume_refresh: Duration,
    /// A directory of static pod manifests (`--pod-manifest-path`); `None`: none.
    pub pod_manifest_path: Option<std::path::PathBuf>,
    /// How often the manifest directory is re-read (20 s, as the kubelet).
    pub static_pod_check: Duration,
    /// When MemoryPressure, DiskPressure and PIDPressure turn True; `None`: never
    /// (hollow nodes do not report the host's pressure).
    pub pressure_thresholds: Option<pressure::Thresholds>,
    /// The port of the agent's server ([`crate::server::NodeServer`]), published in
    /// `status.daemonEndpoints.kubeletEndpoint.Port` for the API server to reach
    /// logs, exec and port-forward; `None` when it runs none.
    pub kubelet_port: Option<u16>,
    /// How long the agent waits after registering for the node's `spec.podCIDR`
    /// (from the node IPAM controller) before it starts pods; pods started without
    /// one use the host's network ([`pod_cidr`]). Zero: check once, then keep
    /// looking in the background.
    pub pod_cidr_wait: Duration,
    /// Whether the agent records its events about pods (Pulled, Created, Started,
    /// Killing, BackOff, Unhealthy, ...; [`events`]) as the kubelet does. On by
    /// default.
    pub record_events: bool,
}

impl AgentConfig {
    /// Defaults for `node_name`: loopback address, this machine's resources, the
    /// kubelet's intervals.
    pub fn new(node_name: &str) -> Self {
        AgentConfig {
            node_name: node_name.to_owned(),
            node_ip: "127.0.0.1".into(),
            labels: BTreeMap::new(),
            resources: NodeResources::from_machine(std::path::Path::new("/")),
            lease_interval: Duration::from_secs(10),
            lease_duration_seconds: 40,
            status_interval: Duration::from_secs(60),
            sync_period: Duration::from_secs(1),
            backoff: RestartBackoff::default(),
            root_dir: std::env::temp_dir().join("skiff-node").join(node_name),
            volume_refresh: Duration::from_secs(10),
            pod_manifest_path: None,
            static_pod_check: Duration::from_secs(20),
            pressure_thresholds: Some(pressure::Thresholds::default()),
            kubelet_port: None,
            pod_cidr_wait: Duration::ZERO,
            record_events: true,
        }
    }
}

/// The node agent, before it starts.
pub struct NodeAgent {
    client: Arc<dyn Client>,
    runtime: Arc<dyn Runtime>,
    config: Arc<AgentConfig>,
    events: events::EventSink,
}

/// A started agent.
pub struct RunningAgent {
    shutdown: oneshot::Sender<()>,
    main: JoinHandle<()>,
    source: JoinHandle<()>,
    statics: (oneshot::Sender<()>, JoinHandle<()>),
    events: Option<events::EventWriter>,
}

impl RunningAgent {
    /// Stops the agent: ends its heartbeats and pod watch, tears down the containers
    /// of its pods (Skiff's runtimes keep no state across agent restarts, so nothing
    /// would adopt them) and waits for all of it. Pod objects are left as they are.
    pub async fn stop(self) {
        self.source.abort();
        let _ = self.shutdown.send(());
        let _ = self.statics.0.send(());
        let _ = self.main.await;
        let _ = self.source.await;
        let _ = self.statics.1.await;
        // The pods' last events (their containers stopping) are written, unless the
        // API server does not take them.
        if let Some(writer) = self.events {
            writer.finish(Duration::from_secs(5)).await;
        }
    }
}

impl NodeAgent {
    /// An agent for `config.node_name`, reaching the cluster through `client` and
    /// running pods on `runtime`.
    pub fn new(client: Arc<dyn Client>, runtime: Arc<dyn Runtime>, config: AgentConfig) -> Self {
        NodeAgent {
            client,
            runtime,
            config: Arc::new(config),
            events: events::EventSink::disabled(),
        }
    }

    /// Starts the agent's tasks on the current tokio runtime.
    pub fn start(mut self) -> RunningAgent {
        let mut writer = None;
        if self.config.record_events {
            let (sink, w) = events::EventSink::start(self.client.clone(), &self.config.node_name);
            self.events = sink;
            writer = Some(w);
        }
        let (tx, rx) = mpsc::channel(256);
        let source = tokio::spawn(pod_source::run(
            self.client.clone(),
            self.config.node_name.clone(),
            tx,
        ));
        // Static pods run whether or not the API server answers.
        let (stop_statics, statics_stop) = oneshot::channel();
        let statics = tokio::spawn(static_pods::run(
            self.client.clone(),
            self.runtime.clone(),
            self.config.clone(),
            self.events.clone(),
            statics_stop,
        ));
        let (shutdown, stop) = oneshot::channel();
        let main = tokio::spawn(self.run(rx, stop));
        RunningAgent {
            shutdown,
            main,
            source,
            statics: (stop_statics, statics),
            events: writer,
        }
    }

    async fn run(self, mut events: mpsc::Receiver<PodEvent>, mut stop: oneshot::Receiver<()>) {
        let uid = tokio::select! {
            uid = heartbeat::register(&self.client, &self.config) => uid,
            _ = &mut stop => return,
        };
        tracing::info!(node = %self.config.node_name, "node registered");
        let cidr = tokio::select! {
            cidr = pod_cidr::wait(&self.client, self.runtime.as_ref(), &self.config.node_name, self.config.pod_cidr_wait) => cidr,
            _ = &mut stop => return,
        };
        let cidr_watch = match cidr {
            Some(_) => None,
            None => {
                tracing::info!(
                    node = %self.config.node_name,
                    waited = ?self.config.pod_cidr_wait,
                    "the node has no spec.podCIDR (the controller manager assigns one with --allocate-node-cidrs): pods use the host's network until it has one"
                );
                Some(tokio::spawn(pod_cidr::watch(
                    self.client.clone(),
                    self.runtime.clone(),
                    self.config.node_name.clone(),
                    Duration::from_secs(2),
                )))
            }
        };
        let beat = tokio::spawn(heartbeat::run(
            self.client.clone(),
            self.config.clone(),
            self.runtime.version(),
            uid,
        ));
        let mut workers = Workers::default();
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                _ = &mut stop => None,
            };
            let Some(event) = event else { break };
            match event {
                PodEvent::Restarted(pods) => {
                    let live: HashSet<String> = pods.iter().map(uid_of).collect();
                    workers.forget_except(&live);
                    for pod in pods {
                        self.apply(&mut workers, pod);
                    }
                }
                PodEvent::Applied(pod) => self.apply(&mut workers, pod),
                PodEvent::Deleted(pod) => workers.forget(&uid_of(&pod)),
            }
        }
        beat.abort();
        if let Some(w) = cidr_watch {
            w.abort();
        }
        workers.shutdown().await;
    }

    fn apply(&self, workers: &mut Workers, pod: Pod) {
        let uid = uid_of(&pod);
        // A mirror pod is run by the static pod source, from its manifest.
        if uid.is_empty() || workers.finished.contains(&uid) || static_pods::is_mirror(&pod) {
            return;
        }
        if let Some((tx, handle)) = workers.live.get(&uid) {
            if !handle.is_finished() {
                tx.send_replace(pod);
                return;
            }
            workers.live.remove(&uid);
            workers.finished.insert(uid);
            return;
        }
        let worker = worker::PodWorker::new(
            self.client.clone(),
            self.runtime.clone(),
            self.config.clone(),
            &pod,
        )
        .with_events(self.events.clone(), &pod);
        let (tx, rx) = watch::channel(pod);
        let handle = tokio::spawn(worker.run(rx));
        workers.live.insert(uid, (tx, handle));
    }
}

fn uid_of(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

/// The pod workers by pod uid.
#[derive(Default)]
struct Workers {
    /// Running workers; dropping the sender tells the worker its pod is gone.
    live: HashMap<String, (watch::Sender<Pod>, JoinHandle<()>)>,
    /// Pods whose worker ended (it deleted the pod); later events about them are
    /// ignored until the deletion is observed.
    finished: HashSet<String>,
}

impl Workers {
    fn forget(&mut self, uid: &str) {
        self.live.remove(uid);
        self.finished.remove(uid);
    }

    fn forget_except(&mut self, live: &HashSet<String>) {
        self.live.retain(|uid, _| live.contains(uid));
        self.finished.retain(|uid| live.contains(uid));
    }

    /// Tells every worker its pod is gone and waits for their teardowns.
    async fn shutdown(&mut self) {
        let handles: Vec<JoinHandle<()>> = self.live.drain().map(|(_, (_, h))| h).collect();
        for h in handles {
            let _ = h.await;
        }
    }
}
