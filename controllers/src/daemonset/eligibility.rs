//! Which nodes a DaemonSet's pod belongs on (Kubernetes' `NodeShouldRunDaemonPod`):
//! the pod's `nodeSelector` and required node affinity must match the node, and its
//! tolerations (with the defaults a DaemonSet adds) must tolerate the node's
//! `NoSchedule` and `NoExecute` taints to start there, its `NoExecute` taints to keep
//! running there.
//!
//! ```
//! use k8s_openapi::api::core::v1::{Node, PodSpec};
//! use skiff_controllers::daemonset::eligibility::{add_default_tolerations, check};
//! let node: Node = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "n1"},
//!     "spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]}
//! })).unwrap();
//! let mut spec = PodSpec::default();
//! assert!(!check(&node, &spec).should_run);
//! add_default_tolerations(&mut spec);
//! assert!(check(&node, &spec).should_run);
//! ```

use k8s_openapi::api::core::v1::{Node, PodSpec, Toleration};
use skiff_core::selector::node::{find_untolerated, required_matches};

/// The tolerations Kubernetes' DaemonSet controller gives every daemon pod:
/// `(key, effect)`, operator `Exists`.
pub const DEFAULT_TOLERATIONS: [(&str, &str); 6] = [
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
];

/// The one more toleration a `hostNetwork` daemon pod gets.
pub const HOST_NETWORK_TOLERATION: (&str, &str) =
    ("node.kubernetes.io/network-unavailable", "NoSchedule");

/// Adds the default daemon tolerations `spec` lacks.
pub fn add_default_tolerations(spec: &mut PodSpec) {
    let host_network = spec.host_network == Some(true);
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    let wanted = DEFAULT_TOLERATIONS
        .iter()
        .chain(host_network.then_some(&HOST_NETWORK_TOLERATION));
    for (key, effect) in wanted {
        let present = tolerations.iter().any(|t| {
            t.key.as_deref() == Some(key)
                && t.effect.as_deref() == Some(effect)
                && t.operator.as_deref() == Some("Exists")
        });
        if !present {
            tolerations.push(Toleration {
                key: Some((*key).to_owned()),
                operator: Some("Exists".into()),
                effect: Some((*effect).to_owned()),
                ..Toleration::default()
            });
        }
    }
}

/// Whether a daemon pod belongs on a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Eligibility {
    /// A pod should be created there.
    pub should_run: bool,
    /// A pod already there may stay.
    pub should_continue_running: bool,
}

/// Whether a pod with `spec` (the DaemonSet's template with the default tolerations)
/// belongs on `node`.
pub fn check(node: &Node, spec: &PodSpec) -> Eligibility {
    let name = node.metadata.name.as_deref().unwrap_or_default();
    let name_fits = spec
        .node_name
        .as_deref()
        .is_none_or(|n| n.is_empty() || n == name);
    if !name_fits || !required_matches(spec, node) {
        return Eligibility::default();
    }
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or(&[]);
    let tolerations = spec.tolerations.as_deref().unwrap_or(&[]);
    let hard = find_untolerated(taints, tolerations, |t| {
        t.effect == "NoSchedule" || t.effect == "NoExecute"
    });
    let evicting = find_untolerated(taints, tolerations, |t| t.effect == "NoExecute");
    Eligibility {
        should_run: hard.is_none(),
        should_continue_running: evicting.is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(v: serde_json::Value) -> Node {
        serde_json::from_value(v).unwrap()
    }

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn selector_and_affinity_decide() {
        let n = node(json!({"metadata": {"name": "n1", "labels": {"disk": "ssd"}}}));
        assert!(
            check(
                &n,
                &spec(json!({"containers": [], "nodeSelector": {"disk": "ssd"}}))
            )
            .should_run
        );
        let e = check(
            &n,
            &spec(json!({"containers": [], "nodeSelector": {"disk": "hdd"}})),
        );
        assert_eq!(e, Eligibility::default());
        let affinity = json!({"containers": [], "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["nvme"]}]}]}}}});
        assert!(!check(&n, &spec(affinity)).should_run);
        assert!(!check(&n, &spec(json!({"containers": [], "nodeName": "n2"}))).should_run);
    }

    #[test]
    fn taints_stop_new_pods_and_no_execute_evicts() {
        let n = node(json!({"metadata": {"name": "n1"}, "spec": {"taints": [
            {"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}}));
        let e = check(&n, &spec(json!({"containers": []})));
        assert_eq!(
            e,
            Eligibility {
                should_run: false,
                should_continue_running: true
            }
        );
        let tolerating = spec(json!({"containers": [], "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]}));
        assert!(check(&n, &tolerating).should_run);
        let n = node(json!({"metadata": {"name": "n1"}, "spec": {"taints": [
            {"key": "dedicated", "effect": "NoExecute"}]}}));
        assert_eq!(
            check(&n, &spec(json!({"containers": []}))),
            Eligibility::default()
        );
    }

    #[test]
    fn default_tolerations_are_added_once() {
        let mut s = spec(json!({"containers": [], "hostNetwork": true}));
        add_default_tolerations(&mut s);
        add_default_tolerations(&mut s);
        assert_eq!(s.tolerations.as_ref().unwrap().len(), 7);
        let n = node(
            json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": true, "taints": [
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]}}),
        );
        assert!(check(&n, &s).should_run);
    }
}
