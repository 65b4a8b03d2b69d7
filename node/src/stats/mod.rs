//! Resource usage of the node and its pods, for `kubectl top` (through the API
//! server's `metrics.k8s.io`): [`StatsProvider`].
//!
//! The provider keeps the last two samples of the node (`/proc`, [`host`]) and of
//! every running container ([`crate::runtime::RuntimeService::list_container_stats`])
//! and turns the cumulative CPU counters into rates (nanocores) over the time between
//! them. The node server samples every `stats_interval` and serves the result at
//! `/stats/summary` ([`Summary`]); a request finding the latest sample older than
//! [`MIN_WINDOW`] samples again first, so a summary is fresh and has rates from the
//! second sample on.
//!
//! ```
//! # async fn run() {
//! use std::sync::Arc;
//! use skiff_node::sim::SimRuntime;
//! use skiff_node::stats::StatsProvider;
//! let stats = StatsProvider::new(Arc::new(SimRuntime::new()), "node-1");
//! let summary = stats.summary().await;
//! assert_eq!(summary.node.node_name, "node-1");
//! # }
//! ```

pub mod host;
mod summary;

pub use summary::{
    ContainerSummary, CpuStats, MemoryStats, NodeStats, PodReference, PodStats, Summary,
};

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::runtime::{ContainerStats, PodIdentity, Runtime, SandboxState};

/// A request re-samples when the latest sample is at least this old.
pub const MIN_WINDOW: Duration = Duration::from_secs(1);

/// One sample of everything.
#[derive(Clone, Debug)]
struct Sample {
    at: Instant,
    time: SystemTime,
    node_cpu: Option<u64>,
    node_memory: Option<u64>,
    containers: HashMap<String, ContainerStats>,
}

#[derive(Default)]
struct Samples {
    previous: Option<Sample>,
    latest: Option<Sample>,
}

/// Samples usage and serves summaries with rates. Share it in an `Arc`.
pub struct StatsProvider {
    runtime: Arc<dyn Runtime>,
    node_name: String,
    samples: Mutex<Samples>,
    /// Serialises sampling, so that two requests do not both take a sample.
    sampling: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for StatsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsProvider")
            .field("node_name", &self.node_name)
            .finish_non_exhaustive()
    }
}

fn rfc3339(t: SystemTime) -> String {
    crate::agent::pod_status::timestamp(t).to_string()
}

/// The rate in nanocores between two cumulative CPU readings `window` apart.
fn nano_cores(before: u64, after: u64, window: Duration) -> Option<u64> {
    let window = window.as_nanos();
    if window == 0 {
        return None;
    }
    let used = u128::from(after.saturating_sub(before));
    u64::try_from(used * 1_000_000_000 / window).ok()
}

impl StatsProvider {
    /// A provider for the node `node_name` running `runtime`'s containers.
    pub fn new(runtime: Arc<dyn Runtime>, node_name: &str) -> Arc<Self> {
        Arc::new(StatsProvider {
            runtime,
            node_name: node_name.to_owned(),
            samples: Mutex::new(Samples::default()),
            sampling: tokio::sync::Mutex::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Samples> {
        self.samples.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a sample now; it becomes the latest, the latest becomes the previous.
    pub async fn sample(&self) {
        let _one = self.sampling.lock().await;
        self.sample_locked().await;
    }

    async fn sample_locked(&self) {
        let containers = match self.runtime.list_container_stats().await {
            Ok(stats) => stats
                .into_iter()
                .map(|s| (s.container_id.clone(), s))
                .collect(),
            Err(e) => {
                tracing::debug!(error = %e, "no container stats");
                HashMap::new()
            }
        };
        let (node_cpu, node_memory) = tokio::task::spawn_blocking(host::sample)
            .await
            .unwrap_or((None, None));
        let sample = Sample {
            at: Instant::now(),
            time: SystemTime::now(),
            node_cpu,
            node_memory,
            containers,
        };
        let mut samples = self.lock();
        samples.previous = samples.latest.replace(sample);
    }

    /// The summary from the last two samples, sampling first when the latest is
    /// older than [`MIN_WINDOW`] (or there is none).
    pub async fn summary(&self) -> Summary {
        {
            let _one = self.sampling.lock().await;
            let stale = self
                .lock()
                .latest
                .as_ref()
                .is_none_or(|s| s.at.elapsed() >= MIN_WINDOW);
            if stale {
                self.sample_locked().await;
            }
        }
        let pods: HashMap<String, PodIdentity> = match self.runtime.list_pod_sandboxes().await {
            Ok(sandboxes) => sandboxes
                .into_iter()
                .filter(|s| s.state == SandboxState::Ready)
                .map(|s| (s.id, s.pod))
                .collect(),
            Err(_) => HashMap::new(),
        };
        let samples = self.lock();
        summarize(
            &self.node_name,
            samples.previous.as_ref(),
            samples.latest.as_ref(),
            &pods,
        )
    }
}

/// The summary of `latest` with rates against `previous` (pure).
fn summarize(
    node_name: &str,
    previous: Option<&Sample>,
    latest: Option<&Sample>,
    pods: &HashMap<String, PodIdentity>,
) -> Summary {
    let Some(latest) = latest else {
        return Summary {
            node: NodeStats {
                node_name: node_name.to_owned(),
                ..NodeStats::default()
            },
            pods: Vec::new(),
        };
    };
    let time = rfc3339(latest.time);
    let window = previous.map(|p| latest.at.saturating_duration_since(p.at));
    let window_text = window.map(|w| format!("{:.3}s", w.as_secs_f64()));
    let cpu = |before: Option<u64>, after: u64| {
        let usage_nano_cores = before
            .zip(window)
            .and_then(|(b, w)| nano_cores(b, after, w));
        CpuStats {
            time: time.clone(),
            window: usage_nano_cores.and(window_text.clone()),
            usage_nano_cores,
            usage_core_nano_seconds: Some(after),
        }
    };
    let memory = |bytes: u64| MemoryStats {
        time: time.clone(),
        working_set_bytes: Some(bytes),
    };
    let node = NodeStats {
        node_name: node_name.to_owned(),
        cpu: latest
            .node_cpu
            .map(|after| cpu(previous.and_then(|p| p.node_cpu), after)),
        memory: latest.node_memory.map(memory),
    };
    let mut by_sandbox: BTreeMap<&str, Vec<&ContainerStats>> = BTreeMap::new();
    for c in latest.containers.values() {
        by_sandbox.entry(c.sandbox_id.as_str()).or_default().push(c);
    }
    let mut out = Vec::new();
    for (sandbox_id, mut containers) in by_sandbox {
        let Some(pod) = pods.get(sandbox_id) else {
            continue;
        };
        containers.sort_by(|a, b| a.name.cmp(&b.name));
        let summaries: Vec<ContainerSummary> = containers
            .iter()
            .map(|c| {
                let before = previous
                    .and_then(|p| p.containers.get(&c.container_id))
                    .map(|p| p.cpu_usage_core_nanos);
                ContainerSummary {
                    name: c.name.clone(),
                    cpu: Some(cpu(before, c.cpu_usage_core_nanos)),
                    memory: Some(memory(c.memory_working_set_bytes)),
                }
            })
            .collect();
        let rates: Option<Vec<u64>> = summaries
            .iter()
            .map(|c| c.cpu.as_ref().and_then(|c| c.usage_nano_cores))
            .collect();
        out.push(PodStats {
            pod_ref: PodReference {
                name: pod.name.clone(),
                namespace: pod.namespace.clone(),
                uid: pod.uid.clone(),
            },
            cpu: Some(CpuStats {
                time: time.clone(),
                window: rates.as_ref().and(window_text.clone()),
                usage_nano_cores: rates.map(|r| r.iter().sum()),
                usage_core_nano_seconds: Some(
                    containers.iter().map(|c| c.cpu_usage_core_nanos).sum(),
                ),
            }),
            memory: Some(memory(
                containers.iter().map(|c| c.memory_working_set_bytes).sum(),
            )),
            containers: summaries,
        });
    }
    Summary { node, pods: out }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{ContainerConfig, PodSandboxConfig, RuntimeService};
    use crate::sim::{SimRuntime, SimUsage};

    fn stats(id: &str, sandbox: &str, cpu: u64, memory: u64) -> ContainerStats {
        ContainerStats {
            container_id: id.into(),
            sandbox_id: sandbox.into(),
            name: format!("name-{id}"),
            timestamp: SystemTime::now(),
            cpu_usage_core_nanos: cpu,
            memory_working_set_bytes: memory,
        }
    }

    #[test]
    fn rates_come_from_two_samples() {
        let t0 = Instant::now();
        let sample = |at: Instant, cpu: u64, containers: Vec<ContainerStats>| Sample {
            at,
            time: SystemTime::now(),
            node_cpu: Some(cpu),
            node_memory: Some(1 << 30),
            containers: containers
                .into_iter()
                .map(|c| (c.container_id.clone(), c))
                .collect(),
        };
        let before = sample(t0, 1_000, vec![stats("a", "s1", 100, 10)]);
        // Two seconds later: the node used 1 s of CPU (half a core), container a a
        // quarter of a core; b is new (no rate yet).
        let after = sample(
            t0 + Duration::from_secs(2),
            1_000_001_000,
            vec![stats("a", "s1", 500_000_100, 20), stats("b", "s1", 7, 30)],
        );
        let pods = HashMap::from([(
            "s1".to_string(),
            PodIdentity {
                namespace: "default".into(),
                name: "web".into(),
                uid: "u1".into(),
            },
        )]);
        let s = summarize("n1", Some(&before), Some(&after), &pods);
        assert_eq!(
            s.node.cpu.as_ref().and_then(|c| c.usage_nano_cores),
            Some(500_000_000)
        );
        assert_eq!(s.pods.len(), 1);
        let pod = &s.pods[0];
        assert_eq!(pod.pod_ref.name, "web");
        assert_eq!(
            pod.containers[0].cpu.as_ref().unwrap().usage_nano_cores,
            Some(250_000_000)
        );
        assert_eq!(
            pod.containers[1].cpu.as_ref().unwrap().usage_nano_cores,
            None
        );
        // A pod's rate needs every container's.
        assert_eq!(pod.cpu.as_ref().unwrap().usage_nano_cores, None);
        assert_eq!(pod.memory.as_ref().unwrap().working_set_bytes, Some(50));
        // One sample: values, no rates.
        let single = summarize("n1", None, Some(&before), &pods);
        assert_eq!(single.node.cpu.unwrap().usage_nano_cores, None);
    }

    #[tokio::test]
    async fn sim_containers_report_their_configured_usage() {
        let rt = SimRuntime::new();
        rt.set_usage(
            "app",
            SimUsage {
                cpu_millicores: 250,
                memory_bytes: 64 << 20,
            },
        );
        let sb = PodSandboxConfig {
            pod: PodIdentity {
                namespace: "default".into(),
                name: "hollow".into(),
                uid: "u".into(),
            },
            ..PodSandboxConfig::default()
        };
        let sid = rt.run_pod_sandbox(&sb).await.unwrap();
        let c = ContainerConfig {
            name: "app".into(),
            ..ContainerConfig::default()
        };
        let id = rt.create_container(&sid, &c, &sb).await.unwrap();
        rt.start_container(&id).await.unwrap();
        let provider = StatsProvider::new(Arc::new(rt), "n1");
        provider.sample().await;
        tokio::time::sleep(MIN_WINDOW + Duration::from_millis(100)).await;
        let summary = provider.summary().await;
        let pod = &summary.pods[0];
        assert_eq!(pod.pod_ref.name, "hollow");
        assert_eq!(
            pod.memory.as_ref().unwrap().working_set_bytes,
            Some(64 << 20)
        );
        let rate = pod.cpu.as_ref().unwrap().usage_nano_cores.unwrap();
        // 250 millicores, within timing noise.
        assert!((200_000_000..=300_000_000).contains(&rate), "{rate}");
    }
}
