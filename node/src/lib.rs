//! # skiff-node — the node agent
//!
//! Skiff's kubelet: registers a Node, heartbeats, runs the pods bound to it through a
//! CRI-shaped runtime shim trait. It reaches the cluster only through
//! `Arc<dyn skiff_core::client::Client>`.
//!
//! **Status.** Done: the shim traits and their conformance suite; the simulated and
//! process runtimes; registration, Lease heartbeat, node status with MemoryPressure,
//! DiskPressure and PIDPressure from the machine; the pod lifecycle (init containers,
//! restart policies with CrashLoopBackOff, status and conditions, env resolution,
//! graceful deletion, startup, readiness and liveness probes over tcpSocket and
//! httpGet); volumes (emptyDir, configMap, secret, downwardAPI, projected, hostPath,
//! PVCs bound to hostPath/local PVs) with subPath and readOnly; static pods from a
//! manifest directory with mirror pods; as root, isolated process containers (mount,
//! PID, UTS and IPC namespaces, their own root, volumes bind-mounted) with cgroup
//! CPU/memory limits, and once the node has a pod CIDR a network namespace per pod
//! on the node's bridge (see [`process::network`] and `docs/networking.md`); exec
//! enters isolated containers. Not yet: grpc probes, resource metrics, image
//! import, routes for pod traffic between machines.
//!
//! # Organization
//! - [`runtime`]: the runtime shim traits ([`runtime::RuntimeService`],
//!   [`runtime::ImageService`]), their messages and the conformance suite.
//! - [`agent`]: the agent ([`agent::NodeAgent`]): registration, heartbeats, pod
//!   workers, and the kubelet's events about pods ([`agent::events`]).
//! - [`process`]: the process runtime (each container a host process).
//! - [`sim`]: the simulated runtime (no processes; hollow nodes).
//! - [`fleet`]: N agents on one runtime kind, started and stopped together (what
//!   `skiff up` and `skiff node` run).

pub mod agent;
pub mod fleet;
pub mod process;
pub mod runtime;
pub mod server;
pub mod sim;
pub mod stats;
