//! # skiff-node — the node agent
//!
//! Skiff's kubelet: registers a Node, heartbeats, runs the pods bound to it through a
//! CRI-shaped runtime shim trait. It reaches the cluster only through
//! `Arc<dyn skiff_core::client::Client>`.
//!
//! **Status.** Done: the shim traits and their conformance suite; the simulated and
//! process runtimes; registration, Lease heartbeat, node status; the pod lifecycle
//! (init containers, restart policies with CrashLoopBackOff, status and conditions,
//! env resolution, graceful deletion, readiness and liveness probes over tcpSocket and
//! httpGet). Not yet: exec/grpc and startup probes, volumes, static pods, serving
//! logs/exec/port-forward, resource metrics, namespaces/chroot/cgroups for the process
//! runtime (containers are plain host processes, even as root), image import.
//!
//! # Organization
//! - [`runtime`]: the runtime shim traits ([`runtime::RuntimeService`],
//!   [`runtime::ImageService`]), their messages and the conformance suite.
//! - [`agent`]: the agent ([`agent::NodeAgent`]): registration, heartbeats, pod
//!   workers.
//! - [`process`]: the process runtime (each container a host process).
//! - [`sim`]: the simulated runtime (no processes; hollow nodes).

pub mod agent;
pub mod process;
pub mod runtime;
pub mod server;
pub mod sim;
