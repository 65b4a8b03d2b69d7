//! InterPodAffinity: places pods relative to other pods, by the topology domains
//! (node label values) those pods run in.
//!
//! - Filter (required terms): a node passes when, in its domain of each term's
//!   `topologyKey`, a pod matching every `podAffinity` term runs (or no pod anywhere
//!   matches and the pod matches its own terms: the first of a group); no pod matching
//!   a `podAntiAffinity` term runs; and no running pod's required anti-affinity term
//!   matches the incoming pod.
//! - Score (preferred terms, both directions, plus existing pods' required affinity
//!   terms weighted by `hardPodAffinityWeight`): the sum of weights of the matches in
//!   the node's domains, min-max normalized to 0..=100.
//!
//! Arguments (as kube-scheduler's `InterPodAffinityArgs`):
//! `{"hardPodAffinityWeight": 1, "ignorePreferredTermsOfExistingPods": false}`.
//!
//! ```
//! use skiff_sched::plugins::inter_pod_affinity::InterPodAffinity;
//! let p = InterPodAffinity::from_args(&serde_json::json!({"hardPodAffinityWeight": 5})).unwrap();
//! assert_eq!(p.hard_pod_affinity_weight, 5);
//! assert!(InterPodAffinity::from_args(&serde_json::json!({"hardPodAffinityWeight": 101})).is_err());
//! ```

mod cycle_counts;
mod filtering;
mod scoring;

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use crate::cache::{NodeInfo, PodAffinityTerms, Snapshot};
use crate::framework::{
    FilterPlugin, Plugin, PreFilterPlugin, PreScorePlugin, RegistryError, ScorePlugin,
};

pub use filtering::{
    REASON_AFFINITY_RULES_NOT_MATCH, REASON_ANTI_AFFINITY_RULES_NOT_MATCH,
    REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH,
};

/// The plugin's name.
pub const NAME: &str = "InterPodAffinity";

/// Counts per topology domain: topologyKey → value → count (nested, so lookups by
/// a node's labels need no allocation).
pub type TopologyCounts = HashMap<String, HashMap<String, i64>>;

/// The InterPodAffinity filter and score.
#[derive(Clone, Debug)]
pub struct InterPodAffinity {
    /// The weight of an existing pod's required affinity term matching the incoming
    /// pod, in scoring (0..=100; 0 turns it off).
    pub hard_pod_affinity_weight: i64,
    /// Whether scoring ignores the preferred terms of existing pods when the
    /// incoming pod has none.
    pub ignore_preferred_terms_of_existing_pods: bool,
}

impl Default for InterPodAffinity {
    fn default() -> Self {
        InterPodAffinity {
            hard_pod_affinity_weight: 1,
            ignore_preferred_terms_of_existing_pods: false,
        }
    }
}

impl InterPodAffinity {
    /// Builds the plugin from `InterPodAffinityArgs` (`Null`: defaults).
    pub fn from_args(args: &Value) -> Result<Self, RegistryError> {
        let invalid = |message: String| RegistryError::InvalidArgs {
            plugin: NAME.to_owned(),
            message,
        };
        let mut p = InterPodAffinity::default();
        if args.is_null() {
            return Ok(p);
        }
        let obj = args
            .as_object()
            .ok_or_else(|| invalid("arguments must be an object".into()))?;
        for (k, v) in obj {
            match k.as_str() {
                "hardPodAffinityWeight" => {
                    let w = v
                        .as_i64()
                        .filter(|w| (0..=100).contains(w))
                        .ok_or_else(|| invalid(format!("hardPodAffinityWeight: Invalid value: {v}: not in valid range [0-100]")))?;
                    p.hard_pod_affinity_weight = w;
                }
                "ignorePreferredTermsOfExistingPods" => {
                    p.ignore_preferred_terms_of_existing_pods = v.as_bool().ok_or_else(|| {
                        invalid(format!(
                            "ignorePreferredTermsOfExistingPods: {v} is not a boolean"
                        ))
                    })?;
                }
                "apiVersion" | "kind" => {}
                other => return Err(invalid(format!("unknown field {other:?}"))),
            }
        }
        Ok(p)
    }
}

impl Plugin for InterPodAffinity {
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

/// The incoming pod's terms with namespace selectors folded into namespaces, and the
/// labels of its namespace (what existing pods' namespace selectors match).
#[derive(Clone, Debug, Default)]
pub(crate) struct IncomingPod {
    pub(crate) terms: PodAffinityTerms,
    pub(crate) namespace_labels: BTreeMap<String, String>,
}

impl IncomingPod {
    /// Parses `pod`'s terms against the namespaces of `snapshot`.
    pub(crate) fn new(pod: &Pod, snapshot: &Snapshot) -> Result<IncomingPod, String> {
        let mut terms = PodAffinityTerms::from_pod(pod).map_err(|e| e.to_string())?;
        let all = snapshot.namespaces();
        for t in terms
            .required_affinity
            .iter_mut()
            .chain(terms.required_anti_affinity.iter_mut())
        {
            t.merge_namespace_selector(all);
        }
        for t in terms
            .preferred_affinity
            .iter_mut()
            .chain(terms.preferred_anti_affinity.iter_mut())
        {
            t.term.merge_namespace_selector(all);
        }
        Ok(IncomingPod {
            terms,
            namespace_labels: snapshot
                .namespace_labels(crate::pod::namespace(pod))
                .cloned()
                .unwrap_or_default(),
        })
    }
}

/// Whether `pod` has pod affinity or anti-affinity terms at all (before parsing).
pub(crate) fn has_pod_affinity(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .is_some_and(|a| a.pod_affinity.is_some() || a.pod_anti_affinity.is_some())
}

/// The node's labels (empty when the node object is unknown).
pub(crate) fn node_labels(node: &NodeInfo) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    node.labels().unwrap_or(&EMPTY)
}

#[cfg(test)]
mod tests;
