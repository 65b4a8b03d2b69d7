//! # skiff-controllers — the control loops
//!
//! One module per controller (ReplicaSet, Deployment, StatefulSet, DaemonSet, Job,
//! CronJob, Endpoints, Namespace, garbage collector, node lifecycle), built on the
//! controller runtime in `skiff-core`.
//!
//! **Status:** not implemented yet; this crate is a placeholder in the workspace layout.
