//! The resource plugins: NodeResourcesFit (filter; LeastAllocated / MostAllocated
//! score) and NodeResourcesBalancedAllocation (score).
//!
//! ```
//! assert_eq!(skiff_sched::plugins::node_resources::least_requested_score(0, 100), 100);
//! ```

mod balanced_allocation;
mod fit;

pub use balanced_allocation::{balanced_score, BalancedAllocation, NAME as BALANCED_ALLOCATION};
pub use fit::{
    fits, least_requested_score, most_requested_score, requested_and_allocatable, weighted_score,
    Fit, FitArgs, InsufficientResource, ResourceWeight, ScoringStrategy, StrategyType, NAME as FIT,
};
