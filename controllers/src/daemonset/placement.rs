//! Placing a daemon pod on its node as Kubernetes does: the pod's required node
//! affinity becomes the single term `matchFields: metadata.name In [node]`, so the
//! default scheduler binds it there (and nowhere else), and the pod carries the
//! DaemonSet's default tolerations.
//!
//! ```
//! use k8s_openapi::api::core::v1::PodSpec;
//! use skiff_controllers::daemonset::placement::{pin_to_node, target_node_of_spec};
//! let mut spec = PodSpec::default();
//! pin_to_node(&mut spec, "n1");
//! assert_eq!(target_node_of_spec(&spec).as_deref(), Some("n1"));
//! ```

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec,
    PodTemplateSpec,
};

use super::eligibility::add_default_tolerations;
use crate::pods;
use crate::revisions::HASH_LABEL;

/// Replaces the required node affinity of `spec` with one that names only `node`.
pub fn pin_to_node(spec: &mut PodSpec, node: &str) {
    let term = NodeSelectorTerm {
        match_expressions: None,
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: "In".into(),
            values: Some(vec![node.to_owned()]),
        }]),
    };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![term],
    });
}

/// The node a daemon pod spec is pinned to by `nodeName` or by its affinity term
/// `matchFields: metadata.name In [node]`.
pub fn target_node_of_spec(spec: &PodSpec) -> Option<String> {
    if let Some(n) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(n.to_owned());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    let [term] = terms.as_slice() else {
        return None;
    };
    let field = term
        .match_fields
        .iter()
        .flatten()
        .find(|r| r.key == "metadata.name" && r.operator == "In")?;
    match field.values.as_deref() {
        Some([node]) => Some(node.clone()),
        _ => None,
    }
}

/// The node a daemon pod is on or is meant for.
pub fn target_node(pod: &Pod) -> Option<String> {
    target_node_of_spec(pod.spec.as_ref()?)
}

/// The template's pod spec with the default daemon tolerations: what eligibility is
/// checked against.
pub fn daemon_spec(template: &PodTemplateSpec) -> PodSpec {
    let mut spec = template.spec.clone().unwrap_or_default();
    add_default_tolerations(&mut spec);
    spec
}

/// A new pod of `ds` for `node`, made from the revision with `hash`.
pub fn new_pod(ds: &DaemonSet, hash: &str, node: &str) -> Pod {
    let template = ds.spec.clone().unwrap_or_default().template;
    let ns = ds.metadata.namespace.clone().unwrap_or_default();
    let name = ds.metadata.name.clone().unwrap_or_default();
    let labels: BTreeMap<String, String> = [(HASH_LABEL.to_owned(), hash.to_owned())].into();
    let mut pod = pods::from_template(&template, &ns, &name, pods::controller_ref(ds), &labels);
    let mut spec = daemon_spec(&template);
    pin_to_node(&mut spec, node);
    pod.spec = Some(spec);
    pod
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn new_pods_are_pinned_and_tolerant() {
        let ds: DaemonSet = serde_json::from_value(json!({
            "metadata": {"name": "agent", "namespace": "kube-system", "uid": "u"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "c", "image": "i"}], "affinity": {"nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "a", "operator": "Exists"}]}]}}}}}}
        }))
        .unwrap();
        let pod = new_pod(&ds, "h1", "n7");
        assert_eq!(target_node(&pod).as_deref(), Some("n7"));
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("agent-"));
        let labels = pod.metadata.labels.clone().unwrap();
        assert_eq!(labels[HASH_LABEL], "h1");
        assert_eq!(labels["app"], "agent");
        let spec = pod.spec.unwrap();
        assert_eq!(spec.tolerations.unwrap().len(), 6);
        let terms = spec
            .affinity
            .unwrap()
            .node_affinity
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .unwrap()
            .node_selector_terms;
        assert_eq!(terms.len(), 1);
        assert!(terms[0].match_expressions.is_none());
    }

    #[test]
    fn target_node_prefers_node_name_and_needs_one_value() {
        let mut spec = PodSpec::default();
        assert_eq!(target_node_of_spec(&spec), None);
        pin_to_node(&mut spec, "a");
        spec.node_name = Some("b".into());
        assert_eq!(target_node_of_spec(&spec).as_deref(), Some("b"));
        let spec: PodSpec = serde_json::from_value(json!({"containers": [], "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a", "b"]}]}]}}}}))
        .unwrap();
        assert_eq!(target_node_of_spec(&spec), None);
    }
}
