//! The two traits of the shim: [`RuntimeService`] (sandboxes and containers) and
//! [`ImageService`] (the image store), and [`Runtime`], a runtime that is both.

use std::time::Duration;

use async_trait::async_trait;

use tokio::io::AsyncReadExt;

use super::{
    AttachRequest, ContainerConfig, ContainerFilter, ContainerStats, ContainerStatus, ExecRequest,
    ExecSession, ExecSyncResponse, Image, PodSandboxConfig, PodSandboxStatus, PortStream,
    RuntimeConfig, RuntimeError, RuntimeVersion,
};

/// Sandboxes and containers: the CRI's `RuntimeService`.
///
/// The agent drives every pod through these calls: one sandbox per pod incarnation
/// (`run_pod_sandbox`), then for each container `create_container` and
/// `start_container`, watching it with `container_status`; a restart is a *new*
/// container (attempt + 1) in the same sandbox; termination is `stop_container` with
/// the pod's grace period, then `stop_pod_sandbox` and `remove_pod_sandbox`.
///
/// # To ensure correctness
///
/// An implementation must keep these invariants; [`crate::runtime::conformance`]
/// checks them.
///
/// 1. **Ids are unique and never reused** by one runtime instance, for sandboxes and
///    containers alike. The agent keys its bookkeeping on them; a reused id would make
///    it mistake a new container for an old one.
/// 2. **States only move forward**: a container goes `Created` → `Running` →
///    `Exited`, or `Created` → `Exited` when it fails to start. `Exited` is final; a
///    container is never restarted in place. A sandbox goes `Ready` → `NotReady`.
/// 3. **Exits are reported**: once a container's process has ended, `container_status`
///    reports `Exited` with `exit_code` and `finished_at` within a short, bounded time
///    (the conformance suite allows 5 s). An exit code of 0 has reason `Completed`,
///    any other `Error` (or a more precise reason, such as `OOMKilled`).
/// 4. **Teardown is idempotent**: `stop_*` and `remove_*` of something already
///    stopped or removed succeed, so the agent can retry them after a crash without
///    asking first. They return only once the work is done: after `stop_container`
///    the container is `Exited`; after `remove_*` it is gone from `list_*` and its
///    status is a `*NotFound` error.
/// 5. **A sandbox owns its containers**: stopping a sandbox stops every container in
///    it (forcibly; the agent has already given each its grace period), removing it
///    removes them; no container may be created or started in a stopped sandbox
///    ([`RuntimeError::SandboxNotReady`]).
///
/// Every method may be called concurrently from many tasks, for different and for the
/// same objects.
#[async_trait]
pub trait RuntimeService: Send + Sync + 'static {
    /// The runtime's name and version.
    fn version(&self) -> RuntimeVersion;

    /// Takes node-wide settings from the agent (the CRI's `UpdateRuntimeConfig`): the
    /// node's pod CIDR once the node has one. Sandboxes created afterwards use it;
    /// existing ones keep what they have. The default ignores it (a runtime without
    /// a pod network of its own).
    async fn update_runtime_config(&self, config: &RuntimeConfig) -> Result<(), RuntimeError> {
        let _ = config;
        Ok(())
    }

    /// Creates and starts a pod's sandbox: the environment its containers share
    /// (for a process runtime, the pod's directories and its network; for a container
    /// runtime, the pause container and the network namespace).
    ///
    /// Postcondition: `pod_sandbox_status` of the returned id is `Ready`, with the
    /// pod's IP when the runtime assigns one.
    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String, RuntimeError>;

    /// Stops every container of the sandbox (forcibly) and marks it `NotReady`.
    /// Idempotent; stopping an unknown sandbox succeeds.
    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError>;

    /// Removes the sandbox and all its containers, stopping them first when needed.
    /// Idempotent; removing an unknown sandbox succeeds.
    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<(), RuntimeError>;

    /// The sandbox's status; [`RuntimeError::SandboxNotFound`] when there is none.
    async fn pod_sandbox_status(&self, sandbox_id: &str) -> Result<PodSandboxStatus, RuntimeError>;

    /// Every sandbox that exists (ready or stopped).
    async fn list_pod_sandboxes(&self) -> Result<Vec<PodSandboxStatus>, RuntimeError>;

    /// Creates a container in a ready sandbox, without starting it.
    ///
    /// The runtime takes `command`/`args` over the image's entrypoint/cmd the way
    /// Kubernetes does: `command` replaces the entrypoint (and drops the image's
    /// cmd); `args` alone replaces the cmd. Postcondition: the status of the returned
    /// id is `Created`.
    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
        sandbox: &PodSandboxConfig,
    ) -> Result<String, RuntimeError>;

    /// Starts a `Created` container.
    ///
    /// Postcondition on `Ok`: the status is `Running` (or already `Exited`, for a
    /// process that ended at once). On [`RuntimeError::StartFailed`] the container is
    /// `Exited` with reason `StartError`, a message saying why, and exit code 128.
    /// Starting a container that is not `Created` is [`RuntimeError::InvalidState`].
    async fn start_container(&self, container_id: &str) -> Result<(), RuntimeError>;

    /// Stops a container: asks it to end (SIGTERM for a process), waits at most
    /// `timeout`, then kills it. Returns once it is `Exited`. A zero timeout kills at
    /// once. Idempotent: a `Created` container becomes `Exited` without running; an
    /// `Exited` one is left as it is.
    async fn stop_container(
        &self,
        container_id: &str,
        timeout: Duration,
    ) -> Result<(), RuntimeError>;

    /// Removes a container, killing it first if it runs. Idempotent.
    async fn remove_container(&self, container_id: &str) -> Result<(), RuntimeError>;

    /// The container's status; [`RuntimeError::ContainerNotFound`] when there is none.
    async fn container_status(&self, container_id: &str) -> Result<ContainerStatus, RuntimeError>;

    /// The containers that `filter` selects.
    async fn list_containers(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<ContainerStatus>, RuntimeError>;

    /// Starts `request.command` in a `Running` container (its environment, working
    /// directory and, where the runtime isolates containers, its namespaces) with the
    /// pipes the request asks for. A container that is not running is
    /// [`RuntimeError::InvalidState`]; a command that cannot be started is
    /// [`RuntimeError::StartFailed`].
    ///
    /// The default answers that the runtime does not support exec.
    async fn exec(&self, request: &ExecRequest) -> Result<ExecSession, RuntimeError> {
        Err(RuntimeError::Unsupported(format!(
            "exec in container {} is not supported by the {} runtime",
            request.container_id,
            self.version().name
        )))
    }

    /// Runs `command` in a running container to its end and collects its output (the
    /// CRI's `ExecSync`: exec probes and lifecycle hooks). A command still running
    /// after `timeout` is killed and the call fails with [`RuntimeError::Timeout`].
    ///
    /// The default runs [`RuntimeService::exec`] and reads its pipes.
    async fn exec_sync(
        &self,
        container_id: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecSyncResponse, RuntimeError> {
        let session = self
            .exec(&ExecRequest {
                container_id: container_id.to_owned(),
                command: command.to_vec(),
                stdin: false,
                stdout: true,
                stderr: true,
                tty: false,
            })
            .await?;
        let collect = async move {
            let mut stdout = Vec::new();
            let mut stderr = Vec::new();
            let read_out = async {
                if let Some(mut r) = session.stdout {
                    let _ = r.read_to_end(&mut stdout).await;
                }
            };
            let read_err = async {
                if let Some(mut r) = session.stderr {
                    let _ = r.read_to_end(&mut stderr).await;
                }
            };
            let ((), (), code) = tokio::join!(read_out, read_err, session.exit);
            Ok(ExecSyncResponse {
                stdout,
                stderr,
                exit_code: code?,
            })
        };
        tokio::time::timeout(timeout, collect)
            .await
            .unwrap_or_else(|_| {
                Err(RuntimeError::Timeout(format!(
                    "command {command:?} in container {container_id} timed out after {timeout:?}"
                )))
            })
    }

    /// The resource usage of every running container (the CRI's
    /// `ListContainerStats`), sampled now. Containers that ended are left out.
    ///
    /// The default answers that the runtime does not report usage.
    async fn list_container_stats(&self) -> Result<Vec<ContainerStats>, RuntimeError> {
        Err(RuntimeError::Unsupported(format!(
            "container stats are not reported by the {} runtime",
            self.version().name
        )))
    }

    /// Attaches to a `Running` container's own stdio (the CRI's `Attach`): its live
    /// stdout and stderr from now on (what it wrote before is in its log), and its
    /// stdin when the container was created with [`ContainerConfig::stdin`]. The
    /// session's streams end when the container's output ends; its exit future then
    /// resolves to 0 (the container's own exit code is in its status). Dropping the
    /// session detaches; the container keeps running (with
    /// [`ContainerConfig::stdin_once`] its stdin is closed when the first attached
    /// client's stdin closes). A container that is not running is
    /// [`RuntimeError::InvalidState`].
    ///
    /// The default answers that the runtime does not support attach.
    async fn attach(&self, request: &AttachRequest) -> Result<ExecSession, RuntimeError> {
        Err(RuntimeError::Unsupported(format!(
            "attach to container {} is not supported by the {} runtime",
            request.container_id,
            self.version().name
        )))
    }

    /// Connects to `port` in the sandbox's network (the CRI's `PortForward`). The
    /// default answers that the runtime does not support it.
    async fn port_forward(&self, sandbox_id: &str, port: u16) -> Result<PortStream, RuntimeError> {
        Err(RuntimeError::Unsupported(format!(
            "port-forward to port {port} of pod sandbox {sandbox_id} is not supported by the {} runtime",
            self.version().name
        )))
    }
}

/// The image store: the CRI's `ImageService`.
///
/// # To ensure correctness
///
/// 1. `image_status` answers `Ok(None)` for an image that is not in the store, never
///    an error: "absent" is a normal answer the agent acts on (pull, or run on the
///    host, or report `ErrImageNeverPull`).
/// 2. Once `pull_image` returns `Ok(id)`, `image_status` finds the image under the
///    name it was pulled by, with that id, and `list_images` includes it. A runtime
///    that cannot fetch an image answers [`RuntimeError::ImageUnavailable`] with a
///    message a user can act on.
/// 3. `remove_image` is idempotent; afterwards `image_status` answers `None`. Running
///    containers of the image are not affected.
#[async_trait]
pub trait ImageService: Send + Sync + 'static {
    /// Every image in the store.
    async fn list_images(&self) -> Result<Vec<Image>, RuntimeError>;

    /// The image known by `image` (a name such as `busybox:1.36`, or an id), if any.
    async fn image_status(&self, image: &str) -> Result<Option<Image>, RuntimeError>;

    /// Makes `image` present in the store (fetching it if the runtime can) and
    /// returns its id.
    async fn pull_image(&self, image: &str) -> Result<String, RuntimeError>;

    /// Removes `image` from the store. Idempotent.
    async fn remove_image(&self, image: &str) -> Result<(), RuntimeError>;
}

/// A runtime: both services. Implemented for every type that implements them; the
/// agent holds an `Arc<dyn Runtime>`.
pub trait Runtime: RuntimeService + ImageService {}

impl<T: RuntimeService + ImageService> Runtime for T {}
