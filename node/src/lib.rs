//! # skiff-node — the node agent
//!
//! Skiff's kubelet: registers a Node, heartbeats, runs the pods bound to it through a
//! CRI-shaped runtime shim trait.
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
pub mod sim;
