//! # skiff-controllers — the control loops
//!
//! Controllers that move the cluster's actual state toward its desired state, built on
//! the controller runtime in `skiff-core` ([`skiff_core::runtime`]) and reaching the
//! cluster only through an `Arc<dyn skiff_core::client::Client>`.
//!
//! # Organization
//! - [`namespace`]: empties a deleted namespace, then finalizes it.
//! - [`gc`]: the garbage collector (ownerReferences; background, foreground, orphan).
//! - [`replicaset`]: pods to match a ReplicaSet's replicas; adoption; status.
//! - [`deployment`]: ReplicaSets per template, rolling update and recreate, revisions.
//! - [`job`]: pods of a Job until enough succeed; back-off, deadline, Indexed, TTL.
//! - [`cronjob`]: Jobs on a cron schedule (time zones, concurrency, history).
//! - [`statefulset`]: ordered pods with stable names and claims; partitioned rolling
//!   updates.
//! - [`daemonset`]: one pod per eligible node; rolling updates.
//! - [`endpoints`]: Endpoints and EndpointSlices of the services with a selector.
//! - [`serviceaccount`]: a `default` ServiceAccount in every namespace.
//! - [`node_lifecycle`]: heartbeats, `Unknown` nodes, taints, taint-based eviction.
//! - [`node_ipam`]: a pod CIDR for every node.
//! - [`disruption`]: PodDisruptionBudget status (the eviction subresource reads it).
//! - [`podgc`]: the pod garbage collector (terminated pods over a threshold, pods of
//!   deleted nodes, unscheduled terminating pods).
//! - [`manager`]: [`ControllerManager`], the enabled controllers in one process, with
//!   optional leader election.
//! - [`pods`], [`expectations`], [`resources`], [`hash`], [`revisions`], [`adoption`],
//!   [`status_patch`], [`slow_start`], [`disruption_target`]:
//!   what the controllers share.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use skiff_controllers::ControllerManager;
//! ControllerManager::new(client).run().await;
//! # }
//! ```

pub mod adoption;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod disruption_target;
pub mod endpoints;
pub mod expectations;
pub mod gc;
pub mod hash;
pub mod job;
pub mod manager;
pub mod namespace;
pub mod node_ipam;
pub mod node_lifecycle;
pub mod podgc;
pub mod pods;
pub mod replicaset;
pub mod resources;
pub mod revisions;
pub mod serviceaccount;
pub mod slow_start;
pub mod statefulset;
pub mod status_patch;

pub use manager::ControllerManager;
