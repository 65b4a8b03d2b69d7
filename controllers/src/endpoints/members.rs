//! Which pods back a Service: the pods of its namespace its selector matches that have
//! an IP and have not finished, with their readiness (shared by the Endpoints and the
//! EndpointSlice controllers).
//!
//! ```
//! use k8s_openapi::api::core::v1::{Pod, Service};
//! use skiff_controllers::endpoints::members;
//! let svc: Service = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "web", "namespace": "default"},
//!     "spec": {"selector": {"app": "web"}}})).unwrap();
//! let pod: Pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"}},
//!     "status": {"podIP": "10.0.0.5"}})).unwrap();
//! assert!(members::selects(&svc, &pod));
//! assert_eq!(members::pod_ip(&pod), Some("10.0.0.5"));
//! assert!(!members::is_serving(&pod));
//! ```

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service};

/// A Service's selector, when it has a non-empty one (the controllers leave services
/// without one alone: their endpoints are the user's).
pub fn selector(service: &Service) -> Option<&BTreeMap<String, String>> {
    service
        .spec
        .as_ref()?
        .selector
        .as_ref()
        .filter(|s| !s.is_empty())
}

/// Whether `service` selects `pod`: same namespace, and every selector label set.
pub fn selects(service: &Service, pod: &Pod) -> bool {
    let Some(sel) = selector(service) else {
        return false;
    };
    if service.metadata.namespace != pod.metadata.namespace {
        return false;
    }
    let labels = pod.metadata.labels.as_ref();
    sel.iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// The pod's primary IP, if it has one.
pub fn pod_ip(pod: &Pod) -> Option<&str> {
    pod.status
        .as_ref()?
        .pod_ip
        .as_deref()
        .filter(|ip| !ip.is_empty())
}

/// Every IP of the pod (`status.podIPs`, or `status.podIP`).
pub fn pod_ips(pod: &Pod) -> Vec<String> {
    let status = pod.status.as_ref();
    let listed: Vec<String> = status
        .and_then(|s| s.pod_ips.as_ref())
        .into_iter()
        .flatten()
        .map(|p| p.ip.clone())
        .filter(|ip| !ip.is_empty())
        .collect();
    if listed.is_empty() {
        pod_ip(pod).map(str::to_owned).into_iter().collect()
    } else {
        listed
    }
}

/// Whether the pod has finished (phase `Succeeded` or `Failed`).
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// Whether the pod is being deleted.
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Whether the pod's `Ready` condition is true.
pub fn is_serving(pod: &Pod) -> bool {
    crate::pods::is_ready(pod)
}

/// Whether `service` wants not-ready pods published as ready.
pub fn publish_not_ready(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false)
}

/// Whether the service is headless (`clusterIP: None`).
pub fn is_headless(service: &Service) -> bool {
    service.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// The pod's hostname in the service's DNS records: `spec.hostname` when the pod's
/// `spec.subdomain` is the service's name.
pub fn hostname(service: &Service, pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let host = spec.hostname.as_deref().filter(|h| !h.is_empty())?;
    (spec.subdomain.as_deref() == service.metadata.name.as_deref()).then(|| host.to_owned())
}

/// The reference to the pod an address carries.
pub fn target_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..ObjectReference::default()
    }
}

/// The pod's node.
pub fn node_name(pod: &Pod) -> Option<String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty())
}
