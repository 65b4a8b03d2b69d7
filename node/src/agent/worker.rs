//! [`PodWorker`]: one task per pod that drives it through its lifecycle on the
//! runtime and reports its status.
//!
//! Each sync (on every change of the pod and every `sync_period`):
//! 1. make sure the pod has a sandbox;
//! 2. read the runtime's status of every current container;
//! 3. run the init containers one at a time, in order, each to success (a failed one
//!    is restarted with back-off, or fails the pod under `restartPolicy: Never`);
//! 4. then start every regular container, restarting exited ones as the restart
//!    policy says, after the CrashLoopBackOff delay;
//! 5. compute the phase and status and write it when it changed.
//!
//! When the pod gets a `deletionTimestamp` the worker stops its containers within the
//! grace period, writes their final status, removes the sandbox and deletes the pod
//! object with `gracePeriodSeconds=0` (the API server's graceful deletion waits for
//! exactly that). When the pod disappears from the API, it tears everything down at
//! once.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{Container, Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use skiff_core::client::{Client, DeleteParams, ObjectTarget, Patch, PatchParams, ResourceRef};
use skiff_core::runtime::events::EventType;
use tokio::sync::watch;

use super::env::{self, PodRuntimeInfo};
use super::events::{messages, reasons, EventSink, PodEvents};
use super::pod_status::{self, ContainerRecord, PodView, Tally, Waiting};
use super::volumes::PodVolumes;
use super::AgentConfig;
use super::{hooks, probe};
use crate::runtime::{
    ContainerConfig, ContainerState, PodIdentity, PodSandboxConfig, Runtime, RuntimeError,
};

/// Drives one pod (one uid).
pub struct PodWorker {
    client: Arc<dyn Client>,
    runtime: Arc<dyn Runtime>,
    config: Arc<AgentConfig>,
    runtime_name: String,
    sandbox: Option<(String, PodSandboxConfig, Option<String>)>,
    records: Vec<ContainerRecord>,
    initialized: bool,
    init_failed: bool,
    /// Set once the pod reached Succeeded or Failed: nothing runs again.
    terminal: Option<&'static str>,
    start_time: Option<Time>,
    conditions: Vec<PodCondition>,
    last_written: Option<serde_json::Value>,
    message: Option<String>,
    volumes: PodVolumes,
    /// Why the pod's volumes could not be set up, while they cannot.
    volume_error: Option<String>,
    /// The kubelet's events about the pod.
    events: PodEvents,
}

fn pods() -> ResourceRef {
    ResourceRef::new("", "v1", "pods", true)
}

fn spec_containers(pod: &Pod) -> (Vec<Container>, Vec<Container>) {
    pod.spec
        .as_ref()
        .map(|s| {
            (
                s.init_containers.clone().unwrap_or_default(),
                s.containers.clone(),
            )
        })
        .unwrap_or_default()
}

fn restart_policy(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.clone())
        .unwrap_or_else(|| "Always".into())
}

fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The grace period of a terminating pod: what the deletion set, else the spec's,
/// else 30 s.
pub fn grace_period(pod: &Pod) -> Duration {
    let secs = pod
        .metadata
        .deletion_grace_period_seconds
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
        })
        .unwrap_or(30);
    Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

impl PodWorker {
    /// A worker for `pod` (not started).
    pub fn new(
        client: Arc<dyn Client>,
        runtime: Arc<dyn Runtime>,
        config: Arc<AgentConfig>,
        pod: &Pod,
    ) -> Self {
        let (init, regular) = spec_containers(pod);
        let record = |c: &Container, init: bool| ContainerRecord {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            init,
            pre_stop: hooks::pre_stop_hook(c),
            ..ContainerRecord::default()
        };
        let records = init
            .iter()
            .map(|c| record(c, true))
            .chain(regular.iter().map(|c| record(c, false)))
            .collect();
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        let terminal = match phase {
            Some("Succeeded") => Some("Succeeded"),
            Some("Failed") => Some("Failed"),
            _ => None,
        };
        let runtime_name = runtime.version().name;
        let mut volumes = PodVolumes::new(
            config
                .root_dir
                .join("pods")
                .join(pod.metadata.uid.as_deref().unwrap_or("no-uid")),
        );
        volumes.refresh = config.volume_refresh;
        PodWorker {
            client,
            runtime,
            config,
            runtime_name,
            sandbox: None,
            records,
            initialized: false,
            init_failed: false,
            terminal,
            start_time: pod.status.as_ref().and_then(|s| s.start_time.clone()),
            conditions: Vec::new(),
            last_written: None,
            message: None,
            volumes,
            volume_error: None,
            events: PodEvents::new(EventSink::disabled(), pod),
        }
    }

    /// Records the worker's events about `pod` through `sink`.
    pub fn with_events(mut self, sink: EventSink, pod: &Pod) -> Self {
        self.events = PodEvents::new(sink, pod);
        self
    }

    /// Records an event about container `i`.
    fn container_event(&self, i: usize, kind: EventType, reason: &'static str, message: &str) {
        let r = &self.records[i];
        self.events
            .container(&r.name, r.init, kind, reason, message);
    }

    /// Sets container `i`'s waiting state and records a Warning event with `reason`
    /// and `message` unless it waited for the same reason already (the worker retries
    /// every sync; the event is written once per change).
    fn fail_start(
        &mut self,
        i: usize,
        previous: Option<&Waiting>,
        waiting: Waiting,
        event: (&'static str, String),
    ) {
        if previous != Some(&waiting) {
            self.container_event(i, EventType::Warning, event.0, &event.1);
        }
        self.records[i].waiting = Some(waiting);
    }

    /// Runs until the pod is deleted (by the API or by this worker).
    pub async fn run(mut self, mut rx: watch::Receiver<Pod>) {
        loop {
            let pod = rx.borrow_and_update().clone();
            if pod.metadata.deletion_timestamp.is_some() {
                self.terminate(&pod, grace_period(&pod), &mut rx).await;
                return;
            }
            if self.terminal.is_none() {
                self.sync(&pod).await;
                self.write_status(&pod).await;
            }
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        // The pod is gone from the API: nothing to report to.
                        self.teardown(Duration::ZERO).await;
                        return;
                    }
                }
                _ = tokio::time::sleep(self.config.sync_period) => {}
            }
        }
    }

    async fn sync(&mut self, pod: &Pod) {
        if self.start_time.is_none() {
            self.start_time = Some(pod_status::now());
        }
        if self.sandbox.is_none() {
            let config = sandbox_config(pod);
            match self.runtime.run_pod_sandbox(&config).await {
                Ok(id) => {
                    let ip = match self.runtime.pod_sandbox_status(&id).await {
                        Ok(s) => s.ip,
                        Err(_) => None,
                    };
                    self.sandbox = Some((id, config, ip));
                    self.message = None;
                }
                Err(e) => {
                    let message = format!("creating the pod sandbox: {e}");
                    if self.message.as_ref() != Some(&message) {
                        self.events.pod(
                            EventType::Warning,
                            reasons::FAILED_CREATE_SANDBOX,
                            &messages::sandbox_failed(&e.to_string()),
                        );
                    }
                    self.message = Some(message);
                    return;
                }
            }
        }
        if !self.prepare_volumes(pod).await {
            return;
        }
        self.refresh().await;
        let policy = restart_policy(pod);
        let (init, regular) = spec_containers(pod);
        let mut initialized = true;
        for (i, spec) in init.iter().enumerate() {
            match (self.records[i].state(), self.records[i].exit_code()) {
                (_, Some(0)) => continue,
                (None, _) => self.start(i, pod, spec).await,
                (Some(ContainerState::Exited), Some(_)) if policy == "Never" => {
                    self.init_failed = true;
                }
                (Some(ContainerState::Exited), _) => self.restart(i, pod, spec).await,
                _ => {}
            }
            initialized = false;
            break;
        }
        self.initialized = initialized;
        if initialized {
            let offset = init.len();
            for (j, spec) in regular.iter().enumerate() {
                let i = offset + j;
                match self.records[i].state() {
                    None => self.start(i, pod, spec).await,
                    Some(ContainerState::Exited) => {
                        let code = self.records[i].exit_code().unwrap_or(0);
                        let again = match policy.as_str() {
                            "Never" => false,
                            "OnFailure" => code != 0,
                            _ => true,
                        };
                        if again {
                            self.restart(i, pod, spec).await;
                        }
                    }
                    _ => {}
                }
            }
        }
        if initialized {
            self.probe(pod, &regular, init.len()).await;
        }
        let phase = pod_status::phase(
            &policy,
            self.initialized,
            self.init_failed,
            &Tally::of(&self.records),
        );
        if matches!(phase, "Succeeded" | "Failed") {
            self.terminal = Some(phase);
            // Nothing of a finished pod keeps running (a Never pod's init failure may
            // leave nothing running; an OnFailure pod has nothing running either).
            self.stop_all(Duration::ZERO).await;
        }
    }

    /// Runs the due readiness and liveness probes of the running regular containers;
    /// a container whose liveness probe fails is stopped (and then restarted as its
    /// restart policy says).
    async fn probe(&mut self, pod: &Pod, regular: &[Container], offset: usize) {
        let pod_ip = self
            .sandbox
            .as_ref()
            .and_then(|s| s.2.clone())
            .unwrap_or_else(|| self.config.node_ip.clone());
        let now = std::time::Instant::now();
        let runtime = self.runtime.clone();
        let events = self.events.clone();
        let unhealthy = |spec: &Container, probe: &str, why: &str| {
            events.container(
                &spec.name,
                false,
                EventType::Warning,
                reasons::UNHEALTHY,
                &messages::probe_failed(probe, why),
            );
        };
        for (j, spec) in regular.iter().enumerate() {
            let r = &mut self.records[offset + j];
            let (Some(started), true) = (r.started, r.running()) else {
                continue;
            };
            let container_id = r.current.as_ref().map(|c| c.id.clone()).unwrap_or_default();
            let target = probe::Target {
                pod_ip: &pod_ip,
                runtime: runtime.as_ref(),
                container_id: &container_id,
            };
            let mut failed = None;
            if let (Some(probe), Some(state)) = (&spec.startup_probe, &mut r.startup) {
                if !state.ok {
                    if state.due(probe, started, now) {
                        let result = probe::run(probe, spec, &target).await;
                        state.record(result.is_ok(), probe);
                        if let Err(why) = &result {
                            unhealthy(spec, "Startup", why);
                        }
                        if state.failed(probe) {
                            failed = Some((result.err().unwrap_or_default(), probe, "startup"));
                        }
                    }
                    if failed.is_none() {
                        // Liveness and readiness wait for the startup probe.
                        continue;
                    }
                }
            }
            if let (Some(probe), Some(state), None) =
                (&spec.readiness_probe, &mut r.readiness, &failed)
            {
                if state.due(probe, started, now) {
                    let result = probe::run(probe, spec, &target).await;
                    state.record(result.is_ok(), probe);
                    if let Err(why) = &result {
                        unhealthy(spec, "Readiness", why);
                    }
                }
            }
            if let (Some(probe), Some(state), None) =
                (&spec.liveness_probe, &mut r.liveness, &failed)
            {
                if state.due(probe, started, now) {
                    let result = probe::run(probe, spec, &target).await;
                    state.record(result.is_ok(), probe);
                    if let Err(why) = &result {
                        unhealthy(spec, "Liveness", why);
                    }
                    if !state.ok {
                        failed = Some((result.err().unwrap_or_default(), probe, "liveness"));
                    }
                }
            }
            if let Some((why, probe, kind)) = failed {
                let Some(id) = r.current.as_ref().map(|c| c.id.clone()) else {
                    continue;
                };
                tracing::info!(pod = %pod_key(pod), container = %spec.name, %why, "liveness or startup probe failed; restarting the container");
                let restarted = restart_policy(pod) != "Never";
                events.container(
                    &spec.name,
                    false,
                    EventType::Normal,
                    reasons::KILLING,
                    &messages::probe_kill(&spec.name, kind, restarted),
                );
                let grace = probe
                    .termination_grace_period_seconds
                    .or_else(|| {
                        pod.spec
                            .as_ref()
                            .and_then(|s| s.termination_grace_period_seconds)
                    })
                    .unwrap_or(30);
                let grace = Duration::from_secs(u64::try_from(grace).unwrap_or(0));
                if let Err(e) = self.runtime.stop_container(&id, grace).await {
                    tracing::warn!(container = %id, error = %e, "stopping a container that failed its liveness probe");
                }
                let r = &mut self.records[offset + j];
                r.current = self.runtime.container_status(&id).await.ok();
            }
        }
    }

    /// Prepares (and refreshes) the pod's volumes; false while they were never set up.
    async fn prepare_volumes(&mut self, pod: &Pod) -> bool {
        let info = PodRuntimeInfo {
            host_ip: self.config.node_ip.clone(),
            pod_ip: self
                .sandbox
                .as_ref()
                .and_then(|s| s.2.clone())
                .unwrap_or_default(),
        };
        match self.volumes.prepare(&self.client, pod, &info).await {
            Ok(()) => {
                self.volume_error = None;
                true
            }
            Err(e) => {
                tracing::warn!(pod = %pod_key(pod), error = %e, "setting up volumes");
                // The kubelet's wording.
                let message = match &self.volumes.failed_volume {
                    Some(v) => format!("MountVolume.SetUp failed for volume {v:?} : {e}"),
                    None => format!("MountVolume.SetUp failed: {e}"),
                };
                if self.volume_error.as_ref() != Some(&message) {
                    self.events
                        .pod(EventType::Warning, reasons::FAILED_MOUNT, &message);
                }
                self.volume_error = Some(message);
                // A running pod keeps running on its last good files.
                self.records.iter().any(|r| r.attempts > 0)
            }
        }
    }

    /// Reads the runtime's status of every current container.
    async fn refresh(&mut self) {
        for r in &mut self.records {
            let Some(cur) = &r.current else { continue };
            match self.runtime.container_status(&cur.id).await {
                Ok(s) => r.current = Some(s),
                Err(RuntimeError::ContainerNotFound(_)) => {
                    if let Some(c) = &mut r.current {
                        if c.state != ContainerState::Exited {
                            c.state = ContainerState::Exited;
                            c.exit_code = Some(c.exit_code.unwrap_or(137));
                            c.finished_at = Some(SystemTime::now());
                            c.reason = "ContainerStatusUnknown".into();
                            c.message = "the container could not be located".into();
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading container status"),
            }
        }
    }

    /// Restarts container `i` once its back-off has passed; until then it waits with
    /// `CrashLoopBackOff`.
    async fn restart(&mut self, i: usize, pod: &Pod, spec: &Container) {
        let backoff = self.config.backoff;
        let r = &mut self.records[i];
        let Some(exited) = r.current.clone() else {
            return;
        };
        let ran = match (exited.started_at, exited.finished_at) {
            (Some(s), Some(f)) => f.duration_since(s).unwrap_or_default(),
            _ => Duration::ZERO,
        };
        if ran >= backoff.reset_after {
            r.backoff_restarts = 0;
        }
        let delay = backoff.delay(r.backoff_restarts);
        let since = exited
            .finished_at
            .and_then(|f| SystemTime::now().duration_since(f).ok())
            .unwrap_or_default();
        if since < delay {
            // One event per back-off (the worker checks every sync).
            let entering = r
                .waiting
                .as_ref()
                .is_none_or(|w| w.reason != "CrashLoopBackOff");
            if entering {
                self.events.container(
                    &r.name,
                    r.init,
                    EventType::Warning,
                    reasons::BACK_OFF,
                    &messages::back_off(
                        &r.name,
                        pod.metadata.name.as_deref().unwrap_or_default(),
                        pod.metadata.namespace.as_deref().unwrap_or_default(),
                        pod.metadata.uid.as_deref().unwrap_or_default(),
                    ),
                );
            }
            r.waiting = Some(Waiting {
                reason: "CrashLoopBackOff".into(),
                message: format!(
                    "back-off {} restarting failed container={} pod={}_{}({})",
                    human(delay),
                    r.name,
                    pod.metadata.name.as_deref().unwrap_or_default(),
                    pod.metadata.namespace.as_deref().unwrap_or_default(),
                    pod.metadata.uid.as_deref().unwrap_or_default(),
                ),
            });
            return;
        }
        // Keep the exited attempt (its log is `--previous`); drop the one before.
        if let Some(older) = r.last_terminated.replace(exited) {
            if let Err(e) = self.runtime.remove_container(&older.id).await {
                tracing::debug!(error = %e, "removing an old container attempt");
            }
        }
        r.current = None;
        r.restart_count += 1;
        r.backoff_restarts += 1;
        self.start(i, pod, spec).await;
    }

    /// Creates and starts a new attempt of container `i`.
    async fn start(&mut self, i: usize, pod: &Pod, spec: &Container) {
        let Some((sandbox_id, sandbox, ip)) = self.sandbox.clone() else {
            return;
        };
        let previous = self.records[i].waiting.take();
        let previous = previous.as_ref();
        let image = spec.image.clone().unwrap_or_default();
        let command = spec.command.clone().unwrap_or_default();
        // With no image, `command` or else `args` is what runs on the host (as for an
        // image with no entrypoint).
        let has_argv = !command.is_empty() || spec.args.as_ref().is_some_and(|a| !a.is_empty());
        let run_on_host = match self.runtime.image_status(&image).await {
            Ok(Some(_)) => {
                self.container_event(
                    i,
                    EventType::Normal,
                    reasons::PULLED,
                    &messages::image_present(&image),
                );
                false
            }
            Ok(None) => {
                self.container_event(
                    i,
                    EventType::Normal,
                    reasons::PULLING,
                    &messages::pulling(&image),
                );
                let began = std::time::Instant::now();
                match self.runtime.pull_image(&image).await {
                    Ok(_) => {
                        self.container_event(
                            i,
                            EventType::Normal,
                            reasons::PULLED,
                            &messages::pulled(&image, began.elapsed()),
                        );
                        false
                    }
                    Err(e) if has_argv => {
                        self.container_event(
                            i,
                            EventType::Warning,
                            reasons::FAILED,
                            &format!(
                                "{}; running the container's command on the host",
                                messages::pull_failed(&image, &e.to_string())
                            ),
                        );
                        let r = &mut self.records[i];
                        r.host_note = Some(format!(
                            "container {}: image {image:?} is not in the local image store ({e}); running its command on the host",
                            r.name
                        ));
                        true
                    }
                    Err(e) => {
                        let waiting = Waiting {
                            reason: "ErrImageNeverPull".into(),
                            message: format!(
                                "Container image {image:?} is not in the node's local image store and cannot be pulled ({e}); the container gives no command or args to run on the host instead"
                            ),
                        };
                        let event = (reasons::ERR_IMAGE_NEVER_PULL, waiting.message.clone());
                        self.fail_start(i, previous, waiting, event);
                        return;
                    }
                }
            }
            Err(e) => {
                let waiting = Waiting {
                    reason: "ImageInspectError".into(),
                    message: e.to_string(),
                };
                let event = (
                    reasons::INSPECT_FAILED,
                    format!("Failed to inspect image {image:?}: {e}"),
                );
                self.fail_start(i, previous, waiting, event);
                return;
            }
        };
        let info = PodRuntimeInfo {
            host_ip: self.config.node_ip.clone(),
            pod_ip: ip.clone().unwrap_or_default(),
        };
        let envs = match env::resolve(self.client.clone(), pod, spec, &info).await {
            Ok(envs) => envs,
            Err(e) => {
                let waiting = Waiting {
                    reason: "CreateContainerConfigError".into(),
                    message: e.to_string(),
                };
                let event = (reasons::FAILED, messages::error(&waiting.message));
                self.fail_start(i, previous, waiting, event);
                return;
            }
        };
        let vars = envs
            .iter()
            .map(|kv| (kv.key.clone(), kv.value.clone()))
            .collect();
        let mounts = match self.volumes.mounts_for(spec, &vars) {
            Ok(m) => m,
            Err(e) => {
                let waiting = Waiting {
                    reason: "CreateContainerConfigError".into(),
                    message: e.to_string(),
                };
                let event = (reasons::FAILED, messages::error(&waiting.message));
                self.fail_start(i, previous, waiting, event);
                return;
            }
        };
        let r = &mut self.records[i];
        let attempt = r.attempts;
        r.attempts += 1;
        let mut labels = sandbox.labels.clone();
        labels.insert("io.kubernetes.container.name".into(), spec.name.clone());
        let config = ContainerConfig {
            name: spec.name.clone(),
            attempt,
            image,
            command,
            args: spec.args.clone().unwrap_or_default(),
            working_dir: spec.working_dir.clone(),
            envs,
            labels,
            run_on_host,
            log_path: format!("{}/{attempt}.log", spec.name),
            mounts,
            resources: super::limits::container_resources(spec),
            stdin: spec.stdin.unwrap_or(false),
            stdin_once: spec.stdin_once.unwrap_or(false),
            tty: spec.tty.unwrap_or(false),
        };
        let id = match self
            .runtime
            .create_container(&sandbox_id, &config, &sandbox)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                let waiting = Waiting {
                    reason: "CreateContainerError".into(),
                    message: e.to_string(),
                };
                let event = (reasons::FAILED, messages::error(&waiting.message));
                self.fail_start(i, previous, waiting, event);
                return;
            }
        };
        self.container_event(
            i,
            EventType::Normal,
            reasons::CREATED,
            &messages::created(&spec.name),
        );
        match self.runtime.start_container(&id).await {
            Ok(()) => self.container_event(
                i,
                EventType::Normal,
                reasons::STARTED,
                &messages::started(&spec.name),
            ),
            Err(RuntimeError::StartFailed { message, .. }) => {
                self.container_event(
                    i,
                    EventType::Warning,
                    reasons::FAILED,
                    &messages::error(&message),
                );
            }
            Err(e) => {
                let waiting = Waiting {
                    reason: "RunContainerError".into(),
                    message: e.to_string(),
                };
                let event = (reasons::FAILED, messages::error(&waiting.message));
                self.fail_start(i, previous, waiting, event);
            }
        }
        let mut status = self.runtime.container_status(&id).await.ok();
        if status
            .as_ref()
            .is_some_and(|c| c.state == ContainerState::Running)
        {
            let pod_ip = self
                .sandbox
                .as_ref()
                .and_then(|s| s.2.clone())
                .unwrap_or_default();
            if let Err(why) = hooks::post_start(self.runtime.as_ref(), spec, &id, &pod_ip).await {
                tracing::warn!(pod = %pod_key(pod), container = %spec.name, %why, "postStart hook failed; killing the container");
                // As the kubelet, the hook's output stays out of the event (it may
                // hold secrets); the pod's status and the agent's log have it.
                self.container_event(
                    i,
                    EventType::Warning,
                    reasons::FAILED_POST_START_HOOK,
                    "PostStartHook failed",
                );
                self.container_event(
                    i,
                    EventType::Normal,
                    reasons::KILLING,
                    "FailedPostStartHook",
                );
                if let Err(e) = self.runtime.stop_container(&id, Duration::ZERO).await {
                    tracing::warn!(container = %id, error = %e, "stopping a container whose postStart hook failed");
                }
                status = self.runtime.container_status(&id).await.ok();
            }
        }
        let r = &mut self.records[i];
        r.current = status;
        r.started = Some(std::time::Instant::now());
        r.readiness = spec
            .readiness_probe
            .as_ref()
            .map(|_| probe::ProbeState::new(false));
        r.liveness = spec
            .liveness_probe
            .as_ref()
            .map(|_| probe::ProbeState::new(true));
        r.startup = spec
            .startup_probe
            .as_ref()
            .map(|_| probe::ProbeState::new(false));
    }

    async fn stop_all(&mut self, grace: Duration) {
        let runtime = self.runtime.clone();
        let pod_ip = self
            .sandbox
            .as_ref()
            .and_then(|s| s.2.clone())
            .unwrap_or_default();
        let stops = self
            .records
            .iter()
            .rev()
            .filter_map(|r| r.current.as_ref().map(|c| (r, c, r.pre_stop.clone())))
            .filter(|(_, c, _)| c.state != ContainerState::Exited)
            .map(|(r, c, pre_stop)| {
                self.events.container(
                    &r.name,
                    r.init,
                    EventType::Normal,
                    reasons::KILLING,
                    &messages::stopping(&r.name),
                );
                let runtime = runtime.clone();
                let id = c.id.clone();
                let pod_ip = pod_ip.clone();
                let running = c.state == ContainerState::Running;
                let events = self.events.clone();
                let (name, init) = (r.name.clone(), r.init);
                async move {
                    let mut grace = grace;
                    if let (Some(hook), true, false) = (pre_stop, running, grace.is_zero()) {
                        let (left, outcome) =
                            hooks::pre_stop(runtime.as_ref(), &id, &hook, &pod_ip, grace).await;
                        grace = left;
                        if outcome.is_err() {
                            // As the kubelet, the hook's output stays out of the event.
                            events.container(
                                &name,
                                init,
                                EventType::Warning,
                                reasons::FAILED_PRE_STOP_HOOK,
                                "PreStopHook failed",
                            );
                        }
                    }
                    if let Err(e) = runtime.stop_container(&id, grace).await {
                        tracing::warn!(container = %id, error = %e, "stopping a container");
                    }
                }
            })
            .collect::<Vec<_>>();
        futures::future::join_all(stops).await;
        self.refresh().await;
        for r in &mut self.records {
            if r.waiting
                .as_ref()
                .is_some_and(|w| w.reason == "CrashLoopBackOff")
            {
                r.waiting = None;
            }
        }
    }

    async fn teardown(&mut self, grace: Duration) {
        self.stop_all(grace).await;
        if let Some((id, _, _)) = self.sandbox.take() {
            if let Err(e) = self.runtime.stop_pod_sandbox(&id).await {
                tracing::warn!(sandbox = %id, error = %e, "stopping a sandbox");
            }
            if let Err(e) = self.runtime.remove_pod_sandbox(&id).await {
                tracing::warn!(sandbox = %id, error = %e, "removing a sandbox");
            }
        }
        let mut volumes = std::mem::replace(&mut self.volumes, PodVolumes::new(Default::default()));
        let _ = tokio::task::spawn_blocking(move || volumes.teardown()).await;
    }

    /// Graceful termination: stop within `grace`, report, remove, delete the object.
    async fn terminate(&mut self, pod: &Pod, grace: Duration, rx: &mut watch::Receiver<Pod>) {
        tracing::debug!(pod = %pod_key(pod), ?grace, "terminating");
        self.stop_all(grace).await;
        if self.terminal.is_none() && self.sandbox.is_some() {
            let t = Tally::of(&self.records);
            let phase = if t.stopped > 0 && t.stopped == t.succeeded {
                "Succeeded"
            } else {
                "Failed"
            };
            self.terminal = Some(phase);
            self.write_status(pod).await;
        }
        self.teardown(Duration::ZERO).await;
        let target = ObjectTarget::object(
            &pods(),
            pod.metadata.namespace.as_deref(),
            pod.metadata.name.as_deref().unwrap_or_default(),
        );
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            precondition_uid: pod.metadata.uid.clone(),
            ..DeleteParams::default()
        };
        let mut delay = Duration::from_millis(200);
        loop {
            match self.client.delete(&target, &params).await {
                Ok(_) => return,
                Err(e) if e.is_not_found() || e.is_conflict() => return,
                Err(e) => {
                    tracing::warn!(pod = %pod_key(pod), error = %e, "deleting the pod failed; retrying");
                }
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }

    async fn write_status(&mut self, pod: &Pod) {
        let phase = self.terminal.unwrap_or_else(|| {
            pod_status::phase(
                &restart_policy(pod),
                self.initialized,
                self.init_failed,
                &Tally::of(&self.records),
            )
        });
        let mut notes: Vec<String> = self
            .records
            .iter()
            .filter_map(|r| r.host_note.clone())
            .collect();
        // A running container's runtime message says how it runs (host process,
        // limits not enforced); the volumes' notes likewise.
        notes.extend(self.records.iter().filter_map(|r| {
            let c = r
                .current
                .as_ref()
                .filter(|c| c.state == ContainerState::Running)?;
            (!c.message.is_empty()).then(|| format!("container {}: {}", r.name, c.message))
        }));
        notes.extend(self.volumes.notes.iter().cloned());
        let message = self
            .message
            .clone()
            .or_else(|| self.volume_error.clone())
            .or_else(|| (!notes.is_empty()).then(|| notes.join("; ")));
        let pod_ip = self.sandbox.as_ref().and_then(|s| s.2.clone());
        let status = pod_status::pod_status(&PodView {
            records: &self.records,
            runtime: &self.runtime_name,
            phase,
            initialized: self.initialized,
            host_ip: &self.config.node_ip,
            pod_ip: pod_ip.as_deref(),
            start_time: self.start_time.clone(),
            message,
            previous: &self.conditions,
        });
        let Ok(mut body) = serde_json::to_value(&status) else {
            return;
        };
        if let Some(map) = body.as_object_mut() {
            for key in ["message", "initContainerStatuses"] {
                map.entry(key).or_insert(serde_json::Value::Null);
            }
        }
        if self.last_written.as_ref() == Some(&body) {
            return;
        }
        let target = ObjectTarget::object(
            &pods(),
            pod.metadata.namespace.as_deref(),
            pod.metadata.name.as_deref().unwrap_or_default(),
        )
        .with_subresource("status");
        let patch = Patch::Merge(serde_json::json!({ "status": body }));
        match self
            .client
            .patch(&target, &patch, &PatchParams::default())
            .await
        {
            Ok(_) => {
                self.conditions = status.conditions.unwrap_or_default();
                self.last_written = Some(body);
            }
            // A static pod's mirror may not be published yet.
            Err(e) if e.is_not_found() => {
                tracing::debug!(pod = %pod_key(pod), "no pod object to write the status to yet")
            }
            Err(e) => {
                tracing::warn!(pod = %pod_key(pod), error = %e, "writing pod status failed")
            }
        }
    }
}

/// `10s`, `1m20s`, `300ms`.
fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    if secs < 60 {
        return format!("{secs}s");
    }
    match secs % 60 {
        0 => format!("{}m", secs / 60),
        s => format!("{}m{s}s", secs / 60),
    }
}

fn sandbox_config(pod: &Pod) -> PodSandboxConfig {
    let spec = pod.spec.as_ref();
    let name = pod.metadata.name.clone().unwrap_or_default();
    PodSandboxConfig {
        pod: PodIdentity {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: name.clone(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
        },
        attempt: 0,
        hostname: spec.and_then(|s| s.hostname.clone()).unwrap_or(name),
        log_directory: None,
        labels: pod.metadata.labels.clone().unwrap_or_default(),
        annotations: pod.metadata.annotations.clone().unwrap_or_default(),
        host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_the_kubelet() {
        assert_eq!(human(Duration::from_secs(10)), "10s");
        assert_eq!(human(Duration::from_secs(300)), "5m");
        assert_eq!(human(Duration::from_secs(80)), "1m20s");
        assert_eq!(human(Duration::from_millis(200)), "200ms");
    }

    #[test]
    fn grace_from_deletion_then_spec() {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [], "terminationGracePeriodSeconds": 5}
        }))
        .unwrap();
        assert_eq!(grace_period(&pod), Duration::from_secs(5));
        pod.metadata.deletion_grace_period_seconds = Some(2);
        assert_eq!(grace_period(&pod), Duration::from_secs(2));
        pod.metadata.deletion_grace_period_seconds = Some(-1);
        assert_eq!(grace_period(&pod), Duration::ZERO);
    }
}
