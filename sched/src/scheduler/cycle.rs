//! The scheduling algorithm of one pod, as pure as it can be: PreFilter, Filter over
//! the nodes (in parallel, stopping once enough fit), PreScore, Score, and the choice
//! of the best node. No I/O, no cache writes.
//!
//! ```
//! use skiff_sched::scheduler::num_feasible_nodes_to_find;
//! assert_eq!(num_feasible_nodes_to_find(None, 50), 50);
//! assert_eq!(num_feasible_nodes_to_find(None, 5000), 500);
//! assert_eq!(num_feasible_nodes_to_find(Some(100), 5000), 5000);
//! assert_eq!(num_feasible_nodes_to_find(None, 1000), 420);
//! ```

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use rand::Rng;

use super::FitError;
use crate::cache::{NodeInfo, NominatedPods, Snapshot};
use crate::framework::{parallel_map, CycleState, Framework, Status, PARALLEL_THRESHOLD};

const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;
/// The fewest nodes filtered in one window.
const MIN_FILTER_WINDOW: usize = 64;
/// How far ahead of the node being filtered the next one is prefetched.
const PREFETCH_AHEAD: usize = 4;

/// How many feasible nodes to find before scoring, as kube-scheduler: all of a
/// cluster under 100 nodes; otherwise `percentage` of them (adaptive when unset:
/// 50% minus 1% per 125 nodes, at least 5%), and never fewer than 100.
pub fn num_feasible_nodes_to_find(percentage: Option<u32>, num_all: usize) -> usize {
    if num_all < MIN_FEASIBLE_NODES_TO_FIND || percentage.is_some_and(|p| p >= 100) {
        return num_all;
    }
    let pct = match percentage {
        Some(p) if p > 0 => p as usize,
        _ => (50usize.saturating_sub(num_all / 125)).max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND),
    };
    (num_all * pct / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Where a pod goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleResult {
    /// The chosen node.
    pub node: String,
    /// Nodes checked by the filters.
    pub evaluated: usize,
    /// Nodes that fit.
    pub feasible: usize,
}

/// Why a pod could not be placed.
#[derive(Debug)]
pub enum ScheduleError {
    /// The cluster has no nodes.
    NoNodes,
    /// No node fits (with the per-node reasons).
    Unfit(Box<FitError>),
    /// A plugin failed.
    Plugin(Status),
}

impl std::fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScheduleError::NoNodes => write!(f, "no nodes available to schedule pods"),
            ScheduleError::Unfit(e) => write!(f, "{e}"),
            ScheduleError::Plugin(s) => write!(
                f,
                "running plugin {}: {}",
                s.plugin().unwrap_or("?"),
                s.message()
            ),
        }
    }
}

/// The per-scheduler state of the algorithm across cycles.
#[derive(Debug)]
pub struct Algorithm {
    /// Where the next filter pass starts, so nodes share the load (kube's
    /// nextStartNodeIndex).
    pub next_start_node_index: usize,
    /// Threads for filtering and scoring.
    pub parallelism: usize,
    /// The default percentage of nodes to score (profiles may override).
    pub percentage_of_nodes_to_score: Option<u32>,
}

impl Algorithm {
    /// Finds the node for `pod`. `state` is filled for the later extension points.
    pub fn schedule(
        &mut self,
        fw: &Framework,
        state: &mut CycleState,
        pod: &Pod,
        snapshot: &Snapshot,
        nominated: &NominatedPods,
    ) -> Result<ScheduleResult, ScheduleError> {
        let n = snapshot.len();
        if n == 0 {
            return Err(ScheduleError::NoNodes);
        }
        let (pre, status) = fw.run_pre_filter(state, pod, snapshot);
        if !status.is_success() {
            if status.is_rejected() {
                let mut e = FitError::new(n);
                e.pre_filter_msg = Some(status.message());
                if let Some(p) = status.plugin() {
                    e.unschedulable_plugins.insert(p.to_owned());
                }
                return Err(ScheduleError::Unfit(Box::new(e)));
            }
            return Err(ScheduleError::Plugin(status));
        }
        // Candidates: all nodes from the rotating start (indexed in place, not
        // copied), or the PreFilter's subset.
        let subset: Vec<Arc<NodeInfo>> = match &pre.node_names {
            Some(names) => names
                .iter()
                .filter_map(|nm| snapshot.get(nm).cloned())
                .collect(),
            None => Vec::new(),
        };
        let all = snapshot.nodes();
        let start = self.next_start_node_index % n;
        let candidates = Candidates {
            subset: pre.node_names.as_ref().map(|_| subset.as_slice()),
            all,
            start,
        };
        let pct = fw
            .percentage_of_nodes_to_score()
            .or(self.percentage_of_nodes_to_score);
        let want = num_feasible_nodes_to_find(pct, candidates.len());
        let mut feasible: Vec<Arc<NodeInfo>> = Vec::with_capacity(want);
        let mut diagnosis = FitError::new(n);
        let mut evaluated = 0;
        let state_ref: &CycleState = state;
        let mut record = |node: &Arc<NodeInfo>, s: Status, feasible: &mut Vec<Arc<NodeInfo>>| {
            if s.is_success() {
                feasible.push(node.clone());
                Ok(())
            } else if s.is_rejected() {
                diagnosis.record(node.name(), s);
                Ok(())
            } else {
                Err(ScheduleError::Plugin(s))
            }
        };
        if want < PARALLEL_THRESHOLD || self.parallelism <= 1 {
            // On this thread, node after node until enough fit, with the node
            // `PREFETCH_AHEAD` places on being pulled into the cache meanwhile (a
            // rotating start visits nodes not seen for thousands of cycles).
            while evaluated < candidates.len() && feasible.len() < want {
                if evaluated + PREFETCH_AHEAD < candidates.len() {
                    candidates.get(evaluated + PREFETCH_AHEAD).prefetch();
                }
                let node = candidates.get(evaluated);
                let s = fw.run_filter_with_nominated(state_ref, pod, node, nominated);
                evaluated += 1;
                record(node, s, &mut feasible)?;
            }
        } else {
            // In windows of the nodes still wanted, each on `parallelism` threads, so
            // the pass stops soon after enough nodes fit.
            while evaluated < candidates.len() && feasible.len() < want {
                let window = (want - feasible.len())
                    .max(MIN_FILTER_WINDOW)
                    .min(candidates.len() - evaluated);
                let base = evaluated;
                let results: Vec<Status> = parallel_map(window, self.parallelism, |i| {
                    fw.run_filter_with_nominated(
                        state_ref,
                        pod,
                        candidates.get(base + i),
                        nominated,
                    )
                });
                for (i, s) in results.into_iter().enumerate() {
                    if feasible.len() >= want {
                        break;
                    }
                    evaluated = base + i + 1;
                    record(candidates.get(base + i), s, &mut feasible)?;
                }
            }
        }
        if pre.node_names.is_none() {
            self.next_start_node_index = (self.next_start_node_index + evaluated) % n;
        }
        if feasible.is_empty() {
            return Err(ScheduleError::Unfit(Box::new(diagnosis)));
        }
        let result = |node: &NodeInfo| ScheduleResult {
            node: node.name().to_owned(),
            evaluated,
            feasible: feasible.len(),
        };
        if feasible.len() == 1 {
            return Ok(result(&feasible[0]));
        }
        let status = fw.run_pre_score(state, pod, &feasible, snapshot);
        if !status.is_success() {
            return Err(ScheduleError::Plugin(status));
        }
        let totals = fw
            .run_score(state, pod, &feasible, self.parallelism)
            .map_err(ScheduleError::Plugin)?;
        let best = select_host(&totals, &mut rand::rng());
        Ok(result(&feasible[best]))
    }
}

/// The nodes to filter: a PreFilter's subset, or every node of the snapshot from a
/// rotating start.
struct Candidates<'a> {
    subset: Option<&'a [Arc<NodeInfo>]>,
    all: &'a [Arc<NodeInfo>],
    start: usize,
}

impl Candidates<'_> {
    fn len(&self) -> usize {
        self.subset.map_or(self.all.len(), <[_]>::len)
    }

    fn get(&self, i: usize) -> &Arc<NodeInfo> {
        match self.subset {
            Some(s) => &s[i],
            None => &self.all[(self.start + i) % self.all.len()],
        }
    }
}

/// The index of the highest total; ties are broken uniformly at random (reservoir
/// sampling, as kube-scheduler does).
pub fn select_host(totals: &[i64], rng: &mut impl Rng) -> usize {
    let mut best = 0;
    let mut ties = 0u32;
    for (i, t) in totals.iter().enumerate() {
        if i == 0 || *t > totals[best] {
            best = i;
            ties = 1;
        } else if *t == totals[best] {
            ties += 1;
            if rng.random_range(0..ties) == 0 {
                best = i;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feasible_counts_follow_kubernetes() {
        let cases = [
            (None, 10, 10),
            (None, 99, 99),
            (None, 100, 100),
            (None, 5000, 500),
            (None, 6000, 300),
            (None, 10000, 500),
            (Some(10), 200, 100),
            (Some(50), 1000, 500),
            (Some(0), 1000, 420),
        ];
        for (pct, n, want) in cases {
            assert_eq!(num_feasible_nodes_to_find(pct, n), want, "{pct:?} {n}");
        }
    }

    #[test]
    fn select_host_picks_the_best_and_spreads_ties() {
        let mut rng = rand::rng();
        assert_eq!(select_host(&[1, 5, 3], &mut rng), 1);
        let mut seen = [0; 3];
        for _ in 0..300 {
            seen[select_host(&[7, 7, 2], &mut rng)] += 1;
        }
        assert!(seen[0] > 50 && seen[1] > 50 && seen[2] == 0, "{seen:?}");
    }
}
