//! [`ControllerManager`]: runs the enabled controllers in one process over one shared
//! client, optionally only while holding a leader-election Lease.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use skiff_controllers::manager::{ControllerManager, Kind};
//! use skiff_core::runtime::leader::LeaseConfig;
//! ControllerManager::new(client)
//!     .only(&[Kind::ReplicaSet, Kind::GarbageCollector])
//!     .leader_election("host-a", LeaseConfig::default())
//!     .run()
//!     .await;
//! # }
//! ```

use std::sync::Arc;

use futures::StreamExt;
use skiff_core::client::Client;
use skiff_core::runtime::leader::{LeaderElector, LeaseConfig, Outcome};
use tokio::task::JoinSet;

/// The Lease the managers elect their leader with (`kube-system/{LEASE_NAME}`).
pub const LEASE_NAME: &str = "skiff-controller-manager";
/// The namespace of that Lease.
pub const LEASE_NAMESPACE: &str = "kube-system";

/// A controller the manager can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// [`crate::namespace`].
    Namespace,
    /// [`crate::gc`].
    GarbageCollector,
    /// [`crate::replicaset`].
    ReplicaSet,
    /// [`crate::deployment`].
    Deployment,
    /// [`crate::job`].
    Job,
    /// [`crate::cronjob`].
    CronJob,
    /// [`crate::statefulset`].
    StatefulSet,
    /// [`crate::daemonset`].
    DaemonSet,
    /// [`crate::endpoints::run_endpoints`].
    Endpoints,
    /// [`crate::endpoints::run_slices`].
    EndpointSlice,
    /// [`crate::serviceaccount`].
    ServiceAccount,
    /// [`crate::node_lifecycle`].
    NodeLifecycle,
    /// [`crate::node_ipam`] (only with [`Settings::node_ipam`] set).
    NodeIpam,
    /// [`crate::disruption`].
    Disruption,
    /// [`crate::podgc`].
    PodGarbageCollector,
}

impl Kind {
    /// Every controller, in start order.
    pub const ALL: [Kind; 15] = [
        Kind::Namespace,
        Kind::GarbageCollector,
        Kind::ReplicaSet,
        Kind::Deployment,
        Kind::Job,
        Kind::CronJob,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Endpoints,
        Kind::EndpointSlice,
        Kind::ServiceAccount,
        Kind::NodeLifecycle,
        Kind::NodeIpam,
        Kind::Disruption,
        Kind::PodGarbageCollector,
    ];

    /// The name used in flags and logs (Kubernetes' controller names).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Namespace => "namespace",
            Kind::GarbageCollector => "garbagecollector",
            Kind::ReplicaSet => "replicaset",
            Kind::Deployment => "deployment",
            Kind::Job => "job",
            Kind::CronJob => "cronjob",
            Kind::StatefulSet => "statefulset",
            Kind::DaemonSet => "daemonset",
            Kind::Endpoints => "endpoints",
            Kind::EndpointSlice => "endpointslice",
            Kind::ServiceAccount => "serviceaccount",
            Kind::NodeLifecycle => "nodelifecycle",
            Kind::NodeIpam => "nodeipam",
            Kind::Disruption => "disruption",
            Kind::PodGarbageCollector => "podgc",
        }
    }

    /// The controller named `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The settings of the controllers that have some (kube-controller-manager's flags).
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// The node lifecycle controller's periods.
    pub node_lifecycle: crate::node_lifecycle::Config,
    /// The cluster CIDR node IPAM allocates from; `None` (the default, as
    /// `--allocate-node-cidrs=false`) leaves nodes' pod CIDRs alone.
    pub node_ipam: Option<crate::node_ipam::Config>,
    /// The pod garbage collector's settings.
    pub podgc: crate::podgc::Config,
}

/// The controllers of a cluster, run together.
pub struct ControllerManager {
    client: Arc<dyn Client>,
    enabled: Vec<Kind>,
    election: Option<(String, LeaseConfig)>,
    settings: Settings,
}

impl ControllerManager {
    /// Every controller, no leader election.
    pub fn new(client: Arc<dyn Client>) -> Self {
        ControllerManager {
            client,
            enabled: Kind::ALL.to_vec(),
            election: None,
            settings: Settings::default(),
        }
    }

    /// Uses `settings` for the controllers that have some.
    #[must_use]
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Runs only `kinds`.
    #[must_use]
    pub fn only(mut self, kinds: &[Kind]) -> Self {
        self.enabled = kinds.to_vec();
        self
    }

    /// Acts only while holding the Lease `kube-system/skiff-controller-manager`, as
    /// `identity`.
    #[must_use]
    pub fn leader_election(mut self, identity: &str, config: LeaseConfig) -> Self {
        self.election = Some((identity.to_owned(), config));
        self
    }

    /// Runs the controllers (until dropped). With leader election, returns when
    /// leadership is lost (a manager that lost its lease should exit, as
    /// kube-controller-manager does, and be restarted).
    pub async fn run(self) {
        let controllers = run_controllers(self.client.clone(), self.enabled, self.settings);
        match self.election {
            None => controllers.await,
            Some((identity, config)) => {
                let elector =
                    LeaderElector::new(self.client, LEASE_NAMESPACE, LEASE_NAME, &identity, config);
                if elector.run(controllers).await == Outcome::LostLeadership {
                    tracing::error!(%identity, "leadership lost; controllers stopped");
                }
            }
        }
    }
}

async fn run_controllers(client: Arc<dyn Client>, enabled: Vec<Kind>, settings: Settings) {
    let mut tasks = JoinSet::new();
    for kind in enabled {
        let client = client.clone();
        tracing::info!(controller = kind.name(), "starting");
        match kind {
            Kind::Namespace => {
                tasks.spawn(drain(crate::namespace::run(client)));
            }
            Kind::GarbageCollector => {
                tasks.spawn(crate::gc::GarbageCollector::new(client).run());
            }
            Kind::ReplicaSet => {
                tasks.spawn(drain(crate::replicaset::run(client)));
            }
            Kind::Deployment => {
                tasks.spawn(drain(crate::deployment::run(client)));
            }
            Kind::Job => {
                tasks.spawn(drain(crate::job::run(client, Default::default())));
            }
            Kind::CronJob => {
                tasks.spawn(drain(crate::cronjob::run(client, Default::default())));
            }
            Kind::StatefulSet => {
                tasks.spawn(drain(crate::statefulset::run(client)));
            }
            Kind::DaemonSet => {
                tasks.spawn(drain(crate::daemonset::run(client)));
            }
            Kind::Endpoints => {
                tasks.spawn(drain(crate::endpoints::run_endpoints(client)));
            }
            Kind::EndpointSlice => {
                tasks.spawn(drain(crate::endpoints::run_slices(client)));
            }
            Kind::ServiceAccount => {
                tasks.spawn(drain(crate::serviceaccount::run(client)));
            }
            Kind::NodeLifecycle => {
                let controller = crate::node_lifecycle::NodeLifecycleController::new(client)
                    .config(settings.node_lifecycle);
                tasks.spawn(controller.run());
            }
            Kind::Disruption => {
                tasks.spawn(drain(crate::disruption::run(client)));
            }
            Kind::PodGarbageCollector => {
                let gc = crate::podgc::PodGc::new(client).config(settings.podgc);
                tasks.spawn(gc.run());
            }
            Kind::NodeIpam => match settings.node_ipam {
                None => tracing::info!("node CIDR allocation is off; nodeipam idle"),
                Some(config) => match crate::node_ipam::run(client, config) {
                    Ok(results) => {
                        tasks.spawn(drain(results));
                    }
                    Err(e) => tracing::error!(error = %e, "nodeipam not started"),
                },
            },
        }
    }
    while tasks.join_next().await.is_some() {}
}

/// Consumes a controller's results, logging failures.
async fn drain<T, E: std::fmt::Display>(
    mut results: futures::stream::BoxStream<'static, Result<T, E>>,
) {
    while let Some(r) = results.next().await {
        if let Err(e) = r {
            tracing::warn!(error = %e, "reconcile failed");
        }
    }
}
