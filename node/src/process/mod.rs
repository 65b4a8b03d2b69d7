//! The process runtime: each container is a real host process.
//!
//! - The command is the pod spec's `command` + `args`, or the image's entrypoint and
//!   cmd from the [`LocalImageStore`] (Kubernetes' override rules).
//! - The environment is the image's, then the container's (resolved by the agent),
//!   over a default `PATH` and `HOSTNAME`; nothing is inherited from the agent.
//! - The working directory is the container's `workingDir`, else the image's, else the
//!   pod's directory under the runtime's root.
//! - stdout and stderr go to a per-container log file in the CRI format, rotated by
//!   size ([`RotatingLog`]).
//! - Each container runs in its own process group: stopping sends SIGTERM to the
//!   group, then SIGKILL after the grace period. A process killed by signal N exits
//!   with 128 + N.
//! - A pod's network ([`network`]): when containers are isolated, the node has a pod
//!   CIDR ([`RuntimeService::update_runtime_config`]) and the machine allows network
//!   namespaces ([`network::available`]), each sandbox gets a network namespace of
//!   its own with an address from the pod CIDR, joined by a veth pair to the node's
//!   bridge, and every container of the pod joins it. Otherwise (and always for
//!   `hostNetwork` pods) pods share the host's network and the pod IP is the
//!   node's; the containers' status message says why.
//! - As root ([`ProcessRuntimeConfig::isolate`]) each container runs in its own
//!   mount, PID, UTS and IPC namespaces, in the image's root file system when the
//!   image store has one ([`LocalImageStore::rootfs`]) or else in copy-on-write views
//!   of the host's system directories, with its volumes ([`crate::runtime::Mount`])
//!   bind-mounted at their paths; see [`isolation`]. Its CPU and memory limits go to
//!   a cgroup ([`cgroups`]); an OOM kill is reported as `OOMKilled`.
//! - Otherwise a container is a plain host process: its volumes stay at their host
//!   paths, given to it in `SKIFF_MOUNT_<PATH>` variables ([`mount_env_name`]), and its
//!   status message says so (the agent shows it in the pod's `status.message`).
//! - With `stdin: true` the container's stdin stays open for attached clients
//!   (`stdinOnce` closes it after the first); with `tty: true` it runs on a
//!   pseudo-terminal. Attach ([`crate::runtime::RuntimeService::attach`]) streams
//!   its live output while the log keeps everything (see `attach.rs`).
//! - Usage for `kubectl top` ([`crate::runtime::RuntimeService::list_container_stats`])
//!   comes from the container's cgroup when it has one, else from its process group
//!   in `/proc`.
//! - Images are imported with [`import_image`] (`skiff image import`).
//! - A port-forward connects to the port on 127.0.0.1 inside the pod's network
//!   namespace, or on the runtime's host IP for a pod on the host's network.
//! - Exec runs the command with the container's environment, in its process group
//!   (on pipes, or on a pseudo-terminal with `tty`); in an isolated container it
//!   enters the container's namespaces, cgroups, root and working directory as
//!   `nsenter` does ([`nsenter`]), else it runs on the host in the container's
//!   working directory.
//!
//! ```no_run
//! # async fn run() -> Result<(), skiff_node::runtime::RuntimeError> {
//! use skiff_node::process::{ProcessRuntime, ProcessRuntimeConfig};
//! use skiff_node::runtime::{ContainerConfig, PodSandboxConfig, RuntimeService};
//! let rt = ProcessRuntime::new(ProcessRuntimeConfig::new("/var/lib/skiff/node".into()));
//! let sb = PodSandboxConfig::default();
//! let sid = rt.run_pod_sandbox(&sb).await?;
//! let c = ContainerConfig {
//!     name: "hello".into(),
//!     command: vec!["sh".into(), "-c".into(), "echo hi".into()],
//!     run_on_host: true,
//!     ..Default::default()
//! };
//! let id = rt.create_container(&sid, &c, &sb).await?;
//! rt.start_container(&id).await?;
//! # Ok(()) }
//! ```

mod attach;
pub mod cgroups;
mod child;
mod exec;
mod harness;
mod image_import;
mod images;
pub mod isolation;
mod logs;
pub mod network;
mod nsenter;
mod pty;
mod usage;

pub use harness::ProcessHarness;
pub use image_import::{import_image, ImportError};
pub use images::LocalImageStore;
pub use logs::RotatingLog;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::runtime::{
    AttachRequest, ContainerConfig, ContainerFilter, ContainerState, ContainerStats,
    ContainerStatus, ExecRequest, ExecSession, Image, ImageService, PodSandboxConfig,
    PodSandboxStatus, PortStream, RuntimeConfig, RuntimeError, RuntimeService, RuntimeVersion,
    SandboxState,
};
use child::{Launch, Shared};

/// The `PATH` a container gets when neither its image nor its spec sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Settings of the process runtime.
#[derive(Clone, Debug)]
pub struct ProcessRuntimeConfig {
    /// Where pods' directories, logs and the image store live.
    pub root: PathBuf,
    /// The IP reported for pods (they share the host's network).
    pub host_ip: String,
    /// Size at which a container log rotates.
    pub log_max_bytes: u64,
    /// Log files kept per container, the current one included.
    pub log_max_files: usize,
    /// Run containers in their own namespaces and root with their volumes
    /// bind-mounted (see [`isolation`]); needs root. Default: whether the process
    /// runs as root.
    pub isolate: bool,
    /// Where the cgroup file system is mounted (`/sys/fs/cgroup`).
    pub cgroup_root: PathBuf,
    /// The node's bridge for pod networks (see [`network::bridge_name`]); default:
    /// named after the absolute path of `root` (the node's own directory), so that
    /// the nodes of one host, and of two clusters on one host, never share one.
    pub bridge: String,
    /// The cluster's pod range (`--cluster-cidr`): pod traffic leaving it is
    /// masqueraded; `None`: traffic leaving the node's pod CIDR is.
    pub cluster_cidr: Option<ipnet::Ipv4Net>,
}

impl ProcessRuntimeConfig {
    /// Defaults under `root`: pods on 127.0.0.1, logs rotated at 10 MiB, 5 files kept.
    pub fn new(root: PathBuf) -> Self {
        let root_name = std::path::absolute(&root)
            .unwrap_or_else(|_| root.clone())
            .display()
            .to_string();
        ProcessRuntimeConfig {
            root,
            host_ip: "127.0.0.1".into(),
            log_max_bytes: 10 * 1024 * 1024,
            log_max_files: 5,
            isolate: isolation::available(),
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            bridge: network::bridge_name(&root_name),
            cluster_cidr: None,
        }
    }
}

struct ProcSandbox {
    status: PodSandboxStatus,
    dir: PathBuf,
    log_dir: PathBuf,
    hostname: String,
    /// The pod's network namespace, address and veth; `None`: the host's network.
    network: Option<network::PodAttachment>,
    /// Why the pod shares the host's network although it did not ask to.
    network_note: Option<String>,
}

struct ProcContainer {
    shared: Arc<Shared>,
    launch: Launch,
    io: Arc<attach::ContainerIo>,
}

#[derive(Default)]
struct State {
    seq: u64,
    sandboxes: HashMap<String, ProcSandbox>,
    containers: HashMap<String, ProcContainer>,
}

struct Inner {
    config: ProcessRuntimeConfig,
    images: LocalImageStore,
    network: Arc<network::PodNetwork>,
    state: Mutex<State>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Nothing adopts the processes of a dropped runtime: kill them, and take
        // down their pods' networks.
        let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        for c in st.containers.values() {
            c.shared.signal(libc::SIGKILL);
        }
        for sb in st.sandboxes.values_mut() {
            if let Some(pod) = sb.network.take() {
                if let Err(e) = self.network.detach(&pod) {
                    tracing::warn!(netns = %pod.netns.display(), error = %e, "removing a pod network");
                }
            }
        }
        self.network.teardown();
    }
}

/// The process runtime. Cheap to clone; clones share their state. Dropping the last
/// clone kills every process it started.
#[derive(Clone)]
pub struct ProcessRuntime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ProcessRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessRuntime")
            .field("root", &self.inner.config.root)
            .finish_non_exhaustive()
    }
}

/// Removes the cgroups of removed containers (off the async threads: it may wait
/// for exiting processes).
async fn remove_cgroups(cgroups: Vec<cgroups::Cgroup>) {
    if cgroups.is_empty() {
        return;
    }
    let _ =
        tokio::task::spawn_blocking(move || cgroups.iter().for_each(cgroups::Cgroup::remove)).await;
}

/// The variable that tells a host-process container where a mount is on the host:
/// `/etc/config` → `SKIFF_MOUNT_ETC_CONFIG`.
pub fn mount_env_name(container_path: &str) -> String {
    let body: String = container_path
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("SKIFF_MOUNT_{}", body.trim_matches('_'))
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl ProcessRuntime {
    /// A runtime under `config.root` (its image store is `root/images`).
    pub fn new(config: ProcessRuntimeConfig) -> Self {
        let images = LocalImageStore::new(config.root.join("images"));
        let network = Arc::new(network::PodNetwork::new(
            config.root.clone(),
            config.bridge.clone(),
            config.cluster_cidr,
        ));
        ProcessRuntime {
            inner: Arc::new(Inner {
                config,
                images,
                network,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The image store.
    pub fn images(&self) -> &LocalImageStore {
        &self.inner.images
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The node's pod network.
    pub fn network(&self) -> &network::PodNetwork {
        &self.inner.network
    }

    /// The pod's network for a new sandbox: a namespace of its own, or the host's
    /// with the reason when the pod did not ask for it.
    async fn sandbox_network(
        &self,
        id: &str,
        config: &PodSandboxConfig,
    ) -> Result<(Option<network::PodAttachment>, Option<String>), RuntimeError> {
        if config.host_network || !self.inner.config.isolate {
            // hostNetwork was asked for; a host process has its own note already.
            return Ok((None, None));
        }
        if self.inner.network.pod_cidr().is_none() {
            return Ok((
                None,
                Some(format!(
                    "shares the node's network: {}",
                    network::NetworkError::NoPodCidr
                )),
            ));
        }
        let net = self.inner.network.clone();
        let id = id.to_owned();
        let attached = tokio::task::spawn_blocking(move || {
            network::available()
                .map_err(|why| format!("shares the node's network: {why}"))
                .map(|()| net.attach(&id))
        })
        .await
        .map_err(|e| RuntimeError::Internal(e.to_string()))?;
        match attached {
            Err(note) => Ok((None, Some(note))),
            Ok(Ok(pod)) => Ok((Some(pod), None)),
            Ok(Err(e)) => Err(RuntimeError::Internal(format!(
                "setting up the pod's network: {e}"
            ))),
        }
    }

    fn io(&self, id: &str) -> Result<Arc<attach::ContainerIo>, RuntimeError> {
        self.lock()
            .containers
            .get(id)
            .map(|c| c.io.clone())
            .ok_or_else(|| RuntimeError::ContainerNotFound(id.to_owned()))
    }

    fn shared(&self, id: &str) -> Result<(Arc<Shared>, Launch), RuntimeError> {
        self.lock()
            .containers
            .get(id)
            .map(|c| (c.shared.clone(), c.launch.clone()))
            .ok_or_else(|| RuntimeError::ContainerNotFound(id.to_owned()))
    }
}

/// The argv by Kubernetes' rules: `command` replaces the entrypoint (and the image's
/// cmd); `args` alone replaces the cmd.
fn argv(config: &ContainerConfig, image: Option<&Image>) -> Vec<String> {
    let (entrypoint, cmd) = image
        .map(|i| (i.entrypoint.clone(), i.cmd.clone()))
        .unwrap_or_default();
    if !config.command.is_empty() {
        return config.command.iter().chain(&config.args).cloned().collect();
    }
    let args = if config.args.is_empty() {
        cmd
    } else {
        config.args.clone()
    };
    entrypoint.into_iter().chain(args).collect()
}

#[async_trait]
impl RuntimeService for ProcessRuntime {
    fn version(&self) -> RuntimeVersion {
        RuntimeVersion {
            name: "process".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    async fn update_runtime_config(&self, config: &RuntimeConfig) -> Result<(), RuntimeError> {
        if config.pod_cidr.is_empty() {
            return Ok(());
        }
        let cidr: ipnet::Ipv4Net = config.pod_cidr.parse().map_err(|e| {
            RuntimeError::InvalidState(format!(
                "pod CIDR {:?} is not an IPv4 CIDR: {e}",
                config.pod_cidr
            ))
        })?;
        self.inner.network.set_pod_cidr(cidr);
        Ok(())
    }

    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String, RuntimeError> {
        let id = {
            let mut st = self.lock();
            st.seq += 1;
            format!("proc-sandbox-{}", st.seq)
        };
        let dir = self.inner.config.root.join("pods").join(format!(
            "{}_{}_{}_{id}",
            sanitize(&config.pod.namespace),
            sanitize(&config.pod.name),
            sanitize(&config.pod.uid)
        ));
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| RuntimeError::Internal(format!("creating {}: {e}", dir.display())))?;
        let log_dir = config
            .log_directory
            .clone()
            .unwrap_or_else(|| dir.join("logs"));
        let (network, network_note) = self.sandbox_network(&id, config).await?;
        let ip = match &network {
            Some(pod) => pod.ip.to_string(),
            None => self.inner.config.host_ip.clone(),
        };
        self.lock().sandboxes.insert(
            id.clone(),
            ProcSandbox {
                status: PodSandboxStatus {
                    id: id.clone(),
                    pod: config.pod.clone(),
                    attempt: config.attempt,
                    state: SandboxState::Ready,
                    created_at: SystemTime::now(),
                    ip: Some(ip),
                    labels: config.labels.clone(),
                },
                dir,
                log_dir,
                hostname: config.hostname.clone(),
                network,
                network_note,
            },
        );
        Ok(id)
    }

    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        let members: Vec<Arc<Shared>> = {
            let mut st = self.lock();
            let Some(sb) = st.sandboxes.get_mut(sandbox_id) else {
                return Ok(());
            };
            sb.status.state = SandboxState::NotReady;
            st.containers
                .values()
                .filter(|c| c.shared.status().sandbox_id == sandbox_id)
                .map(|c| c.shared.clone())
                .collect()
        };
        for s in members {
            match s.state() {
                ContainerState::Created | ContainerState::Unknown => s.never_started(),
                ContainerState::Running => s.stop(Duration::ZERO).await?,
                ContainerState::Exited => {}
            }
        }
        Ok(())
    }

    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        self.stop_pod_sandbox(sandbox_id).await?;
        let (removed, cgroups) = {
            let mut st = self.lock();
            let mut cgroups = Vec::new();
            st.containers.retain(|_, c| {
                let keep = c.shared.status().sandbox_id != sandbox_id;
                if !keep {
                    cgroups.extend(c.launch.cgroup.clone());
                }
                keep
            });
            (st.sandboxes.remove(sandbox_id), cgroups)
        };
        remove_cgroups(cgroups).await;
        let (dir, pod_network) = match removed {
            Some(s) => (Some(s.dir), s.network),
            None => (None, None),
        };
        if let Some(pod) = pod_network {
            let net = self.inner.network.clone();
            tokio::task::spawn_blocking(move || net.detach(&pod))
                .await
                .map_err(|e| RuntimeError::Internal(e.to_string()))?
                .map_err(|e| RuntimeError::Internal(format!("removing the pod's network: {e}")))?;
        }
        if let Some(dir) = dir {
            if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(RuntimeError::Internal(format!(
                        "removing {}: {e}",
                        dir.display()
                    )));
                }
            }
        }
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
        _sandbox: &PodSandboxConfig,
    ) -> Result<String, RuntimeError> {
        let image = if config.run_on_host {
            None
        } else {
            match self.inner.images.get(&config.image).await? {
                Some(i) => Some(i),
                // As an image with no entrypoint: `command`, or else `args`, is the
                // whole argv (how `kubectl run NAME --image=X -- sh -c ...` runs).
                None if !config.command.is_empty() || !config.args.is_empty() => None,
                None => {
                    return Err(RuntimeError::ImageUnavailable {
                        image: config.image.clone(),
                        message: "not in the local image store, and the container gives no command or args to run on the host".into(),
                    })
                }
            }
        };
        let (dir, log_dir, hostname, netns, network_note) = {
            let st = self.lock();
            match st.sandboxes.get(sandbox_id) {
                None => return Err(RuntimeError::SandboxNotFound(sandbox_id.to_owned())),
                Some(s) if s.status.state != SandboxState::Ready => {
                    return Err(RuntimeError::SandboxNotReady(sandbox_id.to_owned()))
                }
                Some(s) => (
                    s.dir.clone(),
                    s.log_dir.clone(),
                    s.hostname.clone(),
                    s.network.as_ref().map(|n| n.netns.clone()),
                    s.network_note.clone(),
                ),
            }
        };
        let id = {
            let mut st = self.lock();
            st.seq += 1;
            format!("proc-container-{}", st.seq)
        };
        let mut env: Vec<(String, String)> = vec![
            ("PATH".into(), DEFAULT_PATH.into()),
            ("HOSTNAME".into(), hostname.clone()),
        ];
        let mut set = |k: &str, v: &str| match env.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v.to_owned(),
            None => env.push((k.to_owned(), v.to_owned())),
        };
        for kv in image.iter().flat_map(|i| &i.env).chain(&config.envs) {
            set(&kv.key, &kv.value);
        }
        let isolate = self.inner.config.isolate;
        let mut notes: Vec<String> = network_note.into_iter().collect();
        if !isolate {
            for m in &config.mounts {
                set(
                    &mount_env_name(&m.container_path),
                    &m.host_path.to_string_lossy(),
                );
            }
            notes.push(if config.mounts.is_empty() {
                "runs as a host process: the agent is not root, so no namespaces or root file system".to_owned()
            } else {
                "runs as a host process: the agent is not root, so no namespaces or root file system; its volumes are on the host at the paths in its SKIFF_MOUNT_* variables".to_owned()
            });
        }
        let cgroup = match config.resources.as_ref().filter(|r| {
            r.cpu_limit_millis.is_some()
                || r.memory_limit_bytes.is_some()
                || r.cpu_request_millis.is_some()
        }) {
            None => None,
            Some(limits) => {
                let base = self.inner.config.cgroup_root.clone();
                let cid = id.clone();
                let limits = limits.clone();
                match tokio::task::spawn_blocking(move || {
                    cgroups::Cgroup::create(&base, &cid, &limits)
                })
                .await
                {
                    Ok(Ok(cg)) => Some(cg),
                    Ok(Err(e)) => {
                        tracing::info!(container = %id, reason = %e, "resource limits not enforced");
                        notes.push(format!("resource limits not enforced: {e}"));
                        None
                    }
                    Err(e) => return Err(RuntimeError::Internal(e.to_string())),
                }
            }
        };
        let workdir = config
            .working_dir
            .clone()
            .or_else(|| image.as_ref().and_then(|i| i.working_dir.clone()));
        let isolation = if isolate {
            let rootfs = match &image {
                Some(_) => self.inner.images.rootfs(&config.image),
                None => None,
            };
            let plan_dir = dir.join("containers").join(&id);
            let mounts = config.mounts.clone();
            let procs = cgroup.as_ref().map(|c| c.procs_files()).unwrap_or_default();
            let cwd = workdir.clone().unwrap_or_else(|| "/".into());
            let planned = tokio::task::spawn_blocking(move || {
                isolation::Plan::new(
                    &plan_dir,
                    rootfs.as_deref(),
                    &hostname,
                    &mounts,
                    &cwd,
                    procs,
                    netns.as_deref(),
                )
            })
            .await
            .map_err(|e| RuntimeError::Internal(e.to_string()))?;
            match planned {
                Ok(plan) => Some(Arc::new(plan)),
                Err(e) => {
                    if let Some(cg) = cgroup {
                        cg.remove();
                    }
                    return Err(RuntimeError::InvalidState(format!(
                        "preparing the container's root and mounts: {e}"
                    )));
                }
            }
        } else {
            None
        };
        let cwd = workdir.map(PathBuf::from).unwrap_or(dir);
        let rel = if config.log_path.is_empty() {
            format!("{}/{}.log", sanitize(&config.name), config.attempt)
        } else {
            config.log_path.clone()
        };
        let launch = Launch {
            argv: argv(config, image.as_ref()),
            env,
            cwd,
            log_path: log_dir.join(rel),
            log_max_bytes: self.inner.config.log_max_bytes,
            log_max_files: self.inner.config.log_max_files,
            isolation,
            cgroup,
            stdio: attach::StdioConfig {
                stdin: config.stdin,
                stdin_once: config.stdin_once,
                tty: config.tty,
            },
        };
        let status = ContainerStatus {
            id: id.clone(),
            sandbox_id: sandbox_id.to_owned(),
            name: config.name.clone(),
            attempt: config.attempt,
            state: ContainerState::Created,
            created_at: SystemTime::now(),
            started_at: None,
            finished_at: None,
            exit_code: None,
            image: config.image.clone(),
            image_ref: image.map(|i| i.id).unwrap_or_default(),
            reason: String::new(),
            message: notes.join("; "),
            log_path: Some(launch.log_path.clone()),
            labels: config.labels.clone(),
        };
        let mut st = self.lock();
        if !st
            .sandboxes
            .get(sandbox_id)
            .is_some_and(|s| s.status.state == SandboxState::Ready)
        {
            drop(st);
            if let Some(cg) = &launch.cgroup {
                cg.remove();
            }
            return Err(RuntimeError::SandboxNotReady(sandbox_id.to_owned()));
        }
        st.containers.insert(
            id.clone(),
            ProcContainer {
                shared: Shared::new(status),
                io: attach::ContainerIo::new(launch.stdio),
                launch,
            },
        );
        Ok(id)
    }

    async fn start_container(&self, container_id: &str) -> Result<(), RuntimeError> {
        let (shared, launch) = self.shared(container_id)?;
        let io = self.io(container_id)?;
        let sandbox_id = shared.status().sandbox_id;
        let ready = self
            .lock()
            .sandboxes
            .get(&sandbox_id)
            .is_some_and(|s| s.status.state == SandboxState::Ready);
        if shared.state() != ContainerState::Created {
            return Err(RuntimeError::InvalidState(format!(
                "container {container_id} is {:?}, not Created",
                shared.state()
            )));
        }
        if !ready {
            return Err(RuntimeError::SandboxNotReady(sandbox_id));
        }
        shared.start(&launch, &io)
    }

    async fn stop_container(
        &self,
        container_id: &str,
        timeout: Duration,
    ) -> Result<(), RuntimeError> {
        let Ok((shared, _)) = self.shared(container_id) else {
            return Ok(());
        };
        match shared.state() {
            ContainerState::Created | ContainerState::Unknown => {
                shared.never_started();
                Ok(())
            }
            ContainerState::Running => shared.stop(timeout).await,
            ContainerState::Exited => Ok(()),
        }
    }

    async fn remove_container(&self, container_id: &str) -> Result<(), RuntimeError> {
        self.stop_container(container_id, Duration::ZERO).await?;
        let removed = self.lock().containers.remove(container_id);
        remove_cgroups(removed.and_then(|c| c.launch.cgroup).into_iter().collect()).await;
        Ok(())
    }

    async fn container_status(&self, container_id: &str) -> Result<ContainerStatus, RuntimeError> {
        self.shared(container_id).map(|(s, _)| s.status())
    }

    async fn list_containers(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<ContainerStatus>, RuntimeError> {
        Ok(self
            .lock()
            .containers
            .values()
            .map(|c| c.shared.status())
            .filter(|s| {
                filter
                    .sandbox_id
                    .as_ref()
                    .is_none_or(|id| *id == s.sandbox_id)
                    && filter.state.is_none_or(|st| st == s.state)
            })
            .collect())
    }

    async fn exec(&self, request: &ExecRequest) -> Result<ExecSession, RuntimeError> {
        let (shared, launch) = self.shared(&request.container_id)?;
        if shared.state() != ContainerState::Running {
            return Err(RuntimeError::InvalidState(format!(
                "container {} is not running",
                request.container_id
            )));
        }
        if request.tty {
            exec::exec_tty(request, &launch, shared.pgid())
        } else {
            exec::exec_pipes(request, &launch, shared.pgid())
        }
    }

    async fn list_container_stats(&self) -> Result<Vec<ContainerStats>, RuntimeError> {
        let running: Vec<(ContainerStatus, Option<i32>, Option<cgroups::Cgroup>)> = self
            .lock()
            .containers
            .values()
            .filter(|c| c.shared.state() == ContainerState::Running)
            .map(|c| (c.shared.status(), c.shared.pgid(), c.launch.cgroup.clone()))
            .collect();
        let sample = move || {
            let pgids: Vec<i32> = running.iter().filter_map(|(_, pgid, _)| *pgid).collect();
            let groups = usage::process_groups(&pgids);
            let timestamp = SystemTime::now();
            running
                .into_iter()
                .map(|(status, pgid, cgroup)| {
                    let (cpu, memory) = cgroup
                        .and_then(|cg| cg.usage())
                        .or_else(|| pgid.and_then(|p| groups.get(&p).copied()))
                        .unwrap_or_default();
                    ContainerStats {
                        container_id: status.id,
                        sandbox_id: status.sandbox_id,
                        name: status.name,
                        timestamp,
                        cpu_usage_core_nanos: cpu,
                        memory_working_set_bytes: memory,
                    }
                })
                .collect()
        };
        tokio::task::spawn_blocking(sample)
            .await
            .map_err(|e| RuntimeError::Internal(format!("sampling container usage: {e}")))
    }

    async fn attach(&self, request: &AttachRequest) -> Result<ExecSession, RuntimeError> {
        let (shared, _) = self.shared(&request.container_id)?;
        if shared.state() != ContainerState::Running {
            return Err(RuntimeError::InvalidState(format!(
                "container {} is not running",
                request.container_id
            )));
        }
        self.io(&request.container_id)?
            .attach(request, shared.exited())
    }

    async fn port_forward(&self, sandbox_id: &str, port: u16) -> Result<PortStream, RuntimeError> {
        let (ip, netns) = {
            let st = self.lock();
            let sandbox = st
                .sandboxes
                .get(sandbox_id)
                .ok_or_else(|| RuntimeError::SandboxNotFound(sandbox_id.to_owned()))?;
            if sandbox.status.state != SandboxState::Ready {
                return Err(RuntimeError::SandboxNotReady(sandbox_id.to_owned()));
            }
            (
                sandbox
                    .status
                    .ip
                    .clone()
                    .unwrap_or_else(|| self.inner.config.host_ip.clone()),
                sandbox.network.as_ref().map(|n| n.netns.clone()),
            )
        };
        let connected = match netns {
            // Inside the pod's namespace, as the kubelet does: a port bound to the
            // pod's loopback is reachable too.
            Some(netns) => connect_in(netns, port).await,
            None => tokio::net::TcpStream::connect((ip.as_str(), port)).await,
        };
        let stream = connected.map_err(|e| {
            RuntimeError::Internal(format!(
                "port-forward to {ip}:{port} of pod sandbox {sandbox_id}: {e}"
            ))
        })?;
        let _ = stream.set_nodelay(true);
        Ok(Box::new(stream))
    }
}

/// Connects to 127.0.0.1:`port` from inside the network namespace pinned at `netns`
/// (the socket keeps the namespace it was made in).
async fn connect_in(netns: PathBuf, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let std_stream = tokio::task::spawn_blocking(move || {
        network::netns::run_in(Some(&netns), move || {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            let s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
            s.set_nonblocking(true)?;
            Ok::<_, std::io::Error>(s)
        })
    })
    .await
    .map_err(std::io::Error::other)???;
    tokio::net::TcpStream::from_std(std_stream)
}

#[async_trait]
impl ImageService for ProcessRuntime {
    async fn list_images(&self) -> Result<Vec<Image>, RuntimeError> {
        self.inner.images.list().await
    }

    async fn image_status(&self, image: &str) -> Result<Option<Image>, RuntimeError> {
        self.inner.images.get(image).await
    }

    async fn pull_image(&self, image: &str) -> Result<String, RuntimeError> {
        match self.inner.images.get(image).await? {
            Some(i) => Ok(i.id),
            None => Err(RuntimeError::ImageUnavailable {
                image: image.to_owned(),
                message: "not in the process runtime's local image store, and this runtime does not pull from registries".into(),
            }),
        }
    }

    async fn remove_image(&self, image: &str) -> Result<(), RuntimeError> {
        self.inner.images.remove(image).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_follows_kubernetes_override_rules() {
        let image = Image {
            entrypoint: vec!["/ep".into()],
            cmd: vec!["--default".into()],
            ..Image::default()
        };
        let c = |command: &[&str], args: &[&str]| ContainerConfig {
            command: command.iter().map(|s| s.to_string()).collect(),
            args: args.iter().map(|s| s.to_string()).collect(),
            ..ContainerConfig::default()
        };
        assert_eq!(argv(&c(&[], &[]), Some(&image)), ["/ep", "--default"]);
        assert_eq!(argv(&c(&[], &["x"]), Some(&image)), ["/ep", "x"]);
        assert_eq!(argv(&c(&["sh"], &[]), Some(&image)), ["sh"]);
        assert_eq!(
            argv(&c(&["sh"], &["-c", "true"]), None),
            ["sh", "-c", "true"]
        );
        assert!(argv(&c(&[], &[]), None).is_empty());
    }
}
