//! Small constructors for doc examples and users' tests: pods and nodes from JSON
//! without unwrapping in the caller.
//!
//! ```
//! use skiff_sched::plugins::fixtures::node_with_labels;
//! let n = node_with_labels("n1", &[("zone", "a")]);
//! assert_eq!(n.metadata.name.as_deref(), Some("n1"));
//! ```

use k8s_openapi::api::core::v1::{Node, Pod, PodSpec};

/// A node named `name` with `labels`.
pub fn node_with_labels(name: &str, labels: &[(&str, &str)]) -> Node {
    let mut n = Node::default();
    n.metadata.name = Some(name.to_owned());
    n.metadata.labels = Some(
        labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    n
}

/// A pod named `p` in `default` from a `spec` in JSON; a spec that does not decode
/// gives an empty spec.
pub fn pod_from_spec(spec: serde_json::Value) -> Pod {
    let mut p = Pod::default();
    p.metadata.name = Some("p".to_owned());
    p.metadata.namespace = Some("default".to_owned());
    p.spec = Some(serde_json::from_value::<PodSpec>(spec).unwrap_or_default());
    p
}
