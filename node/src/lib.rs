//! # skiff-node — the node agent
//!
//! Skiff's kubelet: registers a Node, heartbeats, runs the pods bound to it through a
//! CRI-shaped runtime shim trait.
//!
//! **Status:** not implemented yet; this crate is a placeholder in the workspace layout.
