//! The scheduler: informers feed the cache and the queue; the loop pops a pod, runs
//! the algorithm against a fresh snapshot, assumes the pod on the chosen node and
//! hands the binding to a spawned task, so the next pod is scheduled while the bind is
//! in flight.
//!
//! # Organization
//! - [`Scheduler`]: construction from profiles, [`Scheduler::run`], and the event
//!   handlers the informers call.
//! - [`Algorithm`] (`cycle.rs`): filter and score over a snapshot.
//! - [`FitError`]: the "0/N nodes are available" diagnosis.
//! - [`Reporter`]: pod conditions and Events.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use skiff_sched::scheduler::{Scheduler, SchedulerConfig};
//! let scheduler = Scheduler::new(client, SchedulerConfig::default()).unwrap();
//! scheduler.run(std::future::pending::<()>()).await;
//! # }
//! ```

mod cycle;
mod file_config;
mod fit_error;
mod handlers;
mod leader;
mod reporting;
mod schedule_one;
mod workload_handlers;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ReplicationController, Service};
use skiff_core::client::Client;
use skiff_core::runtime::watcher;

pub use cycle::{
    num_feasible_nodes_to_find, select_host, Algorithm, ScheduleError, ScheduleResult,
};
pub use file_config::{parse_duration, ConfigError, KubeSchedulerConfiguration};
pub use fit_error::FitError;
pub use leader::{RunOutcome, LEASE_NAME, LEASE_NAMESPACE};
pub use reporting::{unschedulable_condition, Reporter, COMPONENT};

use crate::cache::{Cache, NominatedPods, Snapshot};
use crate::framework::{Framework, Handle, Profile, Registry, RegistryError, WaitingPods};
use crate::informer::run_informer;
use crate::queue::{QueueConfig, SchedulingQueue};

/// Settings of a scheduler.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// The profiles, one per scheduler name.
    pub profiles: Vec<Profile>,
    /// The plugin factories.
    pub registry: Registry,
    /// Queue timings.
    pub queue: QueueConfig,
    /// How long an assumed pod whose bind succeeded waits for the informer.
    pub assumed_pod_ttl: Duration,
    /// Threads for filtering and scoring large clusters.
    pub parallelism: usize,
    /// The default percentage of nodes to score (`None`: adaptive).
    pub percentage_of_nodes_to_score: Option<u32>,
    /// Whether to write Events.
    pub record_events: bool,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            profiles: vec![Profile::default_profile()],
            registry: crate::plugins::default_registry(),
            queue: QueueConfig::default(),
            assumed_pod_ttl: Duration::from_secs(30),
            parallelism: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(16),
            percentage_of_nodes_to_score: None,
            record_events: true,
        }
    }
}

/// The errors of building a scheduler.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// A profile could not be built.
    #[error(transparent)]
    Profile(#[from] RegistryError),
    /// No profile, or two with one scheduler name.
    #[error("invalid profiles: {0}")]
    Profiles(String),
}

/// State shared by the loop, the informers and the binding tasks.
pub(crate) struct Shared {
    pub(crate) client: Arc<dyn Client>,
    pub(crate) frameworks: HashMap<String, Arc<Framework>>,
    /// Guards the cache; held only for short, non-async sections.
    pub(crate) cache: Mutex<Cache>,
    pub(crate) queue: SchedulingQueue,
    pub(crate) reporter: Reporter,
    pub(crate) waiting_pods: WaitingPods,
    /// Pods nominated to nodes after preempting; guards only short sections.
    pub(crate) nominated: Mutex<NominatedPods>,
    /// Pods this scheduler bound.
    pub(crate) bound: std::sync::atomic::AtomicU64,
}

impl Shared {
    pub(crate) fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn nominated(&self) -> MutexGuard<'_, NominatedPods> {
        self.nominated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A scheduler. Cheap to clone.
#[derive(Clone)]
pub struct Scheduler {
    shared: Arc<Shared>,
    config: Arc<SchedulerConfig>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field(
                "profiles",
                &self.shared.frameworks.keys().collect::<Vec<_>>(),
            )
            .field("queue", &self.shared.queue)
            .finish()
    }
}

impl Scheduler {
    /// Builds the profiles' frameworks and an empty cache and queue.
    pub fn new(
        client: Arc<dyn Client>,
        config: SchedulerConfig,
    ) -> Result<Scheduler, SchedulerError> {
        if config.profiles.is_empty() {
            return Err(SchedulerError::Profiles(
                "at least one profile is needed".into(),
            ));
        }
        let waiting_pods = WaitingPods::default();
        let handle = Handle {
            client: client.clone(),
            waiting_pods: waiting_pods.clone(),
        };
        let mut frameworks = HashMap::new();
        let mut sort = None;
        for p in &config.profiles {
            let fw = Framework::new(p, &config.registry, &handle)?;
            let this_sort = fw.queue_sort().map(|s| s.name().to_owned());
            if frameworks.is_empty() {
                sort = fw.queue_sort();
            } else if this_sort != sort.as_ref().map(|s| s.name().to_owned()) {
                return Err(SchedulerError::Profiles(
                    "every profile must use the same QueueSort plugin".into(),
                ));
            }
            if frameworks
                .insert(p.scheduler_name.clone(), Arc::new(fw))
                .is_some()
            {
                return Err(SchedulerError::Profiles(format!(
                    "two profiles named {:?}",
                    p.scheduler_name
                )));
            }
        }
        let shared = Shared {
            reporter: Reporter::new(client.clone(), config.record_events),
            client,
            frameworks,
            cache: Mutex::new(Cache::new(config.assumed_pod_ttl)),
            queue: SchedulingQueue::new(config.queue.clone(), sort),
            waiting_pods,
            bound: std::sync::atomic::AtomicU64::new(0),
            nominated: Mutex::new(NominatedPods::default()),
        };
        Ok(Scheduler {
            shared: Arc::new(shared),
            config: Arc::new(config),
        })
    }

    /// The queue (for inspection).
    pub fn queue(&self) -> &SchedulingQueue {
        &self.shared.queue
    }

    /// How many pods this scheduler has bound.
    pub fn bound_pods(&self) -> u64 {
        self.shared.bound.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The number of nodes in the cache.
    pub fn node_count(&self) -> usize {
        self.shared.cache().node_count()
    }

    /// Runs until `shutdown` completes: starts the pod, node and namespace
    /// informers, the assumed-pod cleanup, and the scheduling loop. Dropping the
    /// returned future stops everything it started. A scheduler runs once: build a
    /// new one to run again.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let mut tasks = AbortOnDrop(Vec::new());
        let me = self.clone();
        tasks.push(tokio::spawn(async move {
            let client = me.shared.client.clone();
            run_informer::<Node, _>(client, watcher::Config::default(), |e| me.on_node_event(e))
                .await;
        }));
        let me = self.clone();
        tasks.push(tokio::spawn(async move {
            let client = me.shared.client.clone();
            run_informer::<Pod, _>(client, watcher::Config::default(), |e| me.on_pod_event(e))
                .await;
        }));
        let me = self.clone();
        tasks.push(tokio::spawn(async move {
            let client = me.shared.client.clone();
            run_informer::<Namespace, _>(client, watcher::Config::default(), |e| {
                me.on_namespace_event(e)
            })
            .await;
        }));
        // The workloads PodTopologySpread's default constraints count by.
        self.spawn_workload_informer::<Service>(&mut tasks);
        self.spawn_workload_informer::<ReplicationController>(&mut tasks);
        self.spawn_workload_informer::<ReplicaSet>(&mut tasks);
        self.spawn_workload_informer::<StatefulSet>(&mut tasks);
        let me = self.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let expired = me.shared.cache().cleanup_assumed_pods(std::time::Instant::now());
                for key in expired {
                    tracing::warn!(pod = %key, "assumed pod expired before its binding was observed");
                }
            }
        }));
        let mut algorithm = Algorithm {
            next_start_node_index: 0,
            parallelism: self.config.parallelism.max(1),
            percentage_of_nodes_to_score: self.config.percentage_of_nodes_to_score,
        };
        let mut snapshot = Snapshot::default();
        self.shared.cache().mark_all_dirty();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                next = self.shared.queue.pop() => match next {
                    Some(info) => self.schedule_one(info, &mut algorithm, &mut snapshot).await,
                    None => break,
                },
            }
        }
        self.shared.queue.close();
        drop(tasks);
    }
}

impl Scheduler {
    fn spawn_workload_informer<K>(&self, tasks: &mut AbortOnDrop)
    where
        K: workload_handlers::WorkloadKind + skiff_core::runtime::Object + k8s_openapi::Resource,
        K::Scope: 'static,
    {
        let me = self.clone();
        tasks.push(tokio::spawn(async move {
            let client = me.shared.client.clone();
            run_informer::<K, _>(client, watcher::Config::default(), |e| {
                me.on_workload_event(e)
            })
            .await;
        }));
    }
}

/// Background tasks aborted when the scheduler's run ends or is dropped (as when
/// leadership is lost).
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl AbortOnDrop {
    fn push(&mut self, t: tokio::task::JoinHandle<()>) {
        self.0.push(t);
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}
