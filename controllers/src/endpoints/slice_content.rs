//! What a Service's EndpointSlices should hold, computed from its pods: endpoints
//! grouped by address family and resolved ports, sorted by address, at most
//! [`MAX_ENDPOINTS_PER_SLICE`] per slice.
//!
//! ```
//! use k8s_openapi::api::core::v1::{Pod, Service};
//! use skiff_controllers::endpoints::slice_content;
//! let svc: Service = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "web", "namespace": "default"},
//!     "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})).unwrap();
//! let pod: Pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"}},
//!     "status": {"podIP": "10.0.0.5", "conditions": [{"type": "Ready", "status": "True"}]}})).unwrap();
//! let slices = slice_content::build(&svc, &[pod]);
//! assert_eq!(slices.len(), 1);
//! assert_eq!(slices[0].address_type, "IPv4");
//! let conditions = slices[0].endpoints[0].conditions.clone().unwrap();
//! assert_eq!((conditions.ready, conditions.serving, conditions.terminating), (Some(true), Some(true), Some(false)));
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};

use super::{members, subsets};

/// Kubernetes' default `--max-endpoints-per-slice`.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// The content of one slice: what the controller compares and writes.
#[derive(Clone, Debug, PartialEq)]
pub struct SliceContent {
    /// `IPv4` or `IPv6`.
    pub address_type: String,
    /// The ports, sorted.
    pub ports: Vec<EndpointPort>,
    /// The endpoints, sorted by address.
    pub endpoints: Vec<Endpoint>,
}

/// The address type (`IPv4`/`IPv6`) of an IP, `None` when it is not an IP.
pub fn address_type(ip: &str) -> Option<&'static str> {
    match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(_) => Some("IPv4"),
        IpAddr::V6(_) => Some("IPv6"),
    }
}

/// The address families the service serves (`spec.ipFamilies`; IPv4 when unset).
fn families(service: &Service) -> Vec<String> {
    let listed: Vec<String> = service
        .spec
        .as_ref()
        .and_then(|s| s.ip_families.clone())
        .unwrap_or_default();
    if listed.is_empty() {
        vec!["IPv4".to_owned()]
    } else {
        listed
    }
}

/// Whether the pod belongs in the service's slices: an IP and not finished
/// (terminating pods stay, marked `terminating`).
pub fn included(pod: &Pod) -> bool {
    members::pod_ip(pod).is_some() && !members::is_terminal(pod)
}

fn endpoint(service: &Service, pod: &Pod, ip: String) -> Endpoint {
    let serving = members::is_serving(pod);
    let terminating = members::is_terminating(pod);
    // "ready" is never true for a terminating pod unless not-ready addresses are
    // published (Kubernetes' compatibility rule).
    let ready = members::publish_not_ready(service) || (serving && !terminating);
    Endpoint {
        addresses: vec![ip],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hostname: members::hostname(service, pod),
        node_name: members::node_name(pod),
        target_ref: Some(members::target_ref(pod)),
        ..Endpoint::default()
    }
}

/// The slices `service` should have over `pods` (those its selector matches count);
/// empty when no pod qualifies (the controller then keeps one placeholder slice).
pub fn build(service: &Service, pods: &[impl std::borrow::Borrow<Pod>]) -> Vec<SliceContent> {
    type Key = (String, Vec<(String, i32, String, String)>);
    let mut groups: BTreeMap<Key, Vec<Endpoint>> = BTreeMap::new();
    let families = families(service);
    for pod in pods.iter().map(std::borrow::Borrow::borrow) {
        if !members::selects(service, pod) || !included(pod) {
            continue;
        }
        let mut ports = subsets::resolved_ports(service, pod);
        ports.sort();
        for ip in members::pod_ips(pod) {
            let Some(family) = address_type(&ip) else {
                continue;
            };
            if !families.iter().any(|f| f == family) {
                continue;
            }
            groups
                .entry((family.to_owned(), ports.clone()))
                .or_default()
                .push(endpoint(service, pod, ip));
        }
    }
    let mut slices = Vec::new();
    for ((family, ports), mut endpoints) in groups {
        endpoints.sort_by(|a, b| a.addresses.cmp(&b.addresses));
        let ports: Vec<EndpointPort> = ports
            .into_iter()
            .map(|(name, port, protocol, app)| EndpointPort {
                name: Some(name),
                port: Some(port),
                protocol: Some(protocol),
                app_protocol: Some(app).filter(|a| !a.is_empty()),
            })
            .collect();
        for chunk in endpoints.chunks(MAX_ENDPOINTS_PER_SLICE) {
            slices.push(SliceContent {
                address_type: family.clone(),
                ports: ports.clone(),
                endpoints: chunk.to_vec(),
            });
        }
    }
    slices
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc() -> Service {
        serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "ns"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}}))
        .unwrap()
    }

    fn pod(i: usize, ready: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": format!("p{i}"), "namespace": "ns", "labels": {"app": "web"}},
            "status": {"podIP": format!("10.0.{}.{}", i / 250, i % 250 + 1),
                "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}}))
        .unwrap()
    }

    #[test]
    fn at_most_a_hundred_endpoints_per_slice() {
        let pods: Vec<Pod> = (0..250).map(|i| pod(i, true)).collect();
        let slices = build(&svc(), &pods);
        let sizes: Vec<usize> = slices.iter().map(|s| s.endpoints.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        assert!(slices.iter().all(|s| s.ports[0].port == Some(8080)));
    }

    #[test]
    fn conditions_follow_readiness_and_termination() {
        let mut terminating = pod(1, true);
        terminating.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(skiff_core::runtime::now()),
        );
        let slices = build(&svc(), &[terminating, pod(2, false)]);
        let c: Vec<_> = slices[0]
            .endpoints
            .iter()
            .map(|e| {
                let c = e.conditions.clone().unwrap();
                (c.ready.unwrap(), c.serving.unwrap(), c.terminating.unwrap())
            })
            .collect();
        assert_eq!(c, [(false, true, true), (false, false, false)]);
    }

    #[test]
    fn pods_without_an_ip_are_skipped() {
        let mut p = pod(1, true);
        p.status.as_mut().unwrap().pod_ip = None;
        assert!(build(&svc(), &[p]).is_empty());
    }
}
