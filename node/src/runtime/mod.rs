//! The runtime shim: the CRI-shaped boundary between the node agent and whatever runs
//! containers.
//!
//! The agent decides *what* should run (from the pod specs) and reports it; a runtime
//! decides *how*. Two runtimes ship with Skiff: [`crate::process::ProcessRuntime`]
//! (each container a host process) and [`crate::sim::SimRuntime`] (no processes, for
//! hollow nodes). Writing another means implementing [`RuntimeService`] and
//! [`ImageService`], keeping the invariants listed on each ("To ensure correctness"),
//! and running [`conformance::run`] in its tests.
//!
//! # Organization
//! - [`RuntimeService`]: sandboxes (one per pod) and containers.
//! - [`ImageService`]: the image store.
//! - [`Runtime`]: both; what the agent holds (`Arc<dyn Runtime>`).
//! - The messages: [`PodSandboxConfig`], [`ContainerConfig`], [`ContainerStatus`],
//!   [`Image`], ...
//! - Streaming ([`ExecRequest`], [`AttachRequest`], [`ExecSession`],
//!   [`ExecSyncResponse`], [`PortStream`]): exec, attach and port-forward.
//! - [`RuntimeError`]: every failure.
//! - [`conformance`]: the suite every runtime passes.
//!
//! ```
//! # async fn run() -> Result<(), skiff_node::runtime::RuntimeError> {
//! use std::time::Duration;
//! use skiff_node::runtime::{ContainerConfig, ContainerState, PodSandboxConfig, RuntimeService};
//! use skiff_node::sim::SimRuntime;
//!
//! let runtime = SimRuntime::new();
//! let sandbox = PodSandboxConfig::default();
//! let sandbox_id = runtime.run_pod_sandbox(&sandbox).await?;
//! let config = ContainerConfig { name: "web".into(), image: "nginx".into(), ..Default::default() };
//! let id = runtime.create_container(&sandbox_id, &config, &sandbox).await?;
//! runtime.start_container(&id).await?;
//! assert_eq!(runtime.container_status(&id).await?.state, ContainerState::Running);
//! runtime.stop_container(&id, Duration::from_secs(1)).await?;
//! assert_eq!(runtime.container_status(&id).await?.state, ContainerState::Exited);
//! # Ok(()) }
//! ```

pub mod conformance;
mod error;
mod service;
mod streaming;
mod types;

pub use error::RuntimeError;
pub use service::{ImageService, Runtime, RuntimeService};
pub use streaming::{
    AttachRequest, ByteReader, ByteWriter, Duplex, ExecRequest, ExecSession, ExecSyncResponse,
    ExitFuture, PortStream, Resizer, TerminalSize,
};
pub use types::{
    ContainerConfig, ContainerFilter, ContainerResources, ContainerState, ContainerStats,
    ContainerStatus, Image, KeyValue, Mount, PodIdentity, PodSandboxConfig, PodSandboxStatus,
    RuntimeConfig, RuntimeVersion, SandboxState,
};
