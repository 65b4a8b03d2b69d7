//! # skiff-sched — the scheduler
//!
//! A kube-scheduler style scheduler: it watches pods with no node, finds the best node
//! for each through a pipeline of plugins, and binds it through `pods/binding`. It
//! reaches the cluster only through `Arc<dyn skiff_core::client::Client>`.
//!
//! # Organization
//! - [`framework`]: the extension-point traits (one per point), [`framework::Status`],
//!   [`framework::CycleState`], the plugin [`framework::Registry`], profiles and the
//!   [`framework::Framework`] that runs them.
//! - [`cache`]: nodes, the pods counted on them (assumed pods included) and the
//!   per-cycle [`cache::Snapshot`].
//! - [`plugins`]: the default plugins (resources fit, node name, ports, node
//!   affinity, taints, unschedulable, pod topology spread, inter-pod affinity,
//!   preemption, balanced allocation, image locality, binder).
//! - [`queue`]: the scheduling queue (active, back-off, unschedulable).
//! - [`scheduler`]: the scheduling loop, asynchronous binding, pod conditions and
//!   events, leader election on the `kube-system/kube-scheduler` Lease
//!   ([`scheduler::Scheduler::run_with_leader_election`]) and the
//!   `KubeSchedulerConfiguration` reader ([`scheduler::KubeSchedulerConfiguration`]).
//! - [`informer`]: core's watcher turned into the events the scheduler handles
//!   (Relisted, Applied, Deleted).
//!
//! A custom plugin is a trait impl plus a registry entry:
//!
//! ```
//! use std::sync::Arc;
//! use k8s_openapi::api::core::v1::Pod;
//! use skiff_sched::cache::NodeInfo;
//! use skiff_sched::framework::{CycleState, Plugin, Profile, ScorePlugin, Status};
//!
//! /// Prefers nodes labelled `tier=fast`.
//! struct PreferFast;
//! impl Plugin for PreferFast {
//!     fn name(&self) -> &str { "PreferFast" }
//!     fn as_score(&self) -> Option<&dyn ScorePlugin> { Some(self) }
//! }
//! impl ScorePlugin for PreferFast {
//!     fn score(&self, _: &CycleState, _: &Pod, node: &NodeInfo) -> Result<i64, Status> {
//!         let fast = node.labels().and_then(|l| l.get("tier")).is_some_and(|t| t == "fast");
//!         Ok(if fast { 100 } else { 0 })
//!     }
//! }
//!
//! let mut registry = skiff_sched::plugins::default_registry();
//! registry.register("PreferFast", |_, _| Ok(Arc::new(PreferFast))).unwrap();
//! let profile = Profile::default_profile().named("fast-scheduler").with("PreferFast", 10);
//! assert_eq!(profile.scheduler_name, "fast-scheduler");
//! ```

pub mod cache;
pub mod framework;
pub mod informer;
pub mod plugins;
pub mod pod;
pub mod queue;
pub mod scheduler;
