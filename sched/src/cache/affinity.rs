//! Pod affinity terms parsed once per pod: the selectors of `podAffinity` and
//! `podAntiAffinity` turned into [`LabelSelector`]s with their namespaces resolved,
//! so filters and scores only match labels.
//!
//! A term applies to the pods in its `namespaces`, plus those in namespaces whose
//! labels match its `namespaceSelector`; with neither, to the pods in the namespace
//! of the pod that declares it. A missing `labelSelector` matches no pod; an empty
//! one matches every pod.
//!
//! ```
//! use std::collections::BTreeMap;
//! use k8s_openapi::api::core::v1::Pod;
//! use skiff_sched::cache::PodAffinityTerms;
//! let pod: Pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "web", "namespace": "shop"},
//!     "spec": {"containers": [], "affinity": {"podAntiAffinity": {
//!         "requiredDuringSchedulingIgnoredDuringExecution": [{
//!             "labelSelector": {"matchLabels": {"app": "web"}},
//!             "topologyKey": "kubernetes.io/hostname"}]}}}})).unwrap();
//! let terms = PodAffinityTerms::from_pod(&pod).unwrap();
//! let t = &terms.required_anti_affinity[0];
//! let labels = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
//! assert!(t.matches("shop", &labels, None));
//! assert!(!t.matches("other", &labels, None));
//! ```

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, WeightedPodAffinityTerm};
use skiff_core::selector::LabelSelector;

/// Why a pod's affinity terms could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AffinityError {
    /// A `labelSelector` or `namespaceSelector` is not a valid selector.
    #[error("invalid selector in pod affinity term: {0}")]
    InvalidSelector(String),
}

/// One pod (anti-)affinity term, ready to match pods.
#[derive(Clone, Debug, PartialEq)]
pub struct AffinityTerm {
    /// The namespaces the term applies to (listed, or the declaring pod's).
    pub namespaces: HashSet<String>,
    /// Namespaces whose labels match also apply ([`LabelSelector::nothing`] when the
    /// term has no `namespaceSelector`).
    pub namespace_selector: LabelSelector,
    /// Which pods the term is about.
    pub selector: LabelSelector,
    /// The node label that defines a topology domain.
    pub topology_key: String,
}

/// A preferred term with its weight (1..=100).
#[derive(Clone, Debug, PartialEq)]
pub struct WeightedAffinityTerm {
    /// The term.
    pub term: AffinityTerm,
    /// Its weight.
    pub weight: i64,
}

static EMPTY_LABELS: BTreeMap<String, String> = BTreeMap::new();

impl AffinityTerm {
    /// Parses `term` declared by a pod in namespace `owner_ns`.
    pub fn new(term: &PodAffinityTerm, owner_ns: &str) -> Result<AffinityTerm, AffinityError> {
        let selector = match &term.label_selector {
            Some(s) => LabelSelector::from_label_selector(s)
                .map_err(|e| AffinityError::InvalidSelector(e.to_string()))?,
            None => LabelSelector::nothing(),
        };
        let namespace_selector = match &term.namespace_selector {
            Some(s) => LabelSelector::from_label_selector(s)
                .map_err(|e| AffinityError::InvalidSelector(e.to_string()))?,
            None => LabelSelector::nothing(),
        };
        let mut namespaces: HashSet<String> = term.namespaces.iter().flatten().cloned().collect();
        if namespaces.is_empty() && term.namespace_selector.is_none() {
            namespaces.insert(owner_ns.to_owned());
        }
        Ok(AffinityTerm {
            namespaces,
            namespace_selector,
            selector,
            topology_key: term.topology_key.clone(),
        })
    }

    /// Whether a pod in namespace `ns` with `labels` is one this term is about;
    /// `ns_labels` are the labels of namespace `ns` (none: unknown, treated as empty).
    pub fn matches(
        &self,
        ns: &str,
        labels: &BTreeMap<String, String>,
        ns_labels: Option<&BTreeMap<String, String>>,
    ) -> bool {
        (self.namespaces.contains(ns)
            || self
                .namespace_selector
                .matches(ns_labels.unwrap_or(&EMPTY_LABELS)))
            && self.selector.matches(labels)
    }

    /// Whether this term is about `pod`.
    pub fn matches_pod(&self, pod: &Pod, ns_labels: Option<&BTreeMap<String, String>>) -> bool {
        self.matches(
            crate::pod::namespace(pod),
            pod.metadata.labels.as_ref().unwrap_or(&EMPTY_LABELS),
            ns_labels,
        )
    }

    /// Folds the namespaces whose labels match the namespace selector into
    /// `namespaces` and drops the selector (done once per cycle for the pod being
    /// scheduled, so matching no longer needs namespace labels).
    pub fn merge_namespace_selector<'a>(
        &mut self,
        all: impl IntoIterator<Item = (&'a String, &'a BTreeMap<String, String>)>,
    ) {
        if self.namespace_selector.is_nothing() {
            return;
        }
        for (name, labels) in all {
            if self.namespace_selector.matches(labels) {
                self.namespaces.insert(name.clone());
            }
        }
        self.namespace_selector = LabelSelector::nothing();
    }
}

/// Every pod affinity and anti-affinity term of one pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodAffinityTerms {
    /// `podAffinity.requiredDuringSchedulingIgnoredDuringExecution`.
    pub required_affinity: Vec<AffinityTerm>,
    /// `podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution`.
    pub required_anti_affinity: Vec<AffinityTerm>,
    /// `podAffinity.preferredDuringSchedulingIgnoredDuringExecution`.
    pub preferred_affinity: Vec<WeightedAffinityTerm>,
    /// `podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution`.
    pub preferred_anti_affinity: Vec<WeightedAffinityTerm>,
}

fn required(
    terms: Option<&Vec<PodAffinityTerm>>,
    ns: &str,
) -> Result<Vec<AffinityTerm>, AffinityError> {
    terms
        .into_iter()
        .flatten()
        .map(|t| AffinityTerm::new(t, ns))
        .collect()
}

fn preferred(
    terms: Option<&Vec<WeightedPodAffinityTerm>>,
    ns: &str,
) -> Result<Vec<WeightedAffinityTerm>, AffinityError> {
    terms
        .into_iter()
        .flatten()
        .map(|t| {
            Ok(WeightedAffinityTerm {
                term: AffinityTerm::new(&t.pod_affinity_term, ns)?,
                weight: i64::from(t.weight),
            })
        })
        .collect()
}

impl PodAffinityTerms {
    /// The terms of `pod` (all empty when it has no pod affinity).
    pub fn from_pod(pod: &Pod) -> Result<PodAffinityTerms, AffinityError> {
        let ns = crate::pod::namespace(pod);
        let affinity = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
        let aff = affinity.and_then(|a| a.pod_affinity.as_ref());
        let anti = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        Ok(PodAffinityTerms {
            required_affinity: required(
                aff.and_then(|a| {
                    a.required_during_scheduling_ignored_during_execution
                        .as_ref()
                }),
                ns,
            )?,
            required_anti_affinity: required(
                anti.and_then(|a| {
                    a.required_during_scheduling_ignored_during_execution
                        .as_ref()
                }),
                ns,
            )?,
            preferred_affinity: preferred(
                aff.and_then(|a| {
                    a.preferred_during_scheduling_ignored_during_execution
                        .as_ref()
                }),
                ns,
            )?,
            preferred_anti_affinity: preferred(
                anti.and_then(|a| {
                    a.preferred_during_scheduling_ignored_during_execution
                        .as_ref()
                }),
                ns,
            )?,
        })
    }

    /// Whether the pod has no terms at all.
    pub fn is_empty(&self) -> bool {
        self.required_affinity.is_empty()
            && self.required_anti_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty()
    }
}
