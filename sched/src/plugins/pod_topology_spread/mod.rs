//! PodTopologySpread: spreads matching pods evenly over topology domains (the values
//! of a node label such as `topology.kubernetes.io/zone`).
//!
//! - Filter (`whenUnsatisfiable: DoNotSchedule`): a node passes when placing the pod
//!   in its domain keeps `matching pods in the domain + 1 - global minimum <= maxSkew`
//!   for every constraint; the global minimum counts as 0 while fewer than
//!   `minDomains` domains exist. Nodes without the topology label are rejected.
//! - Score (`ScheduleAnyway`): fewer matching pods in a node's domains scores higher,
//!   each constraint weighted by the log of its number of domains, normalized so the
//!   best node gets 100.
//!
//! Which nodes count as domains follows `nodeAffinityPolicy` (default `Honor`: only
//! nodes the pod's node selector and required node affinity allow) and
//! `nodeTaintsPolicy` (default `Ignore`). `matchLabelKeys` adds the pod's own values
//! of those labels to the selector. Only pods in the incoming pod's namespace that
//! are not being deleted count.
//!
//! A pod without constraints of its own gets the default constraints ([`defaults`]):
//! kube-scheduler's system defaults (hostname maxSkew 3, zone maxSkew 5, both
//! `ScheduleAnyway`) over the pods of its Services and controller, or the
//! `defaultConstraints` of the plugin's arguments with `defaultingType: List`.
//!
//! ```
//! use k8s_openapi::api::core::v1::Pod;
//! use skiff_sched::plugins::pod_topology_spread::{constraints, Action};
//! let pod: Pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"}},
//!     "spec": {"containers": [], "topologySpreadConstraints": [{
//!         "maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
//!         "labelSelector": {"matchLabels": {"app": "web"}}}]}})).unwrap();
//! let c = constraints(&pod, Action::DoNotSchedule).unwrap();
//! assert_eq!((c.len(), c[0].max_skew, c[0].min_domains), (1, 1, 1));
//! assert!(constraints(&pod, Action::ScheduleAnyway).unwrap().is_empty());
//! ```

pub mod defaults;
mod filtering;
mod scoring;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector as Selector, LabelSelectorRequirement,
};
use skiff_core::selector::LabelSelector;

use super::node_affinity::required_matches;
use super::taint_toleration::untolerated_hard_taint;
use crate::cache::{PodInfo, Snapshot};
use crate::framework::{FilterPlugin, Plugin, PreFilterPlugin, PreScorePlugin, ScorePlugin};

pub use defaults::{system_default_constraints, DefaultConstraint, LABEL_ZONE};
pub use filtering::{REASON_CONSTRAINTS_NOT_MATCH, REASON_NODE_LABEL_NOT_MATCH};

/// The plugin's name.
pub const NAME: &str = "PodTopologySpread";

/// The hostname label: per-node domains, counted at Score time.
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";

/// `whenUnsatisfiable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A hard constraint (Filter).
    DoNotSchedule,
    /// A soft constraint (Score).
    ScheduleAnyway,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::DoNotSchedule => "DoNotSchedule",
            Action::ScheduleAnyway => "ScheduleAnyway",
        }
    }
}

/// One topology spread constraint, ready to count pods.
#[derive(Clone, Debug, PartialEq)]
pub struct SpreadConstraint {
    /// The largest allowed difference between domains.
    pub max_skew: i64,
    /// The node label whose values are the domains.
    pub topology_key: String,
    /// Which pods count (with `matchLabelKeys` folded in).
    pub selector: LabelSelector,
    /// Below this many domains the global minimum is taken as 0 (hard constraints).
    pub min_domains: i64,
    /// `nodeAffinityPolicy: Honor`.
    pub honor_node_affinity: bool,
    /// `nodeTaintsPolicy: Honor`.
    pub honor_node_taints: bool,
}

impl SpreadConstraint {
    /// Whether `node` is one of this constraint's domains for `pod` (the inclusion
    /// policies).
    pub fn includes_node(&self, pod: &Pod, node: &Node) -> bool {
        if self.honor_node_affinity && !required_matches(pod, node) {
            return false;
        }
        if self.honor_node_taints {
            let taints = node
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_deref())
                .unwrap_or(&[]);
            let tolerations = pod
                .spec
                .as_ref()
                .and_then(|s| s.tolerations.as_deref())
                .unwrap_or(&[]);
            if untolerated_hard_taint(taints, tolerations).is_some() {
                return false;
            }
        }
        true
    }

    /// Whether `existing` counts for this constraint of a pod in namespace `ns`.
    pub fn counts(&self, existing: &PodInfo, ns: &str) -> bool {
        existing.namespace() == ns
            && existing.pod.metadata.deletion_timestamp.is_none()
            && self.selector.matches(existing.labels())
    }
}

/// The pod's constraints with `whenUnsatisfiable == action`. A bad selector is an
/// error (the API server validates them, so this is not expected).
pub fn constraints(pod: &Pod, action: Action) -> Result<Vec<SpreadConstraint>, String> {
    let empty = BTreeMap::new();
    let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
    let mut out = Vec::new();
    for c in pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_deref())
        .unwrap_or(&[])
    {
        if c.when_unsatisfiable != action.as_str() {
            continue;
        }
        let extra: Vec<LabelSelectorRequirement> = c
            .match_label_keys
            .iter()
            .flatten()
            .filter_map(|k| {
                labels.get(k).map(|v| LabelSelectorRequirement {
                    key: k.clone(),
                    operator: "In".into(),
                    values: Some(vec![v.clone()]),
                })
            })
            .collect();
        let selector = match (&c.label_selector, extra.is_empty()) {
            (None, true) => LabelSelector::nothing(),
            (sel, _) => {
                let mut s: Selector = sel.clone().unwrap_or_default();
                s.match_expressions
                    .get_or_insert_with(Vec::new)
                    .extend(extra);
                LabelSelector::from_label_selector(&s).map_err(|e| e.to_string())?
            }
        };
        let min_domains = match action {
            Action::DoNotSchedule => i64::from(c.min_domains.unwrap_or(1)).max(1),
            Action::ScheduleAnyway => 1,
        };
        out.push(SpreadConstraint {
            max_skew: i64::from(c.max_skew),
            topology_key: c.topology_key.clone(),
            selector,
            min_domains,
            honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        });
    }
    Ok(out)
}

/// Whether the node has every constraint's topology label.
fn has_all_keys(node: &Node, constraints: &[SpreadConstraint]) -> bool {
    let labels = node.metadata.labels.as_ref();
    constraints
        .iter()
        .all(|c| labels.is_some_and(|l| l.contains_key(&c.topology_key)))
}

/// Whether a node lacking one constraint's key but having another's never occurs: the
/// constraints share one key, or every node of the snapshot has every key. Then
/// "nodes with all keys" are, per constraint, simply the nodes with its key.
fn keys_never_missing_apart(constraints: &[SpreadConstraint], snapshot: &Snapshot) -> bool {
    let Some(first) = constraints.first() else {
        return true;
    };
    constraints
        .iter()
        .all(|c| c.topology_key == first.topology_key)
        || constraints.iter().all(|c| {
            snapshot
                .topology_index(&c.topology_key)
                .node_domain
                .iter()
                .all(Option::is_some)
        })
}

/// The PodTopologySpread filter and score. `Default` is `defaultingType: System`.
#[derive(Clone, Debug)]
pub struct PodTopologySpread {
    /// Applied to pods without constraints of their own.
    defaults: Vec<DefaultConstraint>,
    /// Whether `defaults` are the system defaults.
    system_defaulted: bool,
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &str {
        NAME
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

#[cfg(test)]
mod tests;
