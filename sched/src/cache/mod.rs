//! The scheduler's cache of nodes and pods, and the per-cycle snapshot of it.
//!
//! # Organization
//! - [`Resource`], [`pod_requests`]: resource amounts and what a pod requests.
//! - [`NodeInfo`], [`PodInfo`], [`HostPort`]: one node and the pods counted on it.
//! - [`Cache`]: all nodes, with assumed pods and their expiry.
//! - [`Snapshot`]: the nodes one cycle sees, refreshed incrementally.
//! - [`Workloads`]: Services and controllers, reduced to their pod selectors.
//! - [`PodSelection`], [`ExistingTerms`]: pod counts per node and topology domain that
//!   the snapshot keeps incrementally (PodTopologySpread, InterPodAffinity).
//!
//! ```
//! use skiff_sched::cache::{Cache, Snapshot};
//! let mut cache = Cache::default();
//! let mut snapshot = Snapshot::default();
//! cache.update_snapshot(&mut snapshot);
//! assert!(snapshot.is_empty());
//! ```

mod affinity;
mod affinity_index;
mod node_info;
mod nominated;
mod pod_indexes;
mod resource;
mod snapshot;
mod store;
mod topology_counts;
mod workloads;

pub use affinity::{AffinityError, AffinityTerm, PodAffinityTerms, WeightedAffinityTerm};
pub use affinity_index::{ExistingTerm, ExistingTerms, TermKind};
pub use node_info::{pod_host_ports, HostPort, NodeInfo, PodInfo};
pub use nominated::NominatedPods;
pub use resource::{
    pod_non_zero_requests, pod_requests, Resource, ResourceName, DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
};
pub use snapshot::{Snapshot, TopologyIndex};
pub use store::{Cache, CacheError};
pub use topology_counts::{DomainCounts, NodeCounts, PodSelection};
pub use workloads::{ControllerKind, Workloads};
