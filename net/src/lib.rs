//! # skiff-net — service networking
//!
//! The service proxy, cluster DNS for `cluster.local` and the pod network (per-node
//! subnets, bridge and veth).
//!
//! **Status:** not implemented yet; this crate is a placeholder in the workspace layout.
