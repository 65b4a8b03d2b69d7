//! A Service port's target on one pod: `targetPort` as a number, or as the name of a
//! container port (Kubernetes' `podutil.FindPort`).
//!
//! ```
//! use k8s_openapi::api::core::v1::{Pod, ServicePort};
//! use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
//! use skiff_controllers::endpoints::ports::target_port;
//! let pod: Pod = serde_json::from_value(serde_json::json!({"spec": {"containers": [
//!     {"name": "web", "image": "nginx", "ports": [{"name": "http", "containerPort": 8080}]}]}})).unwrap();
//! let named = ServicePort { port: 80, target_port: Some(IntOrString::String("http".into())), ..Default::default() };
//! assert_eq!(target_port(&pod, &named), Some(8080));
//! let numbered = ServicePort { port: 80, target_port: Some(IntOrString::Int(9000)), ..Default::default() };
//! assert_eq!(target_port(&pod, &numbered), Some(9000));
//! ```

use k8s_openapi::api::core::v1::{Pod, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The protocol of a port, `TCP` when unset.
pub fn protocol(p: Option<&str>) -> &str {
    p.filter(|p| !p.is_empty()).unwrap_or("TCP")
}

/// The port on `pod` that `port` sends traffic to; `None` when a named target port
/// names no container port of the pod with the same protocol.
pub fn target_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(0)) => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            // A numeric string is a number (the API accepts "8080").
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            let want = protocol(port.protocol.as_deref());
            pod.spec
                .as_ref()?
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && protocol(p.protocol.as_deref()) == want
                })
                .map(|p| p.container_port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({"spec": {"containers": [
            {"name": "a", "image": "x", "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"}]},
            {"name": "b", "image": "x", "ports": [{"name": "dns", "containerPort": 5353}]}]}}))
        .unwrap()
    }

    #[test]
    fn a_named_port_matches_name_and_protocol() {
        let udp = ServicePort {
            port: 53,
            protocol: Some("UDP".into()),
            target_port: Some(IntOrString::String("dns".into())),
            ..Default::default()
        };
        assert_eq!(target_port(&pod(), &udp), Some(53));
        let tcp = ServicePort {
            protocol: Some("TCP".into()),
            ..udp.clone()
        };
        assert_eq!(target_port(&pod(), &tcp), Some(5353));
        let missing = ServicePort {
            target_port: Some(IntOrString::String("http".into())),
            ..udp
        };
        assert_eq!(target_port(&pod(), &missing), None);
        assert_eq!(target_port(&Pod::default(), &missing), None);
    }

    #[test]
    fn unset_or_zero_target_is_the_service_port() {
        let p = ServicePort {
            port: 80,
            ..Default::default()
        };
        assert_eq!(target_port(&pod(), &p), Some(80));
        let zero = ServicePort {
            target_port: Some(IntOrString::Int(0)),
            ..p
        };
        assert_eq!(target_port(&pod(), &zero), Some(80));
    }
}
