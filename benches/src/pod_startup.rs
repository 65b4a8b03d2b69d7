//! Pod startup latency, as Kubernetes' SLO defines it: from the pod's creation to the
//! moment a watcher sees it `Running`, scheduling included.
//!
//! The workload: an in-process API server over the in-memory store; node agents
//! (one with the process runtime, or many hollow ones with the simulated runtime)
//! on its in-process client; a *fake binder* that binds each new pod to the nodes in
//! turn through `pods/binding` (so the figure includes a binding, without measuring
//! the scheduler's algorithm); pods created at a fixed rate, each timed from just
//! before its `create` call to the watch event that shows it `Running`.
//!
//! ```no_run
//! # async fn run() {
//! use skiff_benches::pod_startup::{run, Runtime, Workload};
//! let report = run(&Workload { runtime: Runtime::Sim { nodes: 10 }, pods: 100, per_second: 50.0 }).await.unwrap();
//! println!("p99 {:?}", report.latencies.quantile(0.99));
//! # }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use skiff_api::{ApiServer, ApiServerConfig};
use skiff_core::client::{
    Api, Client, ListParams, ObjectTarget, PostParams, ResourceRef, WatchEvent,
};
use skiff_node::agent::{AgentConfig, NodeAgent, NodeResources, RunningAgent};
use skiff_node::process::{ProcessRuntime, ProcessRuntimeConfig};
use skiff_node::sim::SimRuntime;

use crate::latency::Latencies;

/// Which runtime the nodes use.
#[derive(Clone, Debug)]
pub enum Runtime {
    /// One node with the process runtime (each pod a `sleep` process).
    Process,
    /// `nodes` hollow nodes with the simulated runtime.
    Sim {
        /// How many.
        nodes: usize,
    },
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Workload {
    /// The nodes.
    pub runtime: Runtime,
    /// Pods to create.
    pub pods: usize,
    /// Creation rate.
    pub per_second: f64,
}

/// What was measured.
#[derive(Debug)]
pub struct Report {
    /// Created → Running, per pod that got there.
    pub latencies: Latencies,
    /// Pods that were not Running when the run timed out.
    pub missing: usize,
    /// How long registering the nodes took.
    pub nodes_ready: Duration,
    /// From the first create to the last pod Running.
    pub wall: Duration,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The API server did not start.
    #[error("starting the API server: {0}")]
    Server(String),
    /// An API call failed.
    #[error("{0}")]
    Client(String),
    /// The nodes did not register in time.
    #[error("only {0} of {1} nodes registered within the timeout")]
    Nodes(usize, usize),
}

fn node_config(name: &str, hollow: bool) -> AgentConfig {
    let mut c = AgentConfig::new(name);
    if hollow {
        c.resources = NodeResources::hollow();
        c.pressure_thresholds = None;
    }
    c
}

/// Binds every pod without a node to `nodes`, in turn, until the task is aborted.
async fn fake_binder(client: Arc<dyn Client>, nodes: Vec<String>) {
    let api: Api<Pod> = Api::all(client.clone());
    let pods_ref = ResourceRef::new("", "v1", "pods", true);
    let params = ListParams::default().fields("spec.nodeName=");
    let Ok(mut stream) = api.watch(&params).await else {
        return;
    };
    let mut next = 0usize;
    while let Some(event) = stream.next().await {
        let Ok(WatchEvent::Added(pod)) = event else {
            continue;
        };
        let (Some(ns), Some(name)) = (pod.metadata.namespace.clone(), pod.metadata.name.clone())
        else {
            continue;
        };
        let node = nodes[next % nodes.len()].clone();
        next += 1;
        let body = serde_json::json!({
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name, "namespace": ns, "uid": pod.metadata.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        });
        let target = ObjectTarget::object(&pods_ref, Some(&ns), &name).with_subresource("binding");
        let client = client.clone();
        tokio::spawn(async move {
            if let Err(e) = client.create(&target, body, &PostParams::default()).await {
                eprintln!("binding {ns}/{name}: {e}");
            }
        });
    }
}

/// Runs the workload and measures it.
pub async fn run(w: &Workload) -> Result<Report, BenchError> {
    let store = Arc::new(skiff_store::MvccStore::in_memory().await);
    let server = ApiServer::new(store, ApiServerConfig::default())
        .await
        .map_err(|e| BenchError::Server(e.to_string()))?;
    let client: Arc<dyn Client> = server.client();
    let scratch = tempfile::tempdir().map_err(|e| BenchError::Server(e.to_string()))?;

    let began = Instant::now();
    let (names, agents): (Vec<String>, Vec<RunningAgent>) = match w.runtime {
        Runtime::Process => {
            let name = "bench-node-0".to_owned();
            let runtime =
                ProcessRuntime::new(ProcessRuntimeConfig::new(scratch.path().join("runtime")));
            let mut config = node_config(&name, false);
            config.root_dir = scratch.path().join("agent");
            let agent = NodeAgent::new(client.clone(), Arc::new(runtime), config).start();
            (vec![name], vec![agent])
        }
        Runtime::Sim { nodes } => (0..nodes)
            .map(|i| {
                let name = format!("hollow-{i}");
                let agent = NodeAgent::new(
                    client.clone(),
                    Arc::new(SimRuntime::new()),
                    node_config(&name, true),
                )
                .start();
                (name, agent)
            })
            .unzip(),
    };
    let node_api: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let n = node_api
            .list(&ListParams::default())
            .await
            .map_err(|e| BenchError::Client(e.to_string()))?
            .items
            .len();
        if n >= names.len() {
            break;
        }
        if Instant::now() > deadline {
            return Err(BenchError::Nodes(n, names.len()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let nodes_ready = began.elapsed();

    // The watcher: the first time each pod is seen Running.
    let created: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let running: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut stream = pods
        .watch(&ListParams::default())
        .await
        .map_err(|e| BenchError::Client(e.to_string()))?;
    let seen = running.clone();
    let watcher = tokio::spawn(async move {
        while let Some(event) = stream.next().await {
            let (Ok(WatchEvent::Added(p)) | Ok(WatchEvent::Modified(p))) = event else {
                continue;
            };
            if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
                let name = p.metadata.name.unwrap_or_default();
                seen.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(name)
                    .or_insert_with(Instant::now);
            }
        }
    });
    let binder = tokio::spawn(fake_binder(client.clone(), names.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let command = serde_json::json!(["sleep", "3600"]);
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / w.per_second.max(0.001));
    for i in 0..w.pods {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let name = format!("startup-{i}");
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "skiff/pause", "command": command}]}
        }))
        .map_err(|e| BenchError::Client(e.to_string()))?;
        created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.clone(), Instant::now());
        let pods = pods.clone();
        tokio::spawn(async move {
            if let Err(e) = pods.create(&pod, &PostParams::default()).await {
                eprintln!("creating {name}: {e}");
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while running.lock().unwrap_or_else(|e| e.into_inner()).len() < w.pods
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    watcher.abort();
    binder.abort();
    let created = created.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let running = running.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut latencies = Latencies::new();
    let mut last = start;
    for (name, at) in &created {
        if let Some(r) = running.get(name) {
            latencies.record(r.saturating_duration_since(*at));
            last = last.max(*r);
        }
    }
    let report = Report {
        missing: w.pods - latencies.count() as usize,
        latencies,
        nodes_ready,
        wall: last.saturating_duration_since(start),
    };
    for a in agents {
        a.stop().await;
    }
    Ok(report)
}
