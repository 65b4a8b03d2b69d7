//! The default plugins, each a pure core with table tests plus a thin adapter to the
//! extension-point traits, and [`default_registry`] that registers them.
//!
//! | plugin | points |
//! |---|---|
//! | PrioritySort | QueueSort |
//! | NodeUnschedulable | Filter |
//! | NodeName | Filter |
//! | TaintToleration | Filter, Score (PreferNoSchedule) |
//! | NodeAffinity | PreFilter, Filter, Score (preferred) |
//! | NodePorts | PreFilter, Filter |
//! | NodeResourcesFit | PreFilter, Filter, Score (LeastAllocated / MostAllocated) |
//! | PodTopologySpread | PreFilter, Filter, Score (ScheduleAnyway) |
//! | InterPodAffinity | PreFilter, Filter, Score (preferred terms) |
//! | DefaultPreemption | PostFilter |
//! | NodeResourcesBalancedAllocation | Score |
//! | ImageLocality | Score |
//! | DefaultBinder | Bind |
//!
//! ```
//! let registry = skiff_sched::plugins::default_registry();
//! assert!(registry.contains("NodeResourcesFit"));
//! ```

use std::sync::Arc;

use crate::framework::{Plugin, Registry, RegistryError};

pub mod default_binder;
pub mod default_preemption;
pub mod fixtures;
pub mod helpers;
pub mod image_locality;
#[cfg(test)]
mod incremental_tests;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod queue_sort;
pub mod taint_toleration;
#[cfg(test)]
pub(crate) mod testing;

/// The default profile's plugins in kube-scheduler's order, with its score weights.
pub const DEFAULT_PLUGINS: &[(&str, i64)] = &[
    (queue_sort::NAME, 1),
    (node_unschedulable::NAME, 1),
    (node_name::NAME, 1),
    (taint_toleration::NAME, 3),
    (node_affinity::NAME, 2),
    (node_ports::NAME, 1),
    (node_resources::FIT, 1),
    (pod_topology_spread::NAME, 2),
    (inter_pod_affinity::NAME, 2),
    (default_preemption::NAME, 1),
    (node_resources::BALANCED_ALLOCATION, 1),
    (image_locality::NAME, 1),
    (default_binder::NAME, 1),
];

/// A constructor of an argument-less plugin.
type MakePlugin = fn() -> Arc<dyn Plugin>;

fn no_args(name: &str, args: &serde_json::Value) -> Result<(), RegistryError> {
    if args.is_null() || args.as_object().is_some_and(|o| o.is_empty()) {
        Ok(())
    } else {
        Err(RegistryError::InvalidArgs {
            plugin: name.to_owned(),
            message: "this plugin takes no arguments".to_owned(),
        })
    }
}

/// A registry with every default plugin.
pub fn default_registry() -> Registry {
    let mut r = Registry::new();
    let simple: [(&str, MakePlugin); 8] = [
        (queue_sort::NAME, || Arc::new(queue_sort::PrioritySort)),
        (node_unschedulable::NAME, || {
            Arc::new(node_unschedulable::NodeUnschedulable)
        }),
        (node_name::NAME, || Arc::new(node_name::NodeName)),
        (taint_toleration::NAME, || {
            Arc::new(taint_toleration::TaintToleration)
        }),
        (node_affinity::NAME, || {
            Arc::new(node_affinity::NodeAffinity)
        }),
        (node_ports::NAME, || Arc::new(node_ports::NodePorts)),
        (node_resources::BALANCED_ALLOCATION, || {
            Arc::new(node_resources::BalancedAllocation::default())
        }),
        (image_locality::NAME, || {
            Arc::new(image_locality::ImageLocality)
        }),
    ];
    for (name, make) in simple {
        let owned = name.to_owned();
        // Names are distinct constants, so registering cannot collide.
        let _ = r.register(name, move |args, _| {
            no_args(&owned, args)?;
            Ok(make())
        });
    }
    let _ = r.register(node_resources::FIT, |args, _| {
        Ok(Arc::new(node_resources::Fit::from_args(args)?))
    });
    let _ = r.register(pod_topology_spread::NAME, |args, _| {
        Ok(Arc::new(pod_topology_spread::PodTopologySpread::from_args(
            args,
        )?))
    });
    let _ = r.register(inter_pod_affinity::NAME, |args, _| {
        Ok(Arc::new(inter_pod_affinity::InterPodAffinity::from_args(
            args,
        )?))
    });
    let _ = r.register(default_preemption::NAME, |args, handle| {
        Ok(Arc::new(default_preemption::DefaultPreemption::from_args(
            args, handle,
        )?))
    });
    let _ = r.register(default_binder::NAME, |args, handle| {
        no_args(default_binder::NAME, args)?;
        Ok(Arc::new(default_binder::DefaultBinder::new(
            handle.client.clone(),
        )))
    });
    r
}
