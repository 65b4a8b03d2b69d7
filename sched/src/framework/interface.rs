//! The extension points: one small trait each, as in kube-scheduler's framework.
//!
//! Every plugin implements [`Plugin`] (a name, and which extension points it serves)
//! and the traits of the extension points it takes part in. The framework calls the
//! plugins of a profile in order at each point; the doc comment of each trait says
//! which [`Code`](super::Code)s it may return and what the framework does with them.
//!
//! ```
//! use k8s_openapi::api::core::v1::Pod;
//! use skiff_sched::cache::NodeInfo;
//! use skiff_sched::framework::{CycleState, FilterPlugin, Plugin, Status};
//!
//! /// Rejects nodes whose name starts with "spot-".
//! struct NoSpot;
//! impl Plugin for NoSpot {
//!     fn name(&self) -> &str { "NoSpot" }
//!     fn as_filter(&self) -> Option<&dyn FilterPlugin> { Some(self) }
//! }
//! impl FilterPlugin for NoSpot {
//!     fn filter(&self, _: &CycleState, _: &Pod, node: &NodeInfo) -> Status {
//!         if node.name().starts_with("spot-") {
//!             Status::unresolvable("node(s) were spot instances")
//!         } else {
//!             Status::success()
//!         }
//!     }
//! }
//! ```

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;

use super::{CycleState, Status};
use crate::cache::{NodeInfo, PodInfo, Snapshot};
use crate::queue::QueuedPodInfo;

/// A plugin: a name, plus one accessor per extension point that returns the plugin
/// itself when it serves that point (Rust's stand-in for Go's interface assertions).
pub trait Plugin: Send + Sync + 'static {
    /// The plugin's name, as profiles and the registry spell it.
    fn name(&self) -> &str;
    /// The cluster events that may make a pod this plugin rejected schedulable. The
    /// queue moves such a pod back only on these events. Default: every event.
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        ClusterEvent::ALL.to_vec()
    }
    /// This plugin as a QueueSort plugin.
    fn as_queue_sort(&self) -> Option<&dyn QueueSortPlugin> {
        None
    }
    /// This plugin as a PreFilter plugin.
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        None
    }
    /// This plugin as a Filter plugin.
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        None
    }
    /// This plugin as a PostFilter plugin.
    fn as_post_filter(&self) -> Option<&dyn PostFilterPlugin> {
        None
    }
    /// This plugin as a PreScore plugin.
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        None
    }
    /// This plugin as a Score plugin.
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        None
    }
    /// This plugin as a Reserve plugin.
    fn as_reserve(&self) -> Option<&dyn ReservePlugin> {
        None
    }
    /// This plugin as a Permit plugin.
    fn as_permit(&self) -> Option<&dyn PermitPlugin> {
        None
    }
    /// This plugin as a PreBind plugin.
    fn as_pre_bind(&self) -> Option<&dyn PreBindPlugin> {
        None
    }
    /// This plugin as a Bind plugin.
    fn as_bind(&self) -> Option<&dyn BindPlugin> {
        None
    }
    /// This plugin as a PostBind plugin.
    fn as_post_bind(&self) -> Option<&dyn PostBindPlugin> {
        None
    }
}

/// A change in the cluster that may make unschedulable pods schedulable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClusterEvent {
    /// A node was added.
    NodeAdd,
    /// A node's labels, taints, allocatable or schedulability changed.
    NodeUpdate,
    /// A pod bound to a node was added (affinity may now be satisfied).
    AssignedPodAdd,
    /// A pod bound to a node changed (labels, requests).
    AssignedPodUpdate,
    /// A pod bound to a node was deleted (its resources and ports are free).
    AssignedPodDelete,
}

impl ClusterEvent {
    /// Every event.
    pub const ALL: [ClusterEvent; 5] = [
        ClusterEvent::NodeAdd,
        ClusterEvent::NodeUpdate,
        ClusterEvent::AssignedPodAdd,
        ClusterEvent::AssignedPodUpdate,
        ClusterEvent::AssignedPodDelete,
    ];
}

/// Orders the active queue. One per profile; every profile must use the same.
pub trait QueueSortPlugin: Plugin {
    /// Whether `a` is popped before `b`.
    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool;
}

/// What PreFilter may say about the nodes worth filtering.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreFilterResult {
    /// Only these nodes can fit (`None`: all of them). The framework intersects the
    /// sets of all PreFilter plugins.
    pub node_names: Option<HashSet<String>>,
}

/// Runs once per cycle before the filters: computes cycle state, or rejects the pod
/// outright.
///
/// Codes: `Success` (go on), `Skip` (this plugin's Filter is skipped for the cycle),
/// `Unschedulable`/`UnschedulableAndUnresolvable` (the pod fits no node; the cycle
/// ends), `Error` (the cycle ends; the pod is retried with back-off).
pub trait PreFilterPlugin: Plugin {
    /// Prepares the cycle for `pod` over the nodes of `snapshot`.
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        snapshot: &Snapshot,
    ) -> (PreFilterResult, Status);

    /// PreFilterExtensions `AddPod`: `added` now counts on `node` (preemption's
    /// what-if runs). A plugin whose PreFilter state depends on other pods updates
    /// it here; the default does nothing. Codes: `Success`, `Error`.
    fn add_pod(
        &self,
        _state: &mut CycleState,
        _pod: &Pod,
        _added: &PodInfo,
        _node: &NodeInfo,
    ) -> Status {
        Status::success()
    }

    /// PreFilterExtensions `RemovePod`: `removed` no longer counts on `node`.
    fn remove_pod(
        &self,
        _state: &mut CycleState,
        _pod: &Pod,
        _removed: &PodInfo,
        _node: &NodeInfo,
    ) -> Status {
        Status::success()
    }
}

/// Decides whether the pod fits one node. Runs for many nodes in parallel, so it must
/// not mutate shared state.
///
/// Codes: `Success` (fits), `Unschedulable` (does not fit now; preemption may help),
/// `UnschedulableAndUnresolvable` (preemption cannot help), `Error` (the cycle ends).
/// The reasons become the lines of the "0/N nodes are available" message, so they
/// should read like kube-scheduler's ("Insufficient cpu").
pub trait FilterPlugin: Plugin {
    /// Whether `pod` fits `node`.
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status;
}

/// The rejection of each node a filter rejected, by node name.
pub type NodeStatuses = std::collections::HashMap<String, Status>;

/// What a PostFilter plugin sees besides the pod: the framework (to run the filters
/// against what-if nodes) and the snapshot the cycle filtered.
pub struct PostFilterContext<'a> {
    /// The profile's framework.
    pub framework: &'a super::Framework,
    /// The nodes of the cycle.
    pub snapshot: &'a Snapshot,
    /// Pods nominated to nodes (they keep the room they preempted for).
    pub nominated: &'a crate::cache::NominatedPods,
}

/// Runs when no node passed the filters (preemption lives here).
///
/// Codes: `Success` (the pod may fit later on the returned nominated node),
/// `Unschedulable` (nothing helps; the message is appended to the failure message),
/// `Error`.
#[async_trait]
pub trait PostFilterPlugin: Plugin {
    /// Tries to make room; returns the nominated node name on success.
    async fn post_filter(
        &self,
        ctx: &PostFilterContext<'_>,
        state: &CycleState,
        pod: &Pod,
        statuses: &NodeStatuses,
    ) -> (Option<String>, Status);
}

/// Runs once per cycle before scoring, over the feasible nodes.
///
/// Codes: `Success`, `Skip` (this plugin's Score is skipped for the cycle), `Error`.
pub trait PreScorePlugin: Plugin {
    /// Prepares scoring of `pod` over the feasible `nodes` (`snapshot` holds all).
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
    ) -> Status;
}

/// A node's score by one plugin. The name is borrowed from the cycle's snapshot, so
/// building the list for normalization copies nothing per node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeScore<'a> {
    /// The node.
    pub name: &'a str,
    /// The score, 0..=[`MAX_NODE_SCORE`] after normalization.
    pub score: i64,
}

/// The highest score a plugin may give after normalization.
pub const MAX_NODE_SCORE: i64 = 100;

/// Ranks feasible nodes. Scores are normalized to 0..=100, multiplied by the plugin's
/// weight and summed over plugins; the highest total wins.
///
/// Codes: `Success`, `Error` (the cycle ends).
pub trait ScorePlugin: Plugin {
    /// The raw score of `node` for `pod`.
    fn score(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status>;

    /// The raw scores of many nodes: `out[i]` for `nodes[i]` (`out` is as long as
    /// `nodes`). The default calls [`ScorePlugin::score`] per node; a plugin may
    /// override it to read its cycle state once for the whole batch. The framework
    /// calls this, never `score` directly, so both must agree.
    fn score_nodes(
        &self,
        state: &CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        out: &mut [i64],
    ) -> Result<(), Status> {
        for (node, score) in nodes.iter().zip(out.iter_mut()) {
            *score = self.score(state, pod, node)?;
        }
        Ok(())
    }

    /// NormalizeScore: rescales the raw scores of all nodes into 0..=100. The default
    /// leaves them as they are (for plugins that already score in range).
    fn normalize_score(
        &self,
        _state: &CycleState,
        _pod: &Pod,
        _scores: &mut [NodeScore],
    ) -> Status {
        Status::success()
    }
}

/// Reserve and Unreserve: keep plugin-side state in step with the cache's assumption.
///
/// `reserve` codes: `Success`, or anything else to abort (Unreserve then runs for
/// every Reserve plugin). `unreserve` must be idempotent and cannot fail.
pub trait ReservePlugin: Plugin {
    /// The pod is assumed on `node`.
    fn reserve(&self, state: &CycleState, pod: &Pod, node: &str) -> Status;
    /// The assumption was dropped (a later plugin or the bind failed).
    fn unreserve(&self, state: &CycleState, pod: &Pod, node: &str);
}

/// Approves, rejects or delays the binding of a pod.
///
/// Codes: `Success` (approve), `Wait` with a timeout (the binding cycle waits until
/// every waiting plugin allows it through [`super::WaitingPods`], or rejects on
/// timeout), `Unschedulable` (reject), `Error`.
pub trait PermitPlugin: Plugin {
    /// The verdict and, with `Wait`, how long to wait at most.
    fn permit(&self, state: &CycleState, pod: &Pod, node: &str) -> (Status, Duration);
}

/// Runs before binding (volume provisioning and such). Codes: `Success`, or anything
/// else to fail the binding (the pod is forgotten and retried).
#[async_trait]
pub trait PreBindPlugin: Plugin {
    /// Prepares the bind of `pod` to `node`.
    async fn pre_bind(&self, state: &CycleState, pod: &Pod, node: &str) -> Status;
}

/// Binds the pod. Codes: `Success` (bound; later bind plugins are not called), `Skip`
/// (let the next bind plugin do it), anything else fails the binding.
#[async_trait]
pub trait BindPlugin: Plugin {
    /// Binds `pod` to `node`.
    async fn bind(&self, state: &CycleState, pod: &Pod, node: &str) -> Status;
}

/// Informational: runs after a successful bind.
#[async_trait]
pub trait PostBindPlugin: Plugin {
    /// `pod` was bound to `node`.
    async fn post_bind(&self, state: &CycleState, pod: &Pod, node: &str);
}
