//! [`CycleState`]: data plugins share within one scheduling cycle of one pod.
//!
//! A plugin computes something once in PreFilter or PreScore, writes it under a key
//! derived from its name, and reads it back in Filter or Score for every node. Reads
//! take `&self`, so filters may run on several threads at once; writes take `&mut self`
//! and happen only in the sequential extension points.
//!
//! ```
//! use skiff_sched::framework::CycleState;
//! let mut state = CycleState::new();
//! state.write("PreFilterNodePorts", vec![8080u16]);
//! assert_eq!(state.read::<Vec<u16>>("PreFilterNodePorts"), Some(&vec![8080]));
//! assert_eq!(state.read::<String>("PreFilterNodePorts"), None);
//! ```

use std::any::Any;
use std::collections::HashSet;

/// A value in the cycle state: any `Clone` type, so the whole state can be copied
/// for preemption's what-if runs (as kube-scheduler's `StateData.Clone`).
trait StateData: Any + Send + Sync {
    fn clone_box(&self) -> Box<dyn StateData>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Send + Sync + Clone> StateData for T {
    fn clone_box(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Per-cycle data, keyed by string, plus the plugins PreFilter/PreScore chose to skip.
/// Cloning copies every value (preemption filters a pod against what-if nodes with a
/// copy, leaving the original untouched).
#[derive(Default)]
pub struct CycleState {
    /// A few entries (one or two per plugin): a linear scan beats hashing the key
    /// on every node of every cycle.
    data: Vec<(String, Box<dyn StateData>)>,
    /// Filter plugins whose PreFilter answered `Skip`.
    pub(crate) skip_filter: HashSet<String>,
    /// Score plugins whose PreScore answered `Skip`.
    pub(crate) skip_score: HashSet<String>,
    /// Per Filter plugin of the framework, in order: whether it runs this cycle
    /// (computed once after PreFilter, so filtering a node hashes no names).
    pub(crate) filter_mask: Vec<bool>,
}

impl std::fmt::Debug for CycleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CycleState")
            .field(
                "keys",
                &self.data.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("skip_filter", &self.skip_filter)
            .field("skip_score", &self.skip_score)
            .finish()
    }
}

impl Clone for CycleState {
    fn clone(&self) -> Self {
        CycleState {
            data: self
                .data
                .iter()
                .map(|(k, v)| (k.clone(), (**v).clone_box()))
                .collect(),
            skip_filter: self.skip_filter.clone(),
            skip_score: self.skip_score.clone(),
            filter_mask: self.filter_mask.clone(),
        }
    }
}

impl CycleState {
    /// An empty state.
    pub fn new() -> Self {
        CycleState::default()
    }

    /// Stores `value` under `key`, replacing what was there.
    pub fn write<T: Any + Send + Sync + Clone>(&mut self, key: &str, value: T) {
        match self.data.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = Box::new(value),
            None => self.data.push((key.to_owned(), Box::new(value))),
        }
    }

    /// The value under `key`, if there is one of type `T`.
    pub fn read<T: Any>(&self, key: &str) -> Option<&T> {
        self.data
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| (**v).as_any().downcast_ref::<T>())
    }

    /// The value under `key` for updating (PreFilter extensions adjust their state
    /// when preemption adds or removes pods).
    pub fn read_mut<T: Any>(&mut self, key: &str) -> Option<&mut T> {
        self.data
            .iter_mut()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| (**v).as_any_mut().downcast_mut::<T>())
    }

    /// Whether the Filter of `plugin` is skipped in this cycle.
    pub fn skips_filter(&self, plugin: &str) -> bool {
        self.skip_filter.contains(plugin)
    }

    /// Whether the Score of `plugin` is skipped in this cycle.
    pub fn skips_score(&self, plugin: &str) -> bool {
        self.skip_score.contains(plugin)
    }
}
