//! The node lifecycle controller: notices nodes whose heartbeats stopped, marks them
//! `Unknown`, taints unhealthy nodes, and evicts the pods that do not tolerate the
//! taints.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use std::time::Duration;
//! use skiff_controllers::node_lifecycle::{Config, NodeLifecycleController};
//! let config = Config { node_monitor_grace_period: Duration::from_secs(40), ..Config::default() };
//! NodeLifecycleController::new(client).config(config).run().await;
//! # }
//! ```
//!
//! # What it does
//! - Every [`Config::node_monitor_period`] it looks at each Node and its Lease in
//!   `kube-node-lease`. When neither the lease's `renewTime` nor the `Ready`
//!   condition's `lastHeartbeatTime` has moved for [`Config::node_monitor_grace_period`]
//!   ([`Config::node_startup_grace_period`] for a node that never reported `Ready`),
//!   it sets the node's conditions to `Unknown` (reason `NodeStatusUnknown`, message
//!   "Kubelet stopped posting node status.").
//! - It keeps the taints in step with `Ready` ([`taints`]): `unreachable` for
//!   `Unknown`, `not-ready` for `False`, each `NoExecute` and `NoSchedule`; none when
//!   the node is healthy again.
//! - The taint manager ([`taint_manager`]) deletes pods on `NoExecute`-tainted nodes
//!   once their tolerations run out ([`tolerations`]). The API server gives every pod
//!   300 s tolerations of both taints unless it says otherwise, as Kubernetes'
//!   `DefaultTolerationSeconds` admission does.
//!
//! Times are read from an injectable [`Clock`] ([`NodeLifecycleController::clock`]);
//! heartbeats are judged by when the controller saw them change ([`health`]).

pub mod health;
pub mod taint_manager;
pub mod taints;
pub mod tolerations;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use skiff_core::client::{Api, Client, ClientError, PostParams};
use skiff_core::runtime::events::{Recorder, Reporter};
use skiff_core::runtime::reflector::{self, index, Store, Writer};
use skiff_core::runtime::{Clock, ObjectRef, SystemClock};
use tokio::task::JoinSet;

use health::HealthTracker;

/// The namespace of the nodes' Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// The controller's periods (kube-controller-manager's flags of the same names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// How often nodes are checked (`--node-monitor-period`, 5 s).
    pub node_monitor_period: Duration,
    /// How long a node may go without a heartbeat before it is `Unknown`
    /// (`--node-monitor-grace-period`, 40 s).
    pub node_monitor_grace_period: Duration,
    /// The same for a node that never reported `Ready` (`--node-startup-grace-period`,
    /// 60 s).
    pub node_startup_grace_period: Duration,
    /// How often the taint manager looks for pods whose toleration ran out (1 s).
    pub eviction_check_period: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_monitor_period: Duration::from_secs(5),
            node_monitor_grace_period: Duration::from_secs(40),
            node_startup_grace_period: Duration::from_secs(60),
            eviction_check_period: Duration::from_secs(1),
        }
    }
}

/// What a step of the controller failed with (logged; the next period retries).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A client call failed.
    #[error("{action} (node {node}): {source}")]
    Client {
        /// What was being done.
        action: &'static str,
        /// The node.
        node: String,
        /// The client error.
        #[source]
        source: ClientError,
    },
}

/// The node lifecycle controller; see the module docs.
pub struct NodeLifecycleController {
    client: Arc<dyn Client>,
    config: Config,
    clock: Arc<dyn Clock>,
}

/// The caches the loops read.
#[derive(Clone)]
struct Caches {
    nodes: Store<Node>,
    leases: Store<Lease>,
    pods: Store<Pod>,
}

impl NodeLifecycleController {
    /// The controller with Kubernetes' default periods and the system clock.
    pub fn new(client: Arc<dyn Client>) -> Self {
        NodeLifecycleController {
            client,
            config: Config::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Uses `config`'s periods.
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Reads the time from `clock`.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Runs the controller until dropped.
    pub async fn run(self) {
        let mut tasks = JoinSet::new();
        let node_writer = Writer::<Node>::default();
        let lease_writer = Writer::<Lease>::default();
        let pod_writer = Writer::<Pod>::default().with_index(index::NODE, index::pod_node_name);
        let caches = Caches {
            nodes: node_writer.as_reader(),
            leases: lease_writer.as_reader(),
            pods: pod_writer.as_reader(),
        };
        spawn_reflector(&mut tasks, &self.client, node_writer, None);
        spawn_reflector(
            &mut tasks,
            &self.client,
            lease_writer,
            Some(LEASE_NAMESPACE),
        );
        spawn_reflector(&mut tasks, &self.client, pod_writer, None);

        let recorder = Recorder::new(self.client.clone(), Reporter::new("node-controller"));
        let (client, clock, config) = (self.client.clone(), self.clock.clone(), self.config);
        let c = caches.clone();
        tasks.spawn(async move {
            if c.pods.wait_until_ready().await.is_err() || c.nodes.wait_until_ready().await.is_err()
            {
                return;
            }
            loop {
                if let Err(e) =
                    taint_manager::evict_due(&client, &c.nodes, &c.pods, clock.as_ref(), &recorder)
                        .await
                {
                    tracing::warn!(error = %e, "taint manager pass failed");
                }
                tokio::time::sleep(config.eviction_check_period).await;
            }
        });
        let monitor = Monitor {
            client: self.client.clone(),
            clock: self.clock.clone(),
            config: self.config,
            caches,
            tracker: HealthTracker::default(),
        };
        tasks.spawn(monitor.run());
        while tasks.join_next().await.is_some() {}
    }
}

fn spawn_reflector<K>(
    tasks: &mut JoinSet<()>,
    client: &Arc<dyn Client>,
    writer: Writer<K>,
    namespace: Option<&str>,
) where
    K: skiff_core::runtime::Object + k8s_openapi::Resource,
    K::Scope: 'static,
{
    let events = reflector::watch_namespace(client.clone(), writer, namespace);
    tasks.spawn(events.for_each(|_| async {}));
}

/// The node monitor: heartbeats to conditions, conditions to taints.
struct Monitor {
    client: Arc<dyn Client>,
    clock: Arc<dyn Clock>,
    config: Config,
    caches: Caches,
    tracker: HealthTracker,
}

impl Monitor {
    async fn run(mut self) {
        if self.caches.nodes.wait_until_ready().await.is_err()
            || self.caches.leases.wait_until_ready().await.is_err()
        {
            return;
        }
        loop {
            self.pass().await;
            tokio::time::sleep(self.config.node_monitor_period).await;
        }
    }

    async fn pass(&mut self) {
        let nodes = self.caches.nodes.list();
        let names: HashSet<String> = nodes
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        self.tracker.retain(&names);
        for node in nodes {
            if let Err(e) = self.check(&node).await {
                if matches!(&e, Error::Client { source, .. } if source.is_conflict() || source.is_not_found())
                {
                    tracing::debug!(error = %e, "node changed meanwhile; next pass");
                } else {
                    tracing::warn!(error = %e, "node lifecycle check failed");
                }
            }
        }
    }

    /// Marks the node `Unknown` when silent too long, then brings its taints in step.
    async fn check(&mut self, node: &Node) -> Result<(), Error> {
        let name = node.metadata.name.clone().unwrap_or_default();
        let now = self.clock.now();
        let lease = self
            .caches
            .leases
            .get(&ObjectRef::new(&name).within(LEASE_NAMESPACE));
        let seen = self.tracker.observe(node, lease.as_deref(), now);
        let grace = if health::ready_condition(node).is_some() {
            self.config.node_monitor_grace_period
        } else {
            self.config.node_startup_grace_period
        };
        let silent_ms = now.as_millisecond() - seen.as_millisecond();
        let api: Api<Node> = Api::all(self.client.clone());
        let err = |action| {
            let node = name.clone();
            move |source| Error::Client {
                action,
                node,
                source,
            }
        };
        let mut node = node.clone();
        if silent_ms > i64::try_from(grace.as_millis()).unwrap_or(i64::MAX) {
            if let Some(conditions) = health::conditions_when_silent(&node, now) {
                tracing::info!(node = %name, silent_ms, "node stopped posting status; marking it Unknown");
                node.status.get_or_insert_with(Default::default).conditions = Some(conditions);
                node = api
                    .replace_status(&name, &node, &PostParams::default())
                    .await
                    .map_err(err("marking the node Unknown"))?;
            }
        }
        let ready = health::ready_condition(&node).map(|c| c.status.clone());
        let current = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        if let Some(taints) = taints::desired(&current, ready.as_deref(), now) {
            tracing::info!(node = %name, ready = ?ready, "updating node taints");
            node.spec.get_or_insert_with(Default::default).taints =
                Some(taints).filter(|t| !t.is_empty());
            api.replace(&name, &node, &PostParams::default())
                .await
                .map_err(err("updating taints"))?;
        }
        Ok(())
    }
}
