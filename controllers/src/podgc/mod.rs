//! The pod garbage collector (Kubernetes' `podgc`): deletes the pods nobody else
//! will.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use skiff_controllers::podgc::{Config, PodGc};
//! let config = Config { terminated_pod_gc_threshold: 500, ..Config::default() };
//! PodGc::new(client).config(config).run().await;
//! # }
//! ```
//!
//! # What it deletes, every [`Config::gc_check_period`]
//! - **Terminated pods beyond the threshold**: when more than
//!   [`Config::terminated_pod_gc_threshold`] pods (12,500 by default, 0 for never) have
//!   finished (`Succeeded` or `Failed`), the oldest of them, by creation time.
//! - **Orphaned pods**: pods bound to a node that does not exist. A node missing from
//!   the cache is quarantined for [`Config::quarantine`] (40 s) and then read from the
//!   API server; if it is really gone, each of its pods gets the `DisruptionTarget`
//!   condition (reason `DeletionByPodGC`) and phase `Failed` (no agent is left to set
//!   it), and is deleted at once (grace period 0).
//! - **Unscheduled terminating pods**: pods being deleted that were never bound to a
//!   node (no agent will finish their deletion): marked `Failed` and deleted at once.
//!
//! Pods are deleted with a uid precondition, [`PARALLELISM`] at a time.

pub mod plan;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;
use skiff_core::client::{Api, Client, ClientError, DeleteParams, Patch, PatchParams};
use skiff_core::runtime::reflector::{self, Store, Writer};
use tokio::time::Instant;

use crate::disruption_target::{self, is_terminal, Mark};

/// Deletions in flight at once (Kubernetes' podgc uses 20 workers).
pub const PARALLELISM: usize = 20;

/// The collector's settings (kube-controller-manager's flags and constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Terminated pods kept before the oldest are deleted
    /// (`--terminated-pod-gc-threshold`, 12,500; 0 turns the rule off).
    pub terminated_pod_gc_threshold: usize,
    /// How often the collector looks (20 s, Kubernetes' `gcCheckPeriod`).
    pub gc_check_period: Duration,
    /// How long a node must be missing from the cache before its pods are collected
    /// (40 s, Kubernetes' `quarantineTime`).
    pub quarantine: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            terminated_pod_gc_threshold: 12_500,
            gc_check_period: Duration::from_secs(20),
            quarantine: Duration::from_secs(40),
        }
    }
}

/// What a pass failed with (logged; the next pass retries).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A client call failed.
    #[error("{action} {pod}: {source}")]
    Client {
        /// What was being done.
        action: &'static str,
        /// The pod (or node) concerned.
        pod: String,
        /// The client error.
        #[source]
        source: ClientError,
    },
}

/// What one pass deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Collected {
    /// Terminated pods beyond the threshold.
    pub terminated: usize,
    /// Pods of nodes that no longer exist.
    pub orphaned: usize,
    /// Unscheduled pods being deleted.
    pub unscheduled: usize,
}

/// The pod garbage collector; see the module docs.
pub struct PodGc {
    client: Arc<dyn Client>,
    config: Config,
}

impl PodGc {
    /// The collector with Kubernetes' defaults.
    pub fn new(client: Arc<dyn Client>) -> Self {
        PodGc {
            client,
            config: Config::default(),
        }
    }

    /// Uses `config`.
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Runs until dropped.
    pub async fn run(self) {
        let pod_writer = Writer::<Pod>::default();
        let node_writer = Writer::<Node>::default();
        let pods = pod_writer.as_reader();
        let nodes = node_writer.as_reader();
        let pod_events = reflector::watch_all(self.client.clone(), pod_writer);
        let node_events = reflector::watch_all(self.client.clone(), node_writer);
        let caches = futures::future::join(
            pod_events.for_each(|_| async {}),
            node_events.for_each(|_| async {}),
        );
        let collector = async {
            if pods.wait_until_ready().await.is_err() || nodes.wait_until_ready().await.is_err() {
                return;
            }
            let mut quarantined = HashMap::new();
            loop {
                match pass(&self.client, &self.config, &pods, &nodes, &mut quarantined).await {
                    Ok(c) if c != Collected::default() => {
                        tracing::info!(?c, "pod garbage collection");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pod garbage collection failed"),
                }
                tokio::time::sleep(self.config.gc_check_period).await;
            }
        };
        tokio::select! {
            _ = caches => {}
            () = collector => {}
        }
    }
}

/// One pass over the caches. `quarantined` remembers since when each node has been
/// missing.
pub async fn pass(
    client: &Arc<dyn Client>,
    config: &Config,
    pods: &Store<Pod>,
    nodes: &Store<Node>,
    quarantined: &mut HashMap<String, Instant>,
) -> Result<Collected, Error> {
    let all = pods.list();
    let mut collected = Collected::default();

    let doomed = plan::terminated_over_threshold(&all, config.terminated_pod_gc_threshold);
    collected.terminated = delete_all(client, doomed, None).await?;

    let known: HashSet<String> = nodes
        .list()
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    let missing = plan::missing_nodes(&all, &known);
    quarantined.retain(|node, _| missing.contains(node));
    let now = Instant::now();
    for node in missing {
        let since = *quarantined.entry(node.clone()).or_insert(now);
        if now.saturating_duration_since(since) < config.quarantine {
            continue;
        }
        // The cache may be behind: ask the server before deleting anything.
        let api: Api<Node> = Api::all(client.clone());
        let exists = api
            .get_opt(&node)
            .await
            .map_err(|source| Error::Client {
                action: "reading node",
                pod: node.clone(),
                source,
            })?
            .is_some();
        quarantined.remove(&node);
        if exists {
            continue;
        }
        let mark = Mark {
            reason: disruption_target::POD_GC,
            message: "PodGC: node no longer exists",
            fail: true,
        };
        collected.orphaned += delete_all(client, plan::pods_on(&all, &node), Some(mark)).await?;
    }

    let stuck = plan::unscheduled_terminating(&all);
    for pod in stuck.iter().filter(|p| !is_terminal(p)) {
        mark_failed(client, pod).await?;
    }
    collected.unscheduled = delete_all(client, stuck, None).await?;
    Ok(collected)
}

fn pod_name(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Sets a pod's phase to `Failed`.
async fn mark_failed(client: &Arc<dyn Client>, pod: &Pod) -> Result<(), Error> {
    let api: Api<Pod> = Api::namespaced(
        client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
    );
    let patch = json!({"status": {"phase": "Failed"}});
    match api
        .patch_status(
            pod.metadata.name.as_deref().unwrap_or_default(),
            &Patch::Merge(patch),
            &PatchParams::default(),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(source) => Err(Error::Client {
            action: "marking failed",
            pod: pod_name(pod),
            source,
        }),
    }
}

/// Force-deletes `doomed` (grace period 0, uid precondition), after marking each with
/// `mark` if given. Returns how many it deleted.
async fn delete_all(
    client: &Arc<dyn Client>,
    doomed: Vec<Arc<Pod>>,
    mark: Option<Mark<'_>>,
) -> Result<usize, Error> {
    let results: Vec<Result<bool, Error>> = futures::stream::iter(doomed)
        .map(|pod| async move {
            if let Some(m) = &mark {
                disruption_target::mark(client, &pod, m)
                    .await
                    .map_err(|source| Error::Client {
                        action: "marking",
                        pod: pod_name(&pod),
                        source,
                    })?;
            }
            let api: Api<Pod> = Api::namespaced(
                client.clone(),
                pod.metadata.namespace.as_deref().unwrap_or_default(),
            );
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                precondition_uid: pod.metadata.uid.clone(),
                ..DeleteParams::default()
            };
            match api
                .delete(pod.metadata.name.as_deref().unwrap_or_default(), &params)
                .await
            {
                Ok(_) => {
                    tracing::info!(pod = %pod_name(&pod), "pod garbage collected");
                    Ok(true)
                }
                Err(e) if e.is_not_found() || e.is_conflict() => Ok(false),
                Err(source) => Err(Error::Client {
                    action: "deleting",
                    pod: pod_name(&pod),
                    source,
                }),
            }
        })
        .buffer_unordered(PARALLELISM)
        .collect()
        .await;
    let mut deleted = 0;
    for r in results {
        if r? {
            deleted += 1;
        }
    }
    Ok(deleted)
}
