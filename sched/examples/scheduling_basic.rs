//! A scheduler_perf-style SchedulingBasic run, in-process: an API server over an
//! in-memory store, `NODES` nodes and `PODS` pods created through the client, and the
//! time from the first pod's creation until every pod is bound, printed as pods/s.
//!
//! `cargo run -p skiff-sched --example scheduling_basic --release -- 5000 10000`
//!
//! It uses the test adapter client of `tests/common` until skiff-api's in-process
//! client lands; it lives here (not in benches/) because it needs skiff-api, which
//! only this crate's dev-dependencies may pull in.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use skiff_core::client::{
    Api, Client, ListParams, ObjectTarget, Patch, PatchParams, PostParams, ResourceRef,
};
use skiff_sched::scheduler::{Scheduler, SchedulerConfig};

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// The allocator the `skiff` binary uses, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (nodes_n, pods_n) = (arg(1, 500), arg(2, 1000));
    let (_server, client) = common::server().await;
    let nodes = ResourceRef::new("", "v1", "nodes", false);
    let pods = ResourceRef::new("", "v1", "pods", true);
    for i in 0..nodes_n {
        let name = format!("node-{i}");
        let created = client
            .create(
                &ObjectTarget::collection(&nodes, None),
                json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}),
                &PostParams::default(),
            )
            .await;
        if let Err(e) = created {
            eprintln!("creating {name}: {e}");
            return;
        }
        let status =
            json!({"status": {"allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"}}});
        let patched = client
            .patch(
                &ObjectTarget::object(&nodes, None, &name).with_subresource("status"),
                &Patch::Merge(status),
                &PatchParams::default(),
            )
            .await;
        if let Err(e) = patched {
            eprintln!("setting the status of {name}: {e}");
            return;
        }
    }
    let config = SchedulerConfig {
        record_events: false,
        ..SchedulerConfig::default()
    };
    let scheduler = match Scheduler::new(client.clone(), config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    let runner = scheduler.clone();
    tokio::spawn(async move { runner.run(std::future::pending::<()>()).await });
    while scheduler.node_count() < nodes_n {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let start = Instant::now();
    let creators: Vec<_> = (0..2)
        .map(|w| {
            let client: Arc<dyn Client> = client.clone();
            let pods = pods.clone();
            tokio::spawn(async move {
                for i in (w..pods_n).step_by(2) {
                    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("pod-{i}")},
                        "spec": {"containers": [{"name": "c", "image": "pause", "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}]}});
                    if let Err(e) = client.create(&ObjectTarget::collection(&pods, Some("default")), pod, &PostParams::default()).await {
                        eprintln!("creating pod-{i}: {e}");
                    }
                }
            })
        })
        .collect();
    for c in creators {
        let _ = c.await;
    }
    let created = start.elapsed();
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    loop {
        let bound = match api.list(&ListParams::default()).await {
            Ok(l) => l
                .items
                .iter()
                .filter(|p| p.spec.as_ref().is_some_and(|s| s.node_name.is_some()))
                .count(),
            Err(e) => {
                eprintln!("listing pods: {e}");
                return;
            }
        };
        if bound >= pods_n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = start.elapsed();
    println!(
        "SchedulingBasic {nodes_n} nodes, {pods_n} pods: created in {:.2}s, all bound in {:.2}s: {:.0} pods/s",
        created.as_secs_f64(),
        elapsed.as_secs_f64(),
        pods_n as f64 / elapsed.as_secs_f64()
    );
}
