//! [`Workloads`]: the Services, ReplicationControllers, ReplicaSets and StatefulSets
//! the scheduler knows, reduced to their pod selectors, and
//! [`Workloads::default_selector`], the selector PodTopologySpread's system default
//! constraints count pods with (kube-scheduler's `helper.DefaultSelector`): the union
//! of the selectors of the Services matching the pod, plus the selector of the
//! pod's controlling ReplicationController, ReplicaSet or StatefulSet.
//!
//! ```
//! use skiff_sched::cache::Workloads;
//! use k8s_openapi::api::apps::v1::ReplicaSet;
//! use k8s_openapi::api::core::v1::Pod;
//! let mut w = Workloads::default();
//! let rs: ReplicaSet = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "web-1", "namespace": "default"},
//!     "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {}}})).unwrap();
//! w.set_replica_set(&rs);
//! let pod: Pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "web-1-x", "namespace": "default", "labels": {"app": "web"},
//!         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
//!             "name": "web-1", "uid": "u", "controller": true}]}})).unwrap();
//! assert_eq!(w.default_selector(&pod).to_string(), "app=web");
//! ```

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as MetaSelector;
use skiff_core::selector::{LabelSelector, Operator, Requirement};

/// The controller kinds whose selectors feed the default selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControllerKind {
    /// v1 ReplicationController (a map selector).
    ReplicationController,
    /// apps/v1 ReplicaSet.
    ReplicaSet,
    /// apps/v1 StatefulSet.
    StatefulSet,
}

impl ControllerKind {
    fn of(api_version: &str, kind: &str) -> Option<ControllerKind> {
        match (api_version, kind) {
            ("v1", "ReplicationController") => Some(ControllerKind::ReplicationController),
            ("apps/v1", "ReplicaSet") => Some(ControllerKind::ReplicaSet),
            ("apps/v1", "StatefulSet") => Some(ControllerKind::StatefulSet),
            _ => None,
        }
    }
}

/// A controller's selector as kube-scheduler merges it.
#[derive(Clone, Debug, PartialEq)]
enum ControllerSelector {
    /// A ReplicationController's `spec.selector` (merged into the label set).
    Set(BTreeMap<String, String>),
    /// A ReplicaSet's or StatefulSet's requirements (added to the selector); `None`
    /// for a selector that is missing or invalid (adds nothing).
    Requirements(Option<Vec<Requirement>>),
}

/// Workload selectors by namespace and name.
#[derive(Clone, Debug, Default)]
pub struct Workloads {
    /// Namespace → Service name → `spec.selector` (Services without one are left
    /// out: they match no pod).
    services: HashMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    /// (kind, namespace, name) → selector.
    controllers: HashMap<(ControllerKind, String, String), ControllerSelector>,
}

fn ns_name(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

fn requirements(selector: Option<&MetaSelector>) -> Option<Vec<Requirement>> {
    let s = LabelSelector::from_label_selector(selector?).ok()?;
    Some(s.requirements().to_vec())
}

impl Workloads {
    /// Whether no workload is known.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.controllers.is_empty()
    }

    /// Records (or replaces) a Service.
    pub fn set_service(&mut self, svc: &Service) {
        let (ns, name) = ns_name(&svc.metadata);
        match svc.spec.as_ref().and_then(|s| s.selector.clone()) {
            Some(sel) => {
                self.services.entry(ns).or_default().insert(name, sel);
            }
            None => self.remove_service(&ns, &name),
        }
    }

    /// Forgets a Service.
    pub fn remove_service(&mut self, namespace: &str, name: &str) {
        if let Some(m) = self.services.get_mut(namespace) {
            m.remove(name);
            if m.is_empty() {
                self.services.remove(namespace);
            }
        }
    }

    /// Records (or replaces) a ReplicationController.
    pub fn set_replication_controller(&mut self, rc: &ReplicationController) {
        let (ns, name) = ns_name(&rc.metadata);
        let sel = rc
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default();
        self.controllers.insert(
            (ControllerKind::ReplicationController, ns, name),
            ControllerSelector::Set(sel),
        );
    }

    /// Records (or replaces) a ReplicaSet.
    pub fn set_replica_set(&mut self, rs: &ReplicaSet) {
        let (ns, name) = ns_name(&rs.metadata);
        let reqs = requirements(rs.spec.as_ref().map(|s| &s.selector));
        self.controllers.insert(
            (ControllerKind::ReplicaSet, ns, name),
            ControllerSelector::Requirements(reqs),
        );
    }

    /// Records (or replaces) a StatefulSet.
    pub fn set_stateful_set(&mut self, ss: &StatefulSet) {
        let (ns, name) = ns_name(&ss.metadata);
        let reqs = requirements(ss.spec.as_ref().map(|s| &s.selector));
        self.controllers.insert(
            (ControllerKind::StatefulSet, ns, name),
            ControllerSelector::Requirements(reqs),
        );
    }

    /// Forgets a controller.
    pub fn remove_controller(&mut self, kind: ControllerKind, namespace: &str, name: &str) {
        self.controllers
            .remove(&(kind, namespace.to_owned(), name.to_owned()));
    }

    /// The controllers of `kind` known in `namespace` (for relists).
    pub fn controller_names(&self, kind: ControllerKind) -> Vec<(String, String)> {
        self.controllers
            .keys()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, ns, n)| (ns.clone(), n.clone()))
            .collect()
    }

    /// The Services known, as (namespace, name) (for relists).
    pub fn service_names(&self) -> Vec<(String, String)> {
        self.services
            .iter()
            .flat_map(|(ns, m)| m.keys().map(move |n| (ns.clone(), n.clone())))
            .collect()
    }

    /// The selector of the pods of `pod`'s workloads (kube-scheduler's
    /// `DefaultSelector`): the Services in its namespace whose selector matches its
    /// labels, merged, then its controller's selector (a ReplicationController's
    /// merged into the set, a ReplicaSet's or StatefulSet's requirements added).
    /// Empty (matching everything) when the pod belongs to none: callers take that
    /// as "no default constraints".
    pub fn default_selector(&self, pod: &Pod) -> LabelSelector {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let empty = BTreeMap::new();
        let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
        let mut set: BTreeMap<String, String> = BTreeMap::new();
        for selector in self.services.get(ns).into_iter().flat_map(|m| m.values()) {
            let matches = selector.iter().all(|(k, v)| labels.get(k) == Some(v));
            if matches {
                set.extend(selector.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        let controller = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .and_then(|o| {
                let kind = ControllerKind::of(&o.api_version, &o.kind)?;
                self.controllers.get(&(kind, ns.to_owned(), o.name.clone()))
            });
        let mut extra = Vec::new();
        match controller {
            Some(ControllerSelector::Set(sel)) => {
                set.extend(sel.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            Some(ControllerSelector::Requirements(Some(reqs))) => {
                extra.extend(reqs.iter().cloned())
            }
            Some(ControllerSelector::Requirements(None)) | None => {}
        }
        let mut reqs: Vec<Requirement> = set
            .into_iter()
            .filter_map(|(k, v)| Requirement::new(&k, Operator::Equals, vec![v]).ok())
            .collect();
        reqs.extend(extra);
        LabelSelector::from_requirements(reqs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(labels: serde_json::Value, owner: Option<(&str, &str, &str)>) -> Pod {
        let owners = owner.map(|(v, k, n)| {
            json!([{"apiVersion": v, "kind": k, "name": n, "uid": "u", "controller": true}])
        });
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "ns",
            "labels": labels, "ownerReferences": owners}}))
        .unwrap()
    }

    fn svc(ns: &str, name: &str, selector: serde_json::Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns},
            "spec": {"selector": selector}}))
        .unwrap()
    }

    /// Cases after kube-scheduler's `TestDefaultSelector` / `buildDefaultConstraints`.
    #[test]
    fn default_selector_merges_services_and_the_controller() {
        let mut w = Workloads::default();
        w.set_service(&svc("ns", "web", json!({"app": "web"})));
        w.set_service(&svc("ns", "all-web", json!({"tier": "front"})));
        w.set_service(&svc("ns", "other", json!({"app": "db"})));
        w.set_service(&svc("elsewhere", "web", json!({"app": "web", "x": "y"})));
        w.set_service(&svc("ns", "headless", serde_json::Value::Null));
        let rc: ReplicationController = serde_json::from_value(json!({
            "metadata": {"name": "rc", "namespace": "ns"}, "spec": {"selector": {"rc": "1"}}}))
        .unwrap();
        w.set_replication_controller(&rc);
        let ss: StatefulSet = serde_json::from_value(json!({
            "metadata": {"name": "ss", "namespace": "ns"},
            "spec": {"serviceName": "s", "template": {},
                "selector": {"matchExpressions": [{"key": "ord", "operator": "Exists"}]}}}))
        .unwrap();
        w.set_stateful_set(&ss);
        let cases = [
            (json!({"app": "web"}), None, "app=web"),
            (
                json!({"app": "web", "tier": "front"}),
                None,
                "app=web,tier=front",
            ),
            (json!({"app": "cache"}), None, ""),
            (
                json!({"app": "web"}),
                Some(("v1", "ReplicationController", "rc")),
                "app=web,rc=1",
            ),
            (
                json!({"ord": "0"}),
                Some(("apps/v1", "StatefulSet", "ss")),
                "ord",
            ),
            // An unknown controller, or one of another kind, adds nothing.
            (json!({}), Some(("apps/v1", "ReplicaSet", "missing")), ""),
            (json!({}), Some(("batch/v1", "Job", "rc")), ""),
        ];
        for (labels, owner, want) in cases {
            let got = w.default_selector(&pod(labels.clone(), owner)).to_string();
            assert_eq!(got, want, "{labels} {owner:?}");
        }
        w.remove_service("ns", "web");
        w.remove_controller(ControllerKind::ReplicationController, "ns", "rc");
        let p = pod(
            json!({"app": "web"}),
            Some(("v1", "ReplicationController", "rc")),
        );
        assert!(w.default_selector(&p).is_everything());
    }
}
