//! Reconcile throughput of the workload controllers: a Deployment of many replicas
//! brought to "rollout complete" by the controller manager's real ReplicaSet and
//! Deployment controllers, then rolled to a new image.
//!
//! The cluster: an in-process API server (the in-memory store, or the durable redb
//! store as `skiff apiserver` runs it); `nodes` Node objects without agents; the
//! [`ControllerManager`] running only the ReplicaSet and Deployment controllers over
//! the in-process client; a *fake scheduler* that binds each unbound pod to the nodes
//! in turn through `pods/binding`; a *fake node* that marks each bound pod `Running`
//! and `Ready` (a status patch) and finishes the deletion of terminating pods (a
//! delete with grace period 0, as a kubelet does once the containers stopped). Both
//! fakes are small loops over the same client, bounded to [`FAKE_IN_FLIGHT`] calls at
//! once each, so the figures measure the controllers and the API server, not a
//! scheduling algorithm or container starts.
//!
//! Each phase is timed from the write that starts it (the Deployment's create, then
//! the patch of its image) until `kubectl rollout status` would return: the status
//! observed the current generation and `updatedReplicas`, `replicas` and
//! `availableReplicas` all equal `spec.replicas`.
//!
//! ```no_run
//! # async fn run() {
//! use skiff_benches::rollout::{run, Workload};
//! let report = run(&Workload { replicas: 1000, nodes: 100, durable: false, progress: false })
//!     .await
//!     .unwrap();
//! println!("created in {:?}, rolled in {:?}", report.create.elapsed, report.update.elapsed);
//! # }
//! ```

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;
use skiff_api::{ApiServer, ApiServerConfig};
use skiff_controllers::manager::{ControllerManager, Kind};
use skiff_core::client::{
    Api, Client, DeleteParams, ObjectTarget, Patch, PatchParams, PostParams, ResourceRef,
};
use skiff_core::runtime::watcher::{self, Event};
use tokio::sync::Semaphore;

use crate::apiserver_setup::BenchApiServer;

/// API calls each fake (scheduler, node) has in flight at most.
pub const FAKE_IN_FLIGHT: usize = 64;
/// The namespace of the benchmark's Deployment.
pub const NAMESPACE: &str = "default";
/// The Deployment's name.
pub const NAME: &str = "bench";
/// How long a phase may take before the run gives up.
pub const PHASE_TIMEOUT: Duration = Duration::from_secs(1800);

/// What to run.
#[derive(Clone, Debug)]
pub struct Workload {
    /// The Deployment's replicas.
    pub replicas: i32,
    /// Node objects the fake scheduler binds to.
    pub nodes: usize,
    /// The durable store (redb, fsync per commit batch) instead of the in-memory one.
    pub durable: bool,
    /// Print a progress line every few seconds.
    pub progress: bool,
}

/// One phase's figures.
#[derive(Clone, Debug)]
pub struct Phase {
    /// From the starting write to rollout complete.
    pub elapsed: Duration,
    /// Pods created during the phase.
    pub pods_created: usize,
    /// Pods deleted during the phase (finished by the fake node).
    pub pods_deleted: usize,
}

impl Phase {
    /// New pods per second.
    pub fn pods_per_second(&self) -> f64 {
        self.pods_created as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// What was measured.
#[derive(Debug)]
pub struct Report {
    /// Creating the Deployment until its rollout is complete.
    pub create: Phase,
    /// Changing its image until that rollout is complete.
    pub update: Phase,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The API server did not start.
    #[error("starting the API server: {0}")]
    Server(String),
    /// An API call failed.
    #[error("{0}: {1}")]
    Client(&'static str, skiff_core::client::ClientError),
    /// A phase did not finish in time.
    #[error("{phase} did not complete within {timeout:?}; last status: {status}")]
    Timeout {
        /// Which phase.
        phase: &'static str,
        /// The limit.
        timeout: Duration,
        /// The Deployment's last status, as JSON.
        status: String,
    },
}

/// Counters the fakes keep.
#[derive(Default)]
struct Counters {
    /// Pods the fake scheduler saw unbound (i.e. created).
    created: AtomicUsize,
    /// Bindings done.
    bound: AtomicUsize,
    /// Pods marked Running and Ready.
    ready: AtomicUsize,
    /// Terminating pods whose deletion was finished.
    deleted: AtomicUsize,
}

/// A pod's namespace, name and uid.
fn identity(pod: &Pod) -> Option<(String, String, String)> {
    Some((
        pod.metadata.namespace.clone()?,
        pod.metadata.name.clone()?,
        pod.metadata.uid.clone()?,
    ))
}

/// Binds every unbound pod to `nodes` in turn.
async fn fake_scheduler(client: Arc<dyn Client>, nodes: Vec<String>, counters: Arc<Counters>) {
    let target = ObjectTarget::collection(&ResourceRef::of::<Pod>(), None);
    let config = watcher::Config::default().fields("spec.nodeName=");
    let mut events = watcher::watcher::<Pod>(client.clone(), target, config);
    let pods_ref = ResourceRef::of::<Pod>();
    let gate = Arc::new(Semaphore::new(FAKE_IN_FLIGHT));
    let seen: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut next = 0usize;
    while let Some(event) = events.next().await {
        let (Ok(Event::Apply(pod)) | Ok(Event::InitApply(pod))) = event else {
            continue;
        };
        let Some((ns, name, uid)) = identity(&pod) else {
            continue;
        };
        let unbound = pod
            .spec
            .as_ref()
            .is_none_or(|s| s.node_name.as_deref().unwrap_or_default().is_empty());
        if !unbound || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if !seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uid.clone())
        {
            continue;
        }
        counters.created.fetch_add(1, Ordering::Relaxed);
        let node = nodes[next % nodes.len()].clone();
        next += 1;
        let body = json!({
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name, "namespace": ns, "uid": uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        });
        let target = ObjectTarget::object(&pods_ref, Some(&ns), &name).with_subresource("binding");
        let Ok(permit) = gate.clone().acquire_owned().await else {
            return;
        };
        let client = client.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            match client.create(&target, body, &PostParams::default()).await {
                Ok(_) => {
                    counters.bound.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if e.is_not_found() || e.is_conflict() => {}
                Err(e) => eprintln!("binding {ns}/{name}: {e}"),
            }
            drop(permit);
        });
    }
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Marks every bound pod Running and Ready; finishes terminating pods' deletion.
async fn fake_node(client: Arc<dyn Client>, counters: Arc<Counters>) {
    let target = ObjectTarget::collection(&ResourceRef::of::<Pod>(), None);
    let config = watcher::Config::default().fields("spec.nodeName!=");
    let mut events = watcher::watcher::<Pod>(client.clone(), target, config);
    let gate = Arc::new(Semaphore::new(FAKE_IN_FLIGHT));
    // Pods with a call in flight or done, by uid and what was done.
    let handled: Arc<Mutex<HashSet<(String, bool)>>> = Arc::default();
    while let Some(event) = events.next().await {
        let (Ok(Event::Apply(pod)) | Ok(Event::InitApply(pod))) = event else {
            continue;
        };
        let Some((ns, name, uid)) = identity(&pod) else {
            continue;
        };
        let terminating = pod.metadata.deletion_timestamp.is_some();
        if !terminating && is_ready(&pod) {
            continue;
        }
        if !handled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((uid.clone(), terminating))
        {
            continue;
        }
        let Ok(permit) = gate.clone().acquire_owned().await else {
            return;
        };
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let counters = counters.clone();
        tokio::spawn(async move {
            if terminating {
                let params = DeleteParams {
                    grace_period_seconds: Some(0),
                    precondition_uid: Some(uid),
                    ..DeleteParams::default()
                };
                match pods.delete(&name, &params).await {
                    Ok(_) => {
                        counters.deleted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) if e.is_not_found() || e.is_conflict() => {}
                    Err(e) => eprintln!("deleting {ns}/{name}: {e}"),
                }
            } else {
                let now = k8s_openapi::jiff::Timestamp::now().to_string();
                let condition =
                    |t: &str| json!({"type": t, "status": "True", "lastTransitionTime": now});
                let status = json!({"status": {
                    "phase": "Running",
                    "hostIP": "10.0.0.1",
                    "podIP": "10.244.0.1",
                    "startTime": now,
                    "conditions": [condition("PodScheduled"), condition("Initialized"),
                                   condition("ContainersReady"), condition("Ready")],
                }});
                match pods
                    .patch_status(&name, &Patch::Merge(status), &PatchParams::default())
                    .await
                {
                    Ok(_) => {
                        counters.ready.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) if e.is_not_found() => {}
                    Err(e) => eprintln!("status of {ns}/{name}: {e}"),
                }
            }
            drop(permit);
        });
    }
}

fn deployment(replicas: i32, image: &str) -> Result<Deployment, serde_json::Error> {
    serde_json::from_value(json!({
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": NAME}},
            "template": {
                "metadata": {"labels": {"app": NAME}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }))
}

/// Whether `kubectl rollout status` would say the rollout is complete.
pub fn rollout_complete(d: &Deployment) -> bool {
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(status) = d.status.as_ref() else {
        return false;
    };
    status.observed_generation >= d.metadata.generation
        && status.updated_replicas == Some(want)
        && status.replicas == Some(want)
        && status.available_replicas == Some(want)
}

/// Polls the Deployment until its rollout is complete, printing progress.
async fn wait_complete(
    api: &Api<Deployment>,
    phase: &'static str,
    counters: &Counters,
    progress: bool,
) -> Result<(), BenchError> {
    let began = Instant::now();
    let mut last_print = Instant::now();
    loop {
        let d = api
            .get(NAME)
            .await
            .map_err(|e| BenchError::Client("reading the deployment", e))?;
        if rollout_complete(&d) {
            return Ok(());
        }
        if progress && last_print.elapsed() >= Duration::from_secs(5) {
            last_print = Instant::now();
            let s = d.status.clone().unwrap_or_default();
            println!(
                "  {phase} {:>6.1}s: created {} bound {} ready {} deleted {} | status replicas {} updated {} available {}",
                began.elapsed().as_secs_f64(),
                counters.created.load(Ordering::Relaxed),
                counters.bound.load(Ordering::Relaxed),
                counters.ready.load(Ordering::Relaxed),
                counters.deleted.load(Ordering::Relaxed),
                s.replicas.unwrap_or(0),
                s.updated_replicas.unwrap_or(0),
                s.available_replicas.unwrap_or(0),
            );
        }
        if began.elapsed() > PHASE_TIMEOUT {
            return Err(BenchError::Timeout {
                phase,
                timeout: PHASE_TIMEOUT,
                status: serde_json::to_string(&d.status).unwrap_or_default(),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the workload and measures it.
pub async fn run(w: &Workload) -> Result<Report, BenchError> {
    // Keeps the durable server (and its directory) alive for the run.
    let mut durable = None;
    let client: Arc<dyn Client> = if w.durable {
        let bench = BenchApiServer::start(None)
            .await
            .map_err(|e| BenchError::Server(e.to_string()))?;
        let client = bench.in_process_client();
        durable = Some(bench);
        client
    } else {
        let store = Arc::new(skiff_store::MvccStore::in_memory().await);
        ApiServer::new(store, ApiServerConfig::default())
            .await
            .map_err(|e| BenchError::Server(e.to_string()))?
            .client()
    };

    let node_api: Api<Node> = Api::all(client.clone());
    let mut names = Vec::with_capacity(w.nodes.max(1));
    for i in 0..w.nodes.max(1) {
        let mut node = Node::default();
        let name = format!("fake-node-{i}");
        node.metadata.name = Some(name.clone());
        node_api
            .create(&node, &PostParams::default())
            .await
            .map_err(|e| BenchError::Client("creating a node", e))?;
        names.push(name);
    }

    let counters = Arc::new(Counters::default());
    let scheduler = tokio::spawn(fake_scheduler(client.clone(), names, counters.clone()));
    let node = tokio::spawn(fake_node(client.clone(), counters.clone()));
    let manager = tokio::spawn(
        ControllerManager::new(client.clone())
            .only(&[Kind::ReplicaSet, Kind::Deployment])
            .run(),
    );

    let api: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let bad = |e: serde_json::Error| BenchError::Server(e.to_string());
    let result = async {
        let start = Instant::now();
        api.create(
            &deployment(w.replicas, "skiff/app:v1").map_err(bad)?,
            &PostParams::default(),
        )
        .await
        .map_err(|e| BenchError::Client("creating the deployment", e))?;
        wait_complete(&api, "create", &counters, w.progress).await?;
        let create = Phase {
            elapsed: start.elapsed(),
            pods_created: counters.created.swap(0, Ordering::Relaxed),
            pods_deleted: counters.deleted.swap(0, Ordering::Relaxed),
        };

        let start = Instant::now();
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "skiff/app:v2"}]}}}});
        api.patch(NAME, &Patch::Strategic(patch), &PatchParams::default())
            .await
            .map_err(|e| BenchError::Client("changing the image", e))?;
        wait_complete(&api, "update", &counters, w.progress).await?;
        let update = Phase {
            elapsed: start.elapsed(),
            pods_created: counters.created.load(Ordering::Relaxed),
            pods_deleted: counters.deleted.load(Ordering::Relaxed),
        };
        Ok(Report { create, update })
    }
    .await;
    manager.abort();
    scheduler.abort();
    node.abort();
    drop(durable);
    result
}
