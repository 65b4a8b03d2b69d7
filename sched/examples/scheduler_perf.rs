//! scheduler_perf-style workloads, in-process: an API server over an in-memory
//! store, nodes and an initial set of pods created through the client (not timed),
//! then the measured pods; prints the time until every measured pod is bound, as
//! pods/s.
//!
//! `cargo run -p skiff-sched --example scheduler_perf --release -- WORKLOAD NODES INIT PODS`
//!
//! Workloads, after kube-scheduler's `test/integration/scheduler_perf` configs:
//! - `SchedulingBasic`: plain pods (100m cpu, 500Mi).
//! - `SchedulingNodeAffinity`: nodes labelled `topology.kubernetes.io/zone=zone1`,
//!   pods requiring zone in (zone1, zone2).
//! - `SchedulingPodAntiAffinity`: pods `color=green` with required anti-affinity to
//!   `color=green` per hostname (one per node).
//! - `TopologySpreading`: nodes over zones moon-1..3, pods `color=blue` with a
//!   DoNotSchedule zone spread of maxSkew 5.
//! - `PreemptionBasic`: INIT low-priority pods of 900m fill the nodes, then
//!   high-priority pods of 3 cpu each preempt three of them.

/// The allocator the `skiff` binary uses, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};
use skiff_core::client::{
    Api, Client, DeleteParams, ListParams, ObjectTarget, Patch, PatchParams, PostParams,
    ResourceRef, WatchEvent,
};
use skiff_sched::scheduler::{Scheduler, SchedulerConfig};

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn node_labels(workload: &str, i: usize) -> Value {
    let host = format!("node-{i}");
    match workload {
        "SchedulingNodeAffinity" => {
            json!({"kubernetes.io/hostname": host, "topology.kubernetes.io/zone": "zone1"})
        }
        "TopologySpreading" => {
            json!({"kubernetes.io/hostname": host, "topology.kubernetes.io/zone": format!("moon-{}", i % 3 + 1)})
        }
        _ => json!({"kubernetes.io/hostname": host}),
    }
}

/// The pod of `workload` (`init`: the initial, untimed set).
fn pod(workload: &str, name: &str, init: bool) -> Value {
    let container = |cpu: &str| json!([{"name": "c", "image": "pause", "resources": {"requests": {"cpu": cpu, "memory": "500Mi"}}}]);
    let (labels, spec) = match (workload, init) {
        ("SchedulingNodeAffinity", false) => (
            json!({}),
            json!({"containers": container("100m"),
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["zone1", "zone2"]}]}]}}}}),
        ),
        ("SchedulingPodAntiAffinity", _) => (
            json!({"color": "green", "name": "test"}),
            json!({"containers": container("100m"),
            "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"color": "green"}}, "topologyKey": "kubernetes.io/hostname"}]}}}),
        ),
        ("TopologySpreading", false) => (
            json!({"color": "blue"}),
            json!({"containers": container("100m"),
            "topologySpreadConstraints": [{"maxSkew": 5, "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"color": "blue"}}}]}),
        ),
        ("PreemptionBasic", true) => (
            json!({}),
            json!({"priority": 0, "containers": container("900m")}),
        ),
        ("PreemptionBasic", false) => (
            json!({}),
            json!({"priority": 10, "containers": container("3")}),
        ),
        _ => (json!({}), json!({"containers": container("100m")})),
    };
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": spec})
}

async fn create_pods(client: &Arc<dyn Client>, workload: &str, prefix: &str, n: usize, init: bool) {
    let pods = ResourceRef::new("", "v1", "pods", true);
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let (client, pods, workload, prefix) = (
                client.clone(),
                pods.clone(),
                workload.to_owned(),
                prefix.to_owned(),
            );
            tokio::spawn(async move {
                for i in (w..n).step_by(2) {
                    let body = pod(&workload, &format!("{prefix}-{i}"), init);
                    if let Err(e) = client
                        .create(
                            &ObjectTarget::collection(&pods, Some("default")),
                            body,
                            &PostParams::default(),
                        )
                        .await
                    {
                        eprintln!("creating {prefix}-{i}: {e}");
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
}

/// Deletes terminating pods at once (the node agent's part), following a watch.
async fn finish_terminating(client: Arc<dyn Client>) {
    let api: Api<Pod> = Api::namespaced(client, "default");
    let Ok(mut events) = api.watch(&ListParams::default()).await else {
        return;
    };
    while let Some(Ok(ev)) = events.next().await {
        if let WatchEvent::Modified(p) = ev {
            if p.metadata.deletion_timestamp.is_some() {
                let name = p.metadata.name.clone().unwrap_or_default();
                let _ = api
                    .delete(
                        &name,
                        &DeleteParams {
                            grace_period_seconds: Some(0),
                            ..DeleteParams::default()
                        },
                    )
                    .await;
            }
        }
    }
}

/// CPU seconds this process has used (user + system, from /proc/self/stat), to
/// tell the cost per pod from the share of a busy machine the run got.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses): utime is the 14th
    // field of the line, stime the 15th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

async fn wait_bound(scheduler: &Scheduler, target: u64, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while scheduler.bound_pods() < target {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let workload = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "SchedulingBasic".into());
    let (nodes_n, init_n, pods_n) = (arg(2, 500), arg(3, 0), arg(4, 1000));
    let (_server, client) = common::server().await;
    let nodes = ResourceRef::new("", "v1", "nodes", false);
    let t0 = Instant::now();
    for i in 0..nodes_n {
        let name = format!("node-{i}");
        let body = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": node_labels(&workload, i)}});
        if let Err(e) = client
            .create(
                &ObjectTarget::collection(&nodes, None),
                body,
                &PostParams::default(),
            )
            .await
        {
            return eprintln!("creating {name}: {e}");
        }
        let status =
            json!({"status": {"allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"}}});
        let target = ObjectTarget::object(&nodes, None, &name).with_subresource("status");
        if let Err(e) = client
            .patch(&target, &Patch::Merge(status), &PatchParams::default())
            .await
        {
            return eprintln!("setting the status of {name}: {e}");
        }
    }
    let config = SchedulerConfig {
        record_events: false,
        ..SchedulerConfig::default()
    };
    let scheduler = match Scheduler::new(client.clone(), config) {
        Ok(s) => s,
        Err(e) => return eprintln!("{e}"),
    };
    let runner = scheduler.clone();
    tokio::spawn(async move { runner.run(std::future::pending::<()>()).await });
    if workload == "PreemptionBasic" {
        // Only preemption deletes pods; elsewhere this watcher would only add the
        // decoding of every pod event to the measured time.
        tokio::spawn(finish_terminating(client.clone()));
    }
    while scheduler.node_count() < nodes_n {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!(
        "{nodes_n} nodes ready in {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    if init_n > 0 {
        let t = Instant::now();
        create_pods(&client, &workload, "init", init_n, true).await;
        if !wait_bound(&scheduler, init_n as u64, Duration::from_secs(600)).await {
            return eprintln!(
                "only {} of {init_n} initial pods bound",
                scheduler.bound_pods()
            );
        }
        eprintln!(
            "{init_n} initial pods bound in {:.1}s",
            t.elapsed().as_secs_f64()
        );
    }
    let cpu_start = cpu_seconds();
    let start = Instant::now();
    create_pods(&client, &workload, "pod", pods_n, false).await;
    let created = start.elapsed();
    let ok = wait_bound(
        &scheduler,
        (init_n + pods_n) as u64,
        Duration::from_secs(600),
    )
    .await;
    let elapsed = start.elapsed();
    let cpu = cpu_seconds().zip(cpu_start).map(|(end, start)| end - start);
    if !ok {
        eprintln!(
            "timed out: {} of {pods_n} measured pods bound",
            scheduler.bound_pods().saturating_sub(init_n as u64)
        );
    }
    // Check the outcome through the API once.
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let bound = match api.list(&ListParams::default()).await {
        Ok(l) => l
            .items
            .iter()
            .filter(|p| {
                p.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with("pod-"))
                    && p.spec.as_ref().is_some_and(|s| s.node_name.is_some())
            })
            .count(),
        Err(e) => return eprintln!("listing pods: {e}"),
    };
    let per_cpu = cpu.map_or_else(
        || "CPU time unknown".to_owned(),
        |c| {
            format!(
                "{c:.2} CPU-s ({:.0} µs and {:.0} pods per CPU-second)",
                c * 1e6 / pods_n as f64,
                pods_n as f64 / c
            )
        },
    );
    println!(
        "{workload} {nodes_n} nodes, {init_n} initial pods, {pods_n} measured pods ({bound} bound): created in {:.2}s, bound in {:.2}s: {:.0} pods/s; {per_cpu}",
        created.as_secs_f64(),
        elapsed.as_secs_f64(),
        pods_n as f64 / elapsed.as_secs_f64()
    );
}
