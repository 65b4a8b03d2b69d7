//! # skiff-core — the API machinery every Skiff component shares
//!
//! This crate will hold the Kubernetes API types (from `k8s-openapi`), the resource
//! descriptor table, label and field selectors, quantities, patches, the client trait
//! that every component uses to reach the API server, and the controller runtime
//! (watcher, reflector, controller, leader election).
//!
//! **Status:** not implemented yet. Only the crate exists so that the workspace layout of
//! `docs/ARCHITECTURE.md` is in place; the API server issue fills it.
