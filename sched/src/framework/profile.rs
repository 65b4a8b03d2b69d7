//! [`Profile`]: which plugins a scheduler name runs, with their weights and arguments.
//!
//! A pod picks its profile with `spec.schedulerName` (`default-scheduler` when unset).
//! Each enabled plugin takes part in every extension point it implements, like
//! kube-scheduler's `multiPoint`, unless the point is listed in `disabled_at`.
//!
//! ```
//! use skiff_sched::framework::{ExtensionPoint, Profile};
//! let p = Profile::default_profile()
//!     .without("ImageLocality")
//!     .with("MyScore", 5)
//!     .disable_at("NodeResourcesFit", ExtensionPoint::Score);
//! assert_eq!(p.scheduler_name, "default-scheduler");
//! assert!(p.plugins.iter().all(|e| e.name != "ImageLocality"));
//! assert_eq!(p.plugins.last().unwrap().weight, 5);
//! ```

use serde_json::Value;

/// The scheduler name of pods that give none.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// An extension point, for disabling a plugin at one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExtensionPoint {
    /// QueueSort.
    QueueSort,
    /// PreFilter.
    PreFilter,
    /// Filter.
    Filter,
    /// PostFilter.
    PostFilter,
    /// PreScore.
    PreScore,
    /// Score.
    Score,
    /// Reserve.
    Reserve,
    /// Permit.
    Permit,
    /// PreBind.
    PreBind,
    /// Bind.
    Bind,
    /// PostBind.
    PostBind,
}

/// One enabled plugin.
#[derive(Clone, Debug, PartialEq)]
pub struct EnabledPlugin {
    /// The registry name.
    pub name: String,
    /// The score weight (ignored when the plugin does not score); at least 1.
    pub weight: i64,
    /// The plugin's arguments (`Null`: defaults).
    pub args: Value,
    /// Extension points where the plugin is not called even though it implements them.
    pub disabled_at: Vec<ExtensionPoint>,
}

/// A scheduling profile.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// The `spec.schedulerName` this profile serves.
    pub scheduler_name: String,
    /// The plugins, in the order they run at each point.
    pub plugins: Vec<EnabledPlugin>,
    /// Percentage of nodes to score (`None`: Kubernetes' adaptive default).
    pub percentage_of_nodes_to_score: Option<u32>,
}

impl Profile {
    /// A profile with no plugins.
    pub fn empty(scheduler_name: &str) -> Self {
        Profile {
            scheduler_name: scheduler_name.to_owned(),
            plugins: Vec::new(),
            percentage_of_nodes_to_score: None,
        }
    }

    /// kube-scheduler's default plugin set (the ones Skiff implements) and weights.
    pub fn default_profile() -> Self {
        let mut p = Profile::empty(DEFAULT_SCHEDULER_NAME);
        for (name, weight) in crate::plugins::DEFAULT_PLUGINS {
            p = p.with(name, *weight);
        }
        p
    }

    /// The same profile under another scheduler name.
    #[must_use]
    pub fn named(mut self, scheduler_name: &str) -> Self {
        self.scheduler_name = scheduler_name.to_owned();
        self
    }

    /// Adds (or re-weights) a plugin with default arguments.
    #[must_use]
    pub fn with(self, name: &str, weight: i64) -> Self {
        self.with_args(name, weight, Value::Null)
    }

    /// Adds (or replaces) a plugin with arguments.
    #[must_use]
    pub fn with_args(mut self, name: &str, weight: i64, args: Value) -> Self {
        let entry = EnabledPlugin {
            name: name.to_owned(),
            weight,
            args,
            disabled_at: Vec::new(),
        };
        match self.plugins.iter_mut().find(|e| e.name == name) {
            Some(e) => *e = entry,
            None => self.plugins.push(entry),
        }
        self
    }

    /// Removes a plugin.
    #[must_use]
    pub fn without(mut self, name: &str) -> Self {
        self.plugins.retain(|e| e.name != name);
        self
    }

    /// Keeps a plugin but does not call it at `point`.
    #[must_use]
    pub fn disable_at(mut self, name: &str, point: ExtensionPoint) -> Self {
        if let Some(e) = self.plugins.iter_mut().find(|e| e.name == name) {
            e.disabled_at.push(point);
        }
        self
    }

    /// Sets or clears `percentageOfNodesToScore`.
    #[must_use]
    pub fn percentage_of_nodes_to_score_opt(mut self, pct: Option<u32>) -> Self {
        self.percentage_of_nodes_to_score = pct;
        self
    }

    /// Sets `percentageOfNodesToScore` (clamped to 1..=100 when used).
    #[must_use]
    pub fn percentage_of_nodes_to_score(mut self, pct: u32) -> Self {
        self.percentage_of_nodes_to_score = Some(pct);
        self
    }
}
