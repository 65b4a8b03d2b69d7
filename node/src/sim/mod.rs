//! The simulated runtime: no processes at all. Containers report `Running` as soon as
//! they start and exit only when stopped or told to, so that thousands of hollow nodes
//! fit in one process (as kwok does for Kubernetes).
//!
//! A container can be scripted three ways, first match wins:
//! 1. [`SimRuntime::set_behaviour`] for a container name (tests);
//! 2. the container label [`BEHAVIOUR_LABEL`];
//! 3. the pod annotation [`CONTAINER_ANNOTATION_PREFIX`]`<name>` (works over the API:
//!    `sim.skiff.dev/container.main: exit:0:5` makes a pod complete after 5 s).
//!
//! [`SimRuntime::exit_container`] ends a running container at once with a code.
//! Exec in a running container answers what [`SimRuntime::set_exec_result`] scripted
//! for its name (by default: exit 0, no output), so exec probes and hooks can be
//! tested without processes.
//!
//! ```
//! # async fn run() -> Result<(), skiff_node::runtime::RuntimeError> {
//! use skiff_node::runtime::{ContainerConfig, ContainerState, PodSandboxConfig, RuntimeService};
//! use skiff_node::sim::SimRuntime;
//! let rt = SimRuntime::new();
//! let sb = PodSandboxConfig::default();
//! let sid = rt.run_pod_sandbox(&sb).await?;
//! let c = ContainerConfig { name: "app".into(), image: "app:1".into(), ..Default::default() };
//! let id = rt.create_container(&sid, &c, &sb).await?;
//! rt.start_container(&id).await?;
//! rt.exit_container(&id, 2)?;
//! let status = rt.container_status(&id).await?;
//! assert_eq!((status.state, status.exit_code), (ContainerState::Exited, Some(2)));
//! # Ok(()) }
//! ```

mod behaviour;
mod harness;
mod state;

pub use behaviour::{
    BehaviourParseError, SimBehaviour, BEHAVIOUR_LABEL, CONTAINER_ANNOTATION_PREFIX,
};
pub use harness::SimHarness;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::runtime::{
    ContainerConfig, ContainerFilter, ContainerState, ContainerStats, ContainerStatus, ExecRequest,
    ExecSession, ExecSyncResponse, Image, ImageService, PodSandboxConfig, PodSandboxStatus,
    RuntimeError, RuntimeService, RuntimeVersion, SandboxState,
};
use state::{SimContainer, SimSandbox, SimState};

/// The synthetic resource usage a simulated container reports
/// ([`SimRuntime::set_usage`]): a steady CPU rate and a constant working set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimUsage {
    /// CPU in millicores (1000 = one core busy).
    pub cpu_millicores: u64,
    /// Memory working set in bytes.
    pub memory_bytes: u64,
}

/// The simulated runtime. Cheap to clone; clones share their state.
#[derive(Clone, Default)]
pub struct SimRuntime {
    inner: Arc<Mutex<SimState>>,
}

impl std::fmt::Debug for SimRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimRuntime").finish_non_exhaustive()
    }
}

impl SimRuntime {
    /// An empty runtime whose pods get IPs `10.244.0.N`.
    pub fn new() -> Self {
        Self::with_ip_prefix("10.244.0")
    }

    /// An empty runtime whose pods get IPs `<prefix>.N` (give each hollow node its
    /// own prefix, such as `10.244.7`).
    pub fn with_ip_prefix(prefix: &str) -> Self {
        let rt = SimRuntime::default();
        rt.lock().ip_prefix = prefix.to_owned();
        rt
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panic while holding the lock cannot leave the maps half-updated in a way
        // that matters more than losing the runtime; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Scripts every container named `container_name` (in any pod) from now on.
    pub fn set_behaviour(&self, container_name: &str, behaviour: SimBehaviour) {
        self.lock()
            .rules
            .insert(container_name.to_owned(), behaviour);
    }

    /// Scripts what exec answers in containers named `container_name`: the output
    /// and exit code of every command run there (a `Running` container is still
    /// required).
    pub fn set_exec_result(&self, container_name: &str, result: ExecSyncResponse) {
        self.lock()
            .exec_results
            .insert(container_name.to_owned(), result);
    }

    /// Makes containers named `container_name` report `usage` while they run
    /// ([`RuntimeService::list_container_stats`]; `kubectl top` on hollow nodes).
    pub fn set_usage(&self, container_name: &str, usage: SimUsage) {
        self.lock().usage.insert(container_name.to_owned(), usage);
    }

    /// Makes `image` impossible to pull (`ImageUnavailable`).
    pub fn set_unpullable(&self, image: &str) {
        self.lock().unpullable.insert(image.to_owned());
    }

    /// Ends a running container now with `code`.
    pub fn exit_container(&self, id: &str, code: i32) -> Result<(), RuntimeError> {
        let mut st = self.lock();
        let c = st
            .containers
            .get_mut(id)
            .ok_or_else(|| RuntimeError::ContainerNotFound(id.to_owned()))?;
        if c.status.state != ContainerState::Running {
            return Err(RuntimeError::InvalidState(format!(
                "container {id} is {:?}, not Running",
                c.status.state
            )));
        }
        c.exit(code, "");
        Ok(())
    }

    /// The newest container of `namespace/pod` named `container`, if any.
    pub fn find_container(&self, namespace: &str, pod: &str, container: &str) -> Option<String> {
        let st = self.lock();
        st.containers
            .values()
            .filter(|c| {
                c.status.name == container
                    && st.sandboxes.get(&c.status.sandbox_id).is_some_and(|s| {
                        s.status.pod.namespace == namespace && s.status.pod.name == pod
                    })
            })
            .max_by_key(|c| (c.status.attempt, c.seq))
            .map(|c| c.status.id.clone())
    }

    fn behaviour_of(&self, config: &ContainerConfig, sandbox: &PodSandboxConfig) -> SimBehaviour {
        if let Some(b) = self.lock().rules.get(&config.name) {
            return b.clone();
        }
        let scripted = config.labels.get(BEHAVIOUR_LABEL).or_else(|| {
            sandbox
                .annotations
                .get(&format!("{CONTAINER_ANNOTATION_PREFIX}{}", config.name))
        });
        match scripted.map(|s| s.parse::<SimBehaviour>()) {
            Some(Ok(b)) => b,
            Some(Err(e)) => SimBehaviour::FailStart {
                message: e.to_string(),
            },
            None => SimBehaviour::Run,
        }
    }
}

#[async_trait]
impl RuntimeService for SimRuntime {
    fn version(&self) -> RuntimeVersion {
        RuntimeVersion {
            name: "sim".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String, RuntimeError> {
        let mut st = self.lock();
        let id = st.next_id("sandbox");
        let ip = st.next_ip();
        st.sandboxes.insert(
            id.clone(),
            SimSandbox {
                status: PodSandboxStatus {
                    id: id.clone(),
                    pod: config.pod.clone(),
                    attempt: config.attempt,
                    state: SandboxState::Ready,
                    created_at: SystemTime::now(),
                    ip: Some(ip),
                    labels: config.labels.clone(),
                },
            },
        );
        Ok(id)
    }

    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        let mut st = self.lock();
        let Some(sb) = st.sandboxes.get_mut(sandbox_id) else {
            return Ok(());
        };
        sb.status.state = SandboxState::NotReady;
        for c in st.containers.values_mut() {
            if c.status.sandbox_id == sandbox_id {
                c.stop(Duration::ZERO);
            }
        }
        Ok(())
    }

    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        let mut st = self.lock();
        st.sandboxes.remove(sandbox_id);
        st.containers
            .retain(|_, c| c.status.sandbox_id != sandbox_id);
        Ok(())
    }

    async fn pod_sandbox_status(&self, sandbox_id: &str) -> Result<PodSandboxStatus, RuntimeError> {
        self.lock()
            .sandboxes
            .get(sandbox_id)
            .map(|s| s.status.clone())
            .ok_or_else(|| RuntimeError::SandboxNotFound(sandbox_id.to_owned()))
    }

    async fn list_pod_sandboxes(&self) -> Result<Vec<PodSandboxStatus>, RuntimeError> {
        Ok(self
            .lock()
            .sandboxes
            .values()
            .map(|s| s.status.clone())
            .collect())
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
        sandbox: &PodSandboxConfig,
    ) -> Result<String, RuntimeError> {
        let behaviour = self.behaviour_of(config, sandbox);
        let mut st = self.lock();
        match st.sandboxes.get(sandbox_id) {
            None => return Err(RuntimeError::SandboxNotFound(sandbox_id.to_owned())),
            Some(s) if s.status.state != SandboxState::Ready => {
                return Err(RuntimeError::SandboxNotReady(sandbox_id.to_owned()))
            }
            Some(_) => {}
        }
        let id = st.next_id("container");
        let image_ref = if config.run_on_host {
            String::new()
        } else {
            format!("sim://{}", config.image)
        };
        let seq = st.seq;
        st.containers.insert(
            id.clone(),
            SimContainer::new(id.clone(), sandbox_id, config, image_ref, behaviour, seq),
        );
        Ok(id)
    }

    async fn start_container(&self, container_id: &str) -> Result<(), RuntimeError> {
        let exit_after = {
            let mut st = self.lock();
            let ready = {
                let c = st
                    .containers
                    .get(container_id)
                    .ok_or_else(|| RuntimeError::ContainerNotFound(container_id.to_owned()))?;
                st.sandboxes
                    .get(&c.status.sandbox_id)
                    .is_some_and(|s| s.status.state == SandboxState::Ready)
            };
            let c = st
                .containers
                .get_mut(container_id)
                .ok_or_else(|| RuntimeError::ContainerNotFound(container_id.to_owned()))?;
            if c.status.state != ContainerState::Created {
                return Err(RuntimeError::InvalidState(format!(
                    "container {container_id} is {:?}, not Created",
                    c.status.state
                )));
            }
            if !ready {
                return Err(RuntimeError::SandboxNotReady(c.status.sandbox_id.clone()));
            }
            c.start()?
        };
        if let Some((code, after)) = exit_after {
            if after.is_zero() {
                if let Some(c) = self.lock().containers.get_mut(container_id) {
                    c.exit_if_running(code);
                }
            } else {
                let rt = self.clone();
                let id = container_id.to_owned();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    if let Some(c) = rt.lock().containers.get_mut(&id) {
                        c.exit_if_running(code);
                    }
                });
            }
        }
        Ok(())
    }

    async fn stop_container(
        &self,
        container_id: &str,
        timeout: Duration,
    ) -> Result<(), RuntimeError> {
        if let Some(c) = self.lock().containers.get_mut(container_id) {
            c.stop(timeout);
        }
        Ok(())
    }

    async fn remove_container(&self, container_id: &str) -> Result<(), RuntimeError> {
        self.lock().containers.remove(container_id);
        Ok(())
    }

    async fn container_status(&self, container_id: &str) -> Result<ContainerStatus, RuntimeError> {
        self.lock()
            .containers
            .get(container_id)
            .map(|c| c.status.clone())
            .ok_or_else(|| RuntimeError::ContainerNotFound(container_id.to_owned()))
    }

    async fn list_containers(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<ContainerStatus>, RuntimeError> {
        Ok(self
            .lock()
            .containers
            .values()
            .filter(|c| {
                filter
                    .sandbox_id
                    .as_ref()
                    .is_none_or(|s| *s == c.status.sandbox_id)
                    && filter.state.is_none_or(|s| s == c.status.state)
            })
            .map(|c| c.status.clone())
            .collect())
    }

    async fn list_container_stats(&self) -> Result<Vec<ContainerStats>, RuntimeError> {
        let now = SystemTime::now();
        let st = self.lock();
        Ok(st
            .containers
            .values()
            .filter(|c| c.status.state == ContainerState::Running)
            .map(|c| {
                let usage = st.usage.get(&c.status.name).copied().unwrap_or_default();
                let running_for = c
                    .status
                    .started_at
                    .and_then(|s| now.duration_since(s).ok())
                    .unwrap_or_default();
                ContainerStats {
                    container_id: c.status.id.clone(),
                    sandbox_id: c.status.sandbox_id.clone(),
                    name: c.status.name.clone(),
                    timestamp: now,
                    cpu_usage_core_nanos: u64::try_from(
                        running_for.as_nanos() * u128::from(usage.cpu_millicores) / 1000,
                    )
                    .unwrap_or(u64::MAX),
                    memory_working_set_bytes: usage.memory_bytes,
                }
            })
            .collect())
    }

    async fn exec(&self, request: &ExecRequest) -> Result<ExecSession, RuntimeError> {
        let st = self.lock();
        let c = st
            .containers
            .get(&request.container_id)
            .ok_or_else(|| RuntimeError::ContainerNotFound(request.container_id.clone()))?;
        if c.status.state != ContainerState::Running {
            return Err(RuntimeError::InvalidState(format!(
                "container {} is not running",
                request.container_id
            )));
        }
        if request.command.is_empty() {
            return Err(RuntimeError::StartFailed {
                id: request.container_id.clone(),
                message: "exec: no command given".into(),
            });
        }
        let result = st
            .exec_results
            .get(&c.status.name)
            .cloned()
            .unwrap_or_default();
        let code = result.exit_code;
        Ok(ExecSession {
            stdin: request.stdin.then(|| Box::pin(tokio::io::sink()) as _),
            stdout: request
                .stdout
                .then(|| Box::pin(std::io::Cursor::new(result.stdout)) as _),
            stderr: (request.stderr && !request.tty)
                .then(|| Box::pin(std::io::Cursor::new(result.stderr)) as _),
            exit: Box::pin(async move { Ok(code) }),
            resize: None,
        })
    }
}

#[async_trait]
impl ImageService for SimRuntime {
    async fn list_images(&self) -> Result<Vec<Image>, RuntimeError> {
        Ok(self.lock().images.values().cloned().collect())
    }

    async fn image_status(&self, image: &str) -> Result<Option<Image>, RuntimeError> {
        Ok(self.lock().images.get(image).cloned())
    }

    async fn pull_image(&self, image: &str) -> Result<String, RuntimeError> {
        let mut st = self.lock();
        if st.unpullable.contains(image) {
            return Err(RuntimeError::ImageUnavailable {
                image: image.to_owned(),
                message: "the simulated registry was told this image does not exist".into(),
            });
        }
        let id = format!("sim://{image}");
        st.images.entry(image.to_owned()).or_insert_with(|| Image {
            id: id.clone(),
            repo_tags: vec![image.to_owned()],
            ..Image::default()
        });
        Ok(id)
    }

    async fn remove_image(&self, image: &str) -> Result<(), RuntimeError> {
        self.lock().images.remove(image);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_the_conformance_suite() {
        crate::runtime::conformance::run(&SimHarness::new())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn scripted_exit_after_a_delay_and_fail_start() {
        let rt = SimRuntime::new();
        let mut sb = PodSandboxConfig::default();
        sb.annotations.insert(
            format!("{CONTAINER_ANNOTATION_PREFIX}job"),
            "exit:4:0.05".into(),
        );
        let sid = rt.run_pod_sandbox(&sb).await.unwrap();
        let job = ContainerConfig {
            name: "job".into(),
            ..Default::default()
        };
        let id = rt.create_container(&sid, &job, &sb).await.unwrap();
        rt.start_container(&id).await.unwrap();
        assert_eq!(
            rt.container_status(&id).await.unwrap().state,
            ContainerState::Running
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let s = rt.container_status(&id).await.unwrap();
            if s.state == ContainerState::Exited {
                assert_eq!(s.exit_code, Some(4));
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never exited");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        rt.set_behaviour(
            "bad",
            SimBehaviour::FailStart {
                message: "no such file".into(),
            },
        );
        let bad = ContainerConfig {
            name: "bad".into(),
            ..Default::default()
        };
        let id = rt.create_container(&sid, &bad, &sb).await.unwrap();
        let err = rt.start_container(&id).await.unwrap_err();
        assert!(matches!(err, RuntimeError::StartFailed { .. }), "{err}");
        let s = rt.container_status(&id).await.unwrap();
        assert_eq!(
            (s.state, s.exit_code, s.reason.as_str()),
            (ContainerState::Exited, Some(128), "StartError")
        );
        assert_eq!(rt.find_container("", "", "bad"), Some(id));
    }
}
