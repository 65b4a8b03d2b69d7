//! Small readers of k8s-openapi `Pod` fields every part of the scheduler needs, with
//! the defaults Kubernetes applies when a field is unset.
//!
//! ```
//! use k8s_openapi::api::core::v1::{Pod, PodSpec};
//! use skiff_sched::pod;
//! let mut p = Pod::default();
//! p.metadata.namespace = Some("default".into());
//! p.metadata.name = Some("web".into());
//! assert_eq!(pod::pod_key(&p), "default/web");
//! assert_eq!(pod::scheduler_name(&p), "default-scheduler");
//! assert_eq!(pod::priority(&p), 0);
//! assert!(pod::node_name(&p).is_none());
//! ```

use k8s_openapi::api::core::v1::Pod;

use crate::framework::DEFAULT_SCHEDULER_NAME;

/// The pod's identity in the queue and cache: its UID, or `namespace/name` when it has
/// none (objects built in tests).
pub fn pod_key(pod: &Pod) -> String {
    match pod.metadata.uid.as_deref() {
        Some(uid) if !uid.is_empty() => uid.to_owned(),
        _ => namespaced_name(pod),
    }
}

/// `namespace/name`.
pub fn namespaced_name(pod: &Pod) -> String {
    format!("{}/{}", namespace(pod), name(pod))
}

/// The namespace (`default` when unset).
pub fn namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

/// The name (empty when unset).
pub fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or("")
}

/// `spec.schedulerName`, defaulted.
pub fn scheduler_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.scheduler_name.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_SCHEDULER_NAME)
}

/// `spec.priority` (0 when unset).
pub fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// `spec.nodeName`, when set and non-empty.
pub fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// Whether the pod finished (`Succeeded` or `Failed`): it no longer holds resources.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded") | Some("Failed")
    )
}

/// Whether the pod is being deleted.
pub fn is_deleting(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}
