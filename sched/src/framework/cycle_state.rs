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
use std::collections::{HashMap, HashSet};

/// Per-cycle data, keyed by string, plus the plugins PreFilter/PreScore chose to skip.
#[derive(Default)]
pub struct CycleState {
    data: HashMap<String, Box<dyn Any + Send + Sync>>,
    /// Filter plugins whose PreFilter answered `Skip`.
    pub(crate) skip_filter: HashSet<String>,
    /// Score plugins whose PreScore answered `Skip`.
    pub(crate) skip_score: HashSet<String>,
}

impl std::fmt::Debug for CycleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CycleState")
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .field("skip_filter", &self.skip_filter)
            .field("skip_score", &self.skip_score)
            .finish()
    }
}

impl CycleState {
    /// An empty state.
    pub fn new() -> Self {
        CycleState::default()
    }

    /// Stores `value` under `key`, replacing what was there.
    pub fn write<T: Any + Send + Sync>(&mut self, key: &str, value: T) {
        self.data.insert(key.to_owned(), Box::new(value));
    }

    /// The value under `key`, if there is one of type `T`.
    pub fn read<T: Any>(&self, key: &str) -> Option<&T> {
        self.data.get(key).and_then(|v| v.downcast_ref::<T>())
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
