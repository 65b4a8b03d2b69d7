//! The scheduling framework: extension-point traits, statuses, cycle state, the
//! plugin registry, profiles and the [`Framework`] that runs a profile's plugins.
//!
//! # Organization
//! - [`Status`] / [`Code`]: what a plugin answers.
//! - [`CycleState`]: data plugins keep for one pod's scheduling cycle.
//! - [`Plugin`] and one trait per extension point: [`QueueSortPlugin`],
//!   [`PreFilterPlugin`], [`FilterPlugin`], [`PostFilterPlugin`], [`PreScorePlugin`],
//!   [`ScorePlugin`] (with NormalizeScore), [`ReservePlugin`] (Reserve/Unreserve),
//!   [`PermitPlugin`], [`PreBindPlugin`], [`BindPlugin`], [`PostBindPlugin`].
//! - [`Registry`]: plugin name → factory; [`Handle`]: what factories get.
//! - [`Profile`]: the enabled plugins and weights of one `schedulerName`.
//! - [`Framework`]: a built profile; runs each extension point in order.
//! - [`WaitingPods`]: pods held at Permit.
//! - [`parallel_map`]: the few-thread map filters and scores run on.
//!
//! ```
//! use skiff_sched::framework::{Code, Status};
//! assert_eq!(Status::unresolvable("node(s) were unschedulable").code(),
//!            Code::UnschedulableAndUnresolvable);
//! ```

mod cycle_state;
mod interface;
mod parallel;
mod profile;
mod registry;
mod runtime;
mod status;
mod waiting_pods;

pub use cycle_state::CycleState;
pub use interface::{
    BindPlugin, ClusterEvent, FilterPlugin, NodeScore, NodeStatuses, PermitPlugin, Plugin,
    PostBindPlugin, PostFilterContext, PostFilterPlugin, PreBindPlugin, PreFilterPlugin,
    PreFilterResult, PreScorePlugin, QueueSortPlugin, ReservePlugin, ScorePlugin, MAX_NODE_SCORE,
};
pub use parallel::{parallel_map, PARALLEL_THRESHOLD};
pub use profile::{EnabledPlugin, ExtensionPoint, Profile, DEFAULT_SCHEDULER_NAME};
pub use registry::{Handle, PluginFactory, Registry, RegistryError};
pub use runtime::{Framework, PermitOutcome};
pub use status::{Code, Status};
pub use waiting_pods::{PermitWait, WaitingPods};
