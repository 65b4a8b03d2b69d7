//! Index functions for [`super::Writer::with_index`]: by namespace, by owner uid, by
//! label, by a pod's node.
//!
//! ```
//! use k8s_openapi::api::core::v1::Pod;
//! use skiff_core::runtime::reflector::index;
//! let mut pod = Pod::default();
//! pod.metadata.labels = Some([("app".to_owned(), "web".to_owned())].into());
//! assert_eq!(index::labels(&pod), vec!["app=web".to_owned()]);
//! ```

use k8s_openapi::api::core::v1::Pod;

use crate::runtime::object::{DynamicObject, Object};

/// The index name [`namespace`] is registered under by convention.
pub const NAMESPACE: &str = "namespace";
/// The index name of [`owner_uid`].
pub const OWNER: &str = "owner";
/// The index name of [`labels`].
pub const LABEL: &str = "label";
/// The index name of [`pod_node_name`] / [`node_name`].
pub const NODE: &str = "node";

/// The object's namespace (none for cluster-scoped objects).
pub fn namespace<K: Object>(obj: &K) -> Vec<String> {
    obj.meta()
        .namespace
        .iter()
        .filter(|n| !n.is_empty())
        .cloned()
        .collect()
}

/// The uid of every owner in `ownerReferences`.
pub fn owner_uid<K: Object>(obj: &K) -> Vec<String> {
    obj.meta()
        .owner_references
        .iter()
        .flatten()
        .map(|r| r.uid.clone())
        .collect()
}

/// `key=value` for every label.
pub fn labels<K: Object>(obj: &K) -> Vec<String> {
    obj.meta()
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

/// A pod's `spec.nodeName`.
pub fn pod_node_name(pod: &Pod) -> Vec<String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty())
        .into_iter()
        .collect()
}

/// `spec.nodeName` of any object that has one.
pub fn node_name(obj: &DynamicObject) -> Vec<String> {
    obj.data
        .get("spec")
        .and_then(|s| s.get("nodeName"))
        .and_then(|n| n.as_str())
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .into_iter()
        .collect()
}
