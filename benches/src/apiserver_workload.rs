//! The API server benchmark's workloads, over any `Arc<dyn Client>` (in-process or
//! HTTPS): pod creates, gets and lists at a given concurrency, and watch fan-out (one
//! write delivered to many watchers).
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use std::time::Duration;
//! use skiff_benches::apiserver_workload::{create_pods, Phase};
//! let phase = Phase { ops: 1_000, concurrency: 16, max: Duration::from_secs(10) };
//! let created = create_pods(&client, "bench", "p", phase).await;
//! println!("{:.0} creates/s", created.throughput());
//! # }
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use skiff_core::client::{Client, ListParams, ObjectTarget, PostParams, ResourceRef, WatchEvent};

use crate::latency::{Latencies, Measured};

/// The bounds of one phase: `ops` operations over `concurrency` tasks, stopped early
/// after `max`.
#[derive(Clone, Copy, Debug)]
pub struct Phase {
    /// Operations in all.
    pub ops: u64,
    /// Concurrent tasks (each waits for its previous request).
    pub concurrency: usize,
    /// The longest the phase may run.
    pub max: Duration,
}

fn pods() -> ResourceRef {
    ResourceRef::new("", "v1", "pods", true)
}

fn configmaps() -> ResourceRef {
    ResourceRef::new("", "v1", "configmaps", true)
}

/// A pod as a Deployment's would look: labels, one container with resources, a port,
/// an env var and a probe (about 1 KiB of JSON).
pub fn pod_object(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"app": "bench", "tier": "web", "pod-template-hash": "5d8f9c7b6"},
            "annotations": {"bench.skiff.dev/owner": "apiserver_bench"},
        },
        "spec": {
            "containers": [{
                "name": "web",
                "image": "registry.k8s.io/pause:3.10",
                "ports": [{"containerPort": 8080, "name": "http"}],
                "env": [{"name": "MODE", "value": "bench"}],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                    "limits": {"cpu": "200m", "memory": "256Mi"},
                },
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
            }],
        },
    })
}

/// The namespace `name`, created if missing (ignores "already exists").
pub async fn ensure_namespace(client: &Arc<dyn Client>, name: &str) {
    let namespaces = ResourceRef::new("", "v1", "namespaces", false);
    let _ = client
        .create(
            &ObjectTarget::collection(&namespaces, None),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
            &PostParams::default(),
        )
        .await;
}

/// Runs `op(i)` for i in 0..phase.ops over `phase.concurrency` tasks, recording each
/// successful call's latency.
async fn run_phase<F, Fut>(phase: Phase, op: F) -> Measured
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + phase.max;
    let mut tasks = Vec::with_capacity(phase.concurrency);
    for _ in 0..phase.concurrency.max(1) {
        let op = op.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Latencies::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= phase.ops || Instant::now() >= deadline {
                    break;
                }
                let began = Instant::now();
                if op(i).await {
                    latencies.record(began.elapsed());
                } else {
                    latencies.errors += 1;
                }
            }
            latencies
        }));
    }
    let mut all = Latencies::new();
    for task in tasks {
        if let Ok(latencies) = task.await {
            all.merge(&latencies);
        }
    }
    Measured {
        latencies: all,
        elapsed: start.elapsed(),
    }
}

/// Creates pods `{prefix}-{i}` in `namespace`.
pub async fn create_pods(
    client: &Arc<dyn Client>,
    namespace: &str,
    prefix: &str,
    phase: Phase,
) -> Measured {
    let client = client.clone();
    let target = ObjectTarget::collection(&pods(), Some(namespace));
    let prefix = prefix.to_owned();
    run_phase(phase, move |i| {
        let client = client.clone();
        let target = target.clone();
        let object = pod_object(&format!("{prefix}-{i}"));
        async move {
            client
                .create(&target, object, &PostParams::default())
                .await
                .is_ok()
        }
    })
    .await
}

/// Gets pods `{prefix}-{i % existing}` (spread over the set by a multiplicative hash).
pub async fn get_pods(
    client: &Arc<dyn Client>,
    namespace: &str,
    prefix: &str,
    existing: u64,
    phase: Phase,
) -> Measured {
    let client = client.clone();
    let namespace = namespace.to_owned();
    let prefix = prefix.to_owned();
    let existing = existing.max(1);
    run_phase(phase, move |i| {
        let client = client.clone();
        let index = i.wrapping_mul(2_654_435_761) % existing;
        let target = ObjectTarget::object(&pods(), Some(&namespace), &format!("{prefix}-{index}"));
        async move { client.get(&target).await.is_ok() }
    })
    .await
}

/// Lists every pod of `namespace`, in pages of `page` (0: one response); each
/// operation is the whole walk. Returns the measurement and the items seen by the
/// last walk.
pub async fn list_pods(
    client: &Arc<dyn Client>,
    namespace: &str,
    page: u32,
    phase: Phase,
) -> (Measured, u64) {
    let client = client.clone();
    let target = ObjectTarget::collection(&pods(), Some(namespace));
    let seen = Arc::new(AtomicU64::new(0));
    let seen_by_ops = seen.clone();
    let measured = run_phase(phase, move |_| {
        let client = client.clone();
        let target = target.clone();
        let seen = seen_by_ops.clone();
        async move {
            let mut params = ListParams::default().limit(page);
            let mut items = 0u64;
            loop {
                let Ok(list) = client.list(&target, &params).await else {
                    return false;
                };
                items += list
                    .get("items")
                    .and_then(Value::as_array)
                    .map_or(0, |a| a.len() as u64);
                match list
                    .pointer("/metadata/continue")
                    .and_then(Value::as_str)
                    .filter(|c| !c.is_empty())
                {
                    Some(token) => params.continue_token = Some(token.to_owned()),
                    None => break,
                }
            }
            seen.store(items, Ordering::Relaxed);
            true
        }
    })
    .await;
    (measured, seen.load(Ordering::Relaxed))
}

/// GETs `path_and_query` from the server's router and reads the whole body without
/// decoding it: the server's side of a list alone. Each operation is one request; the
/// result is the measurement and the body size of the last response.
pub async fn get_raw(
    server: &skiff_api::ApiServer,
    path_and_query: &str,
    phase: Phase,
) -> (Measured, usize) {
    use tower::ServiceExt as _;
    let router = server.router();
    let uri = path_and_query.to_owned();
    let size = Arc::new(AtomicU64::new(0));
    let size_by_ops = size.clone();
    let measured = run_phase(phase, move |_| {
        let router = router.clone();
        let uri = uri.clone();
        let size = size_by_ops.clone();
        async move {
            let Ok(request) = http::Request::get(&uri).body(axum::body::Body::empty()) else {
                return false;
            };
            let Ok(response) = router.oneshot(request).await;
            if !response.status().is_success() {
                return false;
            }
            match axum::body::to_bytes(response.into_body(), usize::MAX).await {
                Ok(body) => {
                    size.store(body.len() as u64, Ordering::Relaxed);
                    true
                }
                Err(_) => false,
            }
        }
    })
    .await;
    (measured, size.load(Ordering::Relaxed) as usize)
}

/// The outcome of a fan-out run.
#[derive(Clone, Debug)]
pub struct FanOut {
    /// Watch streams open when the writes began.
    pub watchers: usize,
    /// Delay from issuing a write to one watcher receiving its event, over every
    /// (watcher, write) pair; includes the write's own commit.
    pub per_watcher: Latencies,
    /// Delay from issuing a write until the last watcher received it, per write.
    pub to_all: Latencies,
    /// Writes whose event did not reach every watcher within the timeout.
    pub incomplete: u64,
}

/// The unmeasured first write.
const WARM_UP: &str = "fanout-warm-up";

/// What every watcher task shares: when each write was issued, and how many watchers
/// have received it.
#[derive(Default)]
struct Deliveries {
    issued: Mutex<HashMap<String, Instant>>,
    received: Mutex<HashMap<String, (usize, Instant)>>,
    per_watcher: Mutex<Latencies>,
}

/// Opens `watchers` watches of configmaps in `namespace`, spread round-robin over
/// `clients` (one connection each, for HTTPS), then writes `writes` configmaps one at
/// a time, each after the previous one reached every watcher (or `timeout` passed).
pub async fn watch_fan_out(
    clients: &[Arc<dyn Client>],
    namespace: &str,
    watchers: usize,
    writes: u64,
    timeout: Duration,
) -> FanOut {
    let target = ObjectTarget::collection(&configmaps(), Some(namespace));
    let start_version = clients[0]
        .list(&target, &ListParams::default().limit(1))
        .await
        .ok()
        .and_then(|l| {
            l.pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let deliveries = Arc::new(Deliveries::default());
    let mut per_watcher_tasks = Vec::with_capacity(watchers);
    let mut opened = 0usize;
    for w in 0..watchers {
        let client = clients[w % clients.len()].clone();
        let params = ListParams::default().at(&start_version);
        let Ok(mut stream) = client.watch(&target, &params).await else {
            continue;
        };
        opened += 1;
        let deliveries = deliveries.clone();
        per_watcher_tasks.push(tokio::spawn(async move {
            while let Some(event) = stream.next().await {
                let Ok(WatchEvent::Added(object)) = event else {
                    continue;
                };
                let now = Instant::now();
                let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str) else {
                    continue;
                };
                let issued = deliveries
                    .issued
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(name)
                    .copied();
                if let Some(issued) = issued.filter(|_| name != WARM_UP) {
                    deliveries
                        .per_watcher
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .record(now.duration_since(issued));
                }
                let mut received = deliveries
                    .received
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let entry = received.entry(name.to_owned()).or_insert((0, now));
                entry.0 += 1;
                entry.1 = entry.1.max(now);
            }
        }));
    }

    let mut to_all = Latencies::new();
    let mut incomplete = 0;
    // Write 0 warms every stream up and is not measured.
    for i in 0..=writes {
        let name = if i == 0 {
            WARM_UP.to_owned()
        } else {
            format!("fanout-{i}")
        };
        let issued = Instant::now();
        deliveries
            .issued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.clone(), issued);
        let created = clients[0]
            .create(
                &target,
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": name}, "data": {"i": i.to_string()}}),
                &PostParams::default(),
            )
            .await;
        if created.is_err() {
            incomplete += 1;
            continue;
        }
        let deadline = Instant::now() + timeout;
        let reached_all = loop {
            let done = deliveries
                .received
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&name)
                .copied();
            if let Some((count, last)) = done {
                if count >= opened {
                    break Some(last);
                }
            }
            if Instant::now() >= deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        };
        match reached_all {
            Some(last) if i > 0 => to_all.record(last.duration_since(issued)),
            Some(_) => {}
            None => incomplete += 1,
        }
    }
    for task in &per_watcher_tasks {
        task.abort();
    }
    let per_watcher = deliveries
        .per_watcher
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    FanOut {
        watchers: opened,
        per_watcher,
        to_all,
        incomplete,
    }
}
