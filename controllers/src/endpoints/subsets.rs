//! The subsets of a Service's core/v1 Endpoints, computed from its pods: one subset per
//! distinct set of resolved ports, ready pods in `addresses`, the others in
//! `notReadyAddresses` (all in `addresses` with `publishNotReadyAddresses`).
//!
//! ```
//! use k8s_openapi::api::core::v1::{Pod, Service};
//! use skiff_controllers::endpoints::subsets;
//! let svc: Service = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "web", "namespace": "default"},
//!     "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}})).unwrap();
//! let pod: Pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"}},
//!     "status": {"podIP": "10.0.0.5", "conditions": [{"type": "Ready", "status": "True"}]}})).unwrap();
//! let s = subsets::build(&svc, &[pod]);
//! assert_eq!(s.len(), 1);
//! assert_eq!(s[0].addresses.as_ref().unwrap()[0].ip, "10.0.0.5");
//! assert_eq!(s[0].ports.as_ref().unwrap()[0].port, 8080);
//! ```

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset, Pod, Service};

use super::{members, ports};

/// A port as subsets are grouped by: (name, port, protocol, appProtocol).
type PortKey = (String, i32, String, String);

#[derive(Default)]
struct Group {
    ready: Vec<EndpointAddress>,
    not_ready: Vec<EndpointAddress>,
}

/// Whether the pod belongs in the Endpoints of `service` at all: an IP, not
/// finished, not terminating (unless not-ready addresses are published).
pub fn included(service: &Service, pod: &Pod) -> bool {
    members::pod_ip(pod).is_some()
        && !members::is_terminal(pod)
        && (!members::is_terminating(pod) || members::publish_not_ready(service))
}

/// The service's ports resolved on `pod` (ports whose named target the pod lacks are
/// left out).
pub fn resolved_ports(service: &Service, pod: &Pod) -> Vec<PortKey> {
    service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|sp| {
            let port = ports::target_port(pod, sp)?;
            Some((
                sp.name.clone().unwrap_or_default(),
                port,
                ports::protocol(sp.protocol.as_deref()).to_owned(),
                sp.app_protocol.clone().unwrap_or_default(),
            ))
        })
        .collect()
}

fn has_ports(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .is_some_and(|p| !p.is_empty())
}

/// The subsets for `service` over `pods` (the pods its selector matches; the rest are
/// ignored), in a stable order.
pub fn build(service: &Service, pods: &[impl std::borrow::Borrow<Pod>]) -> Vec<EndpointSubset> {
    let mut groups: BTreeMap<Vec<PortKey>, Group> = BTreeMap::new();
    for pod in pods.iter().map(std::borrow::Borrow::borrow) {
        if !members::selects(service, pod) || !included(service, pod) {
            continue;
        }
        let Some(ip) = members::pod_ip(pod) else {
            continue;
        };
        let mut key = resolved_ports(service, pod);
        key.sort();
        if key.is_empty() && (has_ports(service) || !members::is_headless(service)) {
            // No port of the service resolves on this pod: nothing to reach it by.
            continue;
        }
        let address = EndpointAddress {
            ip: ip.to_owned(),
            hostname: members::hostname(service, pod),
            node_name: members::node_name(pod),
            target_ref: Some(members::target_ref(pod)),
        };
        let group = groups.entry(key).or_default();
        if members::publish_not_ready(service) || members::is_serving(pod) {
            group.ready.push(address);
        } else {
            group.not_ready.push(address);
        }
    }
    groups
        .into_iter()
        .map(|(key, mut g)| {
            let by_ip = |a: &EndpointAddress, b: &EndpointAddress| {
                (
                    a.ip.as_str(),
                    a.target_ref.as_ref().and_then(|r| r.name.as_deref()),
                )
                    .cmp(&(
                        b.ip.as_str(),
                        b.target_ref.as_ref().and_then(|r| r.name.as_deref()),
                    ))
            };
            g.ready.sort_by(by_ip);
            g.not_ready.sort_by(by_ip);
            let ports: Vec<EndpointPort> = key
                .into_iter()
                .map(|(name, port, protocol, app)| EndpointPort {
                    name: Some(name).filter(|n| !n.is_empty()),
                    port,
                    protocol: Some(protocol),
                    app_protocol: Some(app).filter(|a| !a.is_empty()),
                })
                .collect();
            EndpointSubset {
                addresses: Some(g.ready).filter(|a| !a.is_empty()),
                not_ready_addresses: Some(g.not_ready).filter(|a| !a.is_empty()),
                ports: Some(ports).filter(|p| !p.is_empty()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(extra: serde_json::Value) -> Service {
        let mut v = json!({"metadata": {"name": "web", "namespace": "ns"},
            "spec": {"selector": {"app": "web"}, "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"}]}});
        if let (Some(spec), Some(extra)) = (v["spec"].as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        serde_json::from_value(v).unwrap()
    }

    fn pod(name: &str, ip: &str, ready: bool, http_port: Option<i32>) -> Pod {
        let ports = http_port
            .map(|p| json!([{"name": "http", "containerPort": p}]))
            .unwrap_or(json!([]));
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "labels": {"app": "web"}, "uid": name},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x", "ports": ports}]},
            "status": {"podIP": ip, "phase": "Running",
                "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}}))
        .unwrap()
    }

    #[test]
    fn ready_and_not_ready_pods_share_a_subset_by_ports() {
        let pods = [
            pod("b", "10.0.0.2", true, Some(8080)),
            pod("a", "10.0.0.1", false, Some(8080)),
            pod("c", "10.0.0.3", true, Some(8080)),
        ];
        let s = build(&svc(json!({})), &pods);
        assert_eq!(s.len(), 1);
        let ready: Vec<_> = s[0]
            .addresses
            .iter()
            .flatten()
            .map(|a| a.ip.as_str())
            .collect();
        assert_eq!(ready, ["10.0.0.2", "10.0.0.3"]);
        let not_ready = s[0].not_ready_addresses.as_ref().unwrap();
        assert_eq!(not_ready[0].ip, "10.0.0.1");
        assert_eq!(not_ready[0].node_name.as_deref(), Some("n1"));
        assert_eq!(
            not_ready[0].target_ref.as_ref().unwrap().name.as_deref(),
            Some("a")
        );
        let ports: Vec<_> = s[0]
            .ports
            .iter()
            .flatten()
            .map(|p| (p.name.clone().unwrap(), p.port))
            .collect();
        assert_eq!(
            ports,
            [("http".to_owned(), 8080), ("metrics".to_owned(), 9090)]
        );
    }

    #[test]
    fn pods_resolving_different_ports_get_different_subsets() {
        let pods = [
            pod("a", "10.0.0.1", true, Some(8080)),
            pod("b", "10.0.0.2", true, None),
        ];
        let s = build(&svc(json!({})), &pods);
        assert_eq!(s.len(), 2);
        let only_metrics = s
            .iter()
            .find(|s| s.ports.as_ref().unwrap().len() == 1)
            .unwrap();
        assert_eq!(only_metrics.addresses.as_ref().unwrap()[0].ip, "10.0.0.2");
    }

    #[test]
    fn publish_not_ready_and_exclusions() {
        let mut terminating = pod("t", "10.0.0.4", true, Some(8080));
        terminating.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(skiff_core::runtime::now()),
        );
        let mut done = pod("d", "10.0.0.5", true, Some(8080));
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        let no_ip = pod("n", "", true, Some(8080));
        let not_ready = pod("a", "10.0.0.1", false, Some(8080));
        let all = [terminating, done, no_ip, not_ready];
        let s = build(&svc(json!({})), &all);
        assert_eq!(s.len(), 1);
        assert!(s[0].addresses.is_none());
        assert_eq!(s[0].not_ready_addresses.as_ref().unwrap().len(), 1);

        let s = build(&svc(json!({"publishNotReadyAddresses": true})), &all);
        let ready: Vec<_> = s[0]
            .addresses
            .iter()
            .flatten()
            .map(|a| a.ip.as_str())
            .collect();
        assert_eq!(ready, ["10.0.0.1", "10.0.0.4"]);
    }

    #[test]
    fn other_namespaces_and_labels_are_ignored() {
        let mut other = pod("a", "10.0.0.1", true, Some(8080));
        other.metadata.namespace = Some("elsewhere".into());
        let mut unlabelled = pod("b", "10.0.0.2", true, Some(8080));
        unlabelled.metadata.labels = None;
        assert!(build(&svc(json!({})), &[other, unlabelled]).is_empty());
    }
}
