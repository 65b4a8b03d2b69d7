//! [`ExistingTerms`]: the pod (anti-)affinity terms of the pods already on the
//! snapshot's nodes, grouped by identical term and counted per topology domain, so
//! InterPodAffinity checks each distinct term once instead of every pod.
//!
//! A term counts once per pod declaring it, in the domain (the node's value of the
//! term's `topologyKey`) of the pod's node; nodes without the key add nothing. The
//! index follows the snapshot: pods added to or removed from its nodes update it.
//!
//! ```
//! use skiff_sched::cache::{NodeInfo, Snapshot, TermKind};
//! let node = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "n1", "labels": {"zone": "z1"}}})).unwrap();
//! let pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "p", "namespace": "default", "uid": "p"},
//!     "spec": {"containers": [], "affinity": {"podAntiAffinity": {
//!         "requiredDuringSchedulingIgnoredDuringExecution": [{
//!             "labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone"}]}}}})).unwrap();
//! let mut info = NodeInfo::new(node);
//! info.add_pod(std::sync::Arc::new(pod));
//! let snapshot = Snapshot::from_nodes([info]);
//! let terms: Vec<_> = snapshot.existing_affinity_terms().of_kind(TermKind::RequiredAntiAffinity).collect();
//! assert_eq!(terms.len(), 1);
//! assert_eq!(terms[0].domains.get("z1"), Some(&1));
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use super::topology_counts::{bump, DomainCounts};
use super::{AffinityTerm, NodeInfo, PodInfo};

/// Which list of a pod's affinity a term comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TermKind {
    /// `podAffinity.requiredDuringSchedulingIgnoredDuringExecution`.
    RequiredAffinity,
    /// `podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution`.
    RequiredAntiAffinity,
    /// `podAffinity.preferredDuringSchedulingIgnoredDuringExecution`.
    PreferredAffinity,
    /// `podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution`.
    PreferredAntiAffinity,
}

const KINDS: usize = 4;

impl TermKind {
    fn slot(self) -> usize {
        match self {
            TermKind::RequiredAffinity => 0,
            TermKind::RequiredAntiAffinity => 1,
            TermKind::PreferredAffinity => 2,
            TermKind::PreferredAntiAffinity => 3,
        }
    }
}

/// One distinct term of existing pods and where those pods run.
#[derive(Clone, Debug)]
pub struct ExistingTerm {
    /// The term (as the existing pods declare it: namespace selectors unresolved).
    pub term: AffinityTerm,
    /// Its weight (preferred terms; 1 for required ones).
    pub weight: i64,
    /// Declaring pods per value of `term.topology_key` (only domains with some;
    /// shared, copied on write while a cycle's state still reads it).
    pub domains: Arc<DomainCounts>,
    /// Declaring pods on the snapshot's nodes, with or without the key.
    pods: i64,
}

/// The distinct terms of the snapshot's pods, per [`TermKind`].
#[derive(Clone, Debug, Default)]
pub struct ExistingTerms {
    by_kind: [HashMap<String, ExistingTerm>; KINDS],
}

/// The identity of a term: equal terms of different pods share one entry.
pub(super) fn term_key(term: &AffinityTerm, weight: i64) -> String {
    let mut namespaces: Vec<&str> = term.namespaces.iter().map(String::as_str).collect();
    namespaces.sort_unstable();
    let mut key = format!("{weight}\u{1e}");
    for ns in namespaces {
        key.push_str(ns);
        key.push('\u{1f}');
    }
    for s in [&term.namespace_selector, &term.selector] {
        // `nothing` and `everything` both print empty: mark the first.
        let _ = write!(key, "\u{1e}{}{s}", if s.is_nothing() { "!" } else { "" });
    }
    key.push('\u{1e}');
    key.push_str(&term.topology_key);
    key
}

impl ExistingTerms {
    /// The distinct terms of one kind.
    pub fn of_kind(&self, kind: TermKind) -> impl Iterator<Item = &ExistingTerm> {
        self.by_kind[kind.slot()].values()
    }

    /// Whether no pod has terms of `kind`.
    pub fn has_kind(&self, kind: TermKind) -> bool {
        !self.by_kind[kind.slot()].is_empty()
    }

    fn update_term(
        &mut self,
        kind: TermKind,
        term: &AffinityTerm,
        weight: i64,
        node: &NodeInfo,
        by: i64,
    ) {
        let map = &mut self.by_kind[kind.slot()];
        let key = term_key(term, weight);
        let entry = map.entry(key.clone()).or_insert_with(|| ExistingTerm {
            term: term.clone(),
            weight,
            domains: Arc::default(),
            pods: 0,
        });
        entry.pods += by;
        if let Some(v) = node.labels().and_then(|l| l.get(&term.topology_key)) {
            bump(
                Arc::make_mut(&mut entry.domains),
                v.as_str(),
                || v.clone(),
                by,
            );
        }
        if entry.pods <= 0 {
            map.remove(&key);
        }
    }

    /// Counts (`by` = 1) or uncounts (-1) the terms of `pod` on `node`.
    pub fn update(&mut self, node: &NodeInfo, pod: &PodInfo, by: i64) {
        let Some(terms) = &pod.affinity else {
            return;
        };
        for t in &terms.required_affinity {
            self.update_term(TermKind::RequiredAffinity, t, 1, node, by);
        }
        for t in &terms.required_anti_affinity {
            self.update_term(TermKind::RequiredAntiAffinity, t, 1, node, by);
        }
        for t in &terms.preferred_affinity {
            self.update_term(TermKind::PreferredAffinity, &t.term, t.weight, node, by);
        }
        for t in &terms.preferred_anti_affinity {
            self.update_term(TermKind::PreferredAntiAffinity, &t.term, t.weight, node, by);
        }
    }
}
