//! The values that cross the runtime shim: what the agent asks for (sandbox and
//! container configs) and what the runtime reports (statuses, images).
//!
//! They follow the CRI's messages (`PodSandboxConfig`, `ContainerConfig`,
//! `ContainerStatus`, `Image`) with the fields Skiff uses; times are `SystemTime`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

/// Who a sandbox or container belongs to: the pod's identity, as the CRI's
/// `PodSandboxMetadata`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodIdentity {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The pod's uid: sandboxes of two incarnations of one name never mix.
    pub uid: String,
}

/// What the agent asks for when it creates a pod's sandbox: the environment its
/// containers share (network, hostname, log directory).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSandboxConfig {
    /// The pod.
    pub pod: PodIdentity,
    /// Attempt number of this sandbox for the pod (0 for the first).
    pub attempt: u32,
    /// The hostname the containers see (`spec.hostname` or the pod's name).
    pub hostname: String,
    /// Where the runtime writes the containers' logs; `None`: the runtime decides.
    pub log_directory: Option<PathBuf>,
    /// The pod's labels (for listing and filtering).
    pub labels: BTreeMap<String, String>,
    /// The pod's annotations (runtimes may read hints from them).
    pub annotations: BTreeMap<String, String>,
    /// Whether the pod asked for the host's network (`spec.hostNetwork`).
    pub host_network: bool,
}

/// Node-wide settings the agent passes to the runtime (the CRI's `RuntimeConfig`):
/// today the node's pod network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// The node's pod CIDR (`spec.podCIDR`, from the node IPAM controller): the
    /// range pod IPs come from; empty when the node has none.
    pub pod_cidr: String,
}

/// The lifecycle state of a sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SandboxState {
    /// Its environment exists; containers may be created in it.
    Ready,
    /// Stopped: its containers are stopped and no new ones may start.
    NotReady,
}

/// What the runtime reports about a sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSandboxStatus {
    /// The sandbox's id, unique in this runtime.
    pub id: String,
    /// The pod it serves.
    pub pod: PodIdentity,
    /// Attempt number, as configured.
    pub attempt: u32,
    /// Ready or stopped.
    pub state: SandboxState,
    /// When it was created.
    pub created_at: SystemTime,
    /// The pod's IP address (the host's when the pod shares the host's network).
    pub ip: Option<String>,
    /// Labels, as configured.
    pub labels: BTreeMap<String, String>,
}

/// An environment variable, already resolved by the agent (the runtime never sees a
/// `valueFrom`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyValue {
    /// Name.
    pub key: String,
    /// Value.
    pub value: String,
}

/// What the agent asks for when it creates a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerConfig {
    /// The container's name in the pod spec.
    pub name: String,
    /// How many times this container was created before in this sandbox (0 first).
    pub attempt: u32,
    /// The image as the pod spec names it.
    pub image: String,
    /// Overrides the image's entrypoint (`command` in the pod spec); empty: the
    /// image's.
    pub command: Vec<String>,
    /// Overrides the image's cmd (`args` in the pod spec); empty with an empty
    /// `command`: the image's.
    pub args: Vec<String>,
    /// The working directory; `None`: the image's (or the runtime's default).
    pub working_dir: Option<String>,
    /// The environment, resolved.
    pub envs: Vec<KeyValue>,
    /// Labels (the agent sets the container's name and the pod's identity).
    pub labels: BTreeMap<String, String>,
    /// When true the container runs as a process on the host even though its image
    /// is not in the runtime's image store (the agent decided, because the container
    /// gives a command; see [`crate::runtime::ImageService`]).
    pub run_on_host: bool,
    /// Path of the log file relative to the sandbox's log directory; empty: the
    /// runtime's choice.
    pub log_path: String,
    /// Host paths to mount into the container (its volumes), in order: a later
    /// mount may sit inside an earlier one.
    pub mounts: Vec<Mount>,
    /// CPU and memory limits; `None`: unlimited.
    pub resources: Option<ContainerResources>,
    /// Keep the container's stdin open for clients to attach to (`stdin` in the pod
    /// spec); false: its stdin is empty (`/dev/null`).
    pub stdin: bool,
    /// Close the container's stdin once the first attached client has closed its
    /// stdin (`stdinOnce`); false: it stays open across attaches.
    pub stdin_once: bool,
    /// Run the container on a pseudo-terminal (`tty`): its output is one stream.
    pub tty: bool,
}

/// A host path mounted into a container, as the CRI's `Mount`: the agent prepares
/// the volume on the host and says where the container sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mount {
    /// Where the container sees it (absolute).
    pub container_path: String,
    /// The file or directory on the host.
    pub host_path: PathBuf,
    /// Mounted read-only.
    pub readonly: bool,
}

/// The limits of a container, as the CRI's `LinuxContainerResources`, from the pod
/// spec's `resources.limits` (and `requests.cpu` for the CPU weight).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerResources {
    /// CPU limit in millicores (`limits.cpu`); `None`: unlimited.
    pub cpu_limit_millis: Option<u64>,
    /// CPU request in millicores (`requests.cpu`), the container's relative weight.
    pub cpu_request_millis: Option<u64>,
    /// Memory limit in bytes (`limits.memory`); `None`: unlimited.
    pub memory_limit_bytes: Option<u64>,
}

/// The lifecycle state of a container, as the CRI's `ContainerState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerState {
    /// Created, not started.
    Created,
    /// Started and not yet exited.
    Running,
    /// Exited (or failed to start); `exit_code` says how.
    Exited,
    /// The runtime lost track of it.
    Unknown,
}

/// What the runtime reports about a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerStatus {
    /// The container's id, unique in this runtime.
    pub id: String,
    /// Its sandbox.
    pub sandbox_id: String,
    /// Its name in the pod spec.
    pub name: String,
    /// Attempt number, as configured.
    pub attempt: u32,
    /// The state.
    pub state: ContainerState,
    /// When it was created.
    pub created_at: SystemTime,
    /// When it started (`None` until it does).
    pub started_at: Option<SystemTime>,
    /// When it exited (`None` until it does).
    pub finished_at: Option<SystemTime>,
    /// Its exit code once exited (128 + signal for a process killed by a signal).
    pub exit_code: Option<i32>,
    /// The image as configured.
    pub image: String,
    /// The image's id in the store (empty when it ran on the host without one).
    pub image_ref: String,
    /// A one-word reason for the state (`Completed`, `Error`, `OOMKilled`,
    /// `StartError`...); empty when there is nothing to say.
    pub reason: String,
    /// A human-readable message about the state. For a running container, a note on
    /// how it runs that the user should know (a host process without isolation,
    /// limits not enforced); the agent shows it in the pod's `status.message`.
    pub message: String,
    /// The log file, if the runtime writes one.
    pub log_path: Option<PathBuf>,
    /// Labels, as configured.
    pub labels: BTreeMap<String, String>,
}

/// Which containers [`crate::runtime::RuntimeService::list_containers`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerFilter {
    /// Only this sandbox's containers.
    pub sandbox_id: Option<String>,
    /// Only containers in this state.
    pub state: Option<ContainerState>,
}

/// An image in a runtime's image store.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Image {
    /// The image's id (content address or the runtime's own id).
    pub id: String,
    /// The names it is known by (`busybox:1.36`).
    pub repo_tags: Vec<String>,
    /// Size in bytes (0 when unknown).
    pub size: u64,
    /// The image's default entrypoint.
    pub entrypoint: Vec<String>,
    /// The image's default cmd.
    pub cmd: Vec<String>,
    /// The image's default environment.
    pub env: Vec<KeyValue>,
    /// The image's default working directory.
    pub working_dir: Option<String>,
}

/// A running container's resource usage at one moment: the CRI's `ContainerStats`.
///
/// CPU is a cumulative counter; the node agent computes rates from two samples
/// ([`crate::stats`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerStats {
    /// The container.
    pub container_id: String,
    /// Its sandbox.
    pub sandbox_id: String,
    /// Its name in the pod spec.
    pub name: String,
    /// When the sample was taken.
    pub timestamp: SystemTime,
    /// CPU time used since the container started, in nanoseconds (all cores).
    pub cpu_usage_core_nanos: u64,
    /// Memory in use that cannot be reclaimed easily (the working set), in bytes.
    pub memory_working_set_bytes: u64,
}

/// The runtime's name and version (`containerRuntimeVersion` in the Node's status is
/// `name://version`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeVersion {
    /// The runtime's name (`sim`, `process`).
    pub name: String,
    /// Its version.
    pub version: String,
}
