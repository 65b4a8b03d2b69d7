//! What a write of a Service asks of the ranges, decided from the object alone (no
//! store): which cluster IP and node ports it names, which it leaves to be allocated,
//! and which it holds. Also the normalisation Kubernetes does before allocating:
//! values carried over from the stored object when an update omits them, fields that
//! the new `type` does not use dropped, `clusterIP` and `clusterIPs` made to agree.
//!
//! ```
//! use serde_json::json;
//! use skiff_api::service_alloc::{plan, Ranges};
//! let ranges = Ranges::default();
//! let mut svc = json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}});
//! let wanted = plan::prepare(None, &mut svc, &ranges).unwrap();
//! assert_eq!(wanted.ip, Some(plan::Choice::Allocate));
//! assert_eq!(wanted.node_ports, vec![(0, plan::Choice::Given(30080))]);
//! ```

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_json::{json, Value};
use skiff_core::status::StatusCause;

use super::Ranges;

/// A value named by the client or left to the allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice<T> {
    /// The client named it (or the stored object held it).
    Given(T),
    /// The server picks one.
    Allocate,
}

/// What one write of a Service wants from the ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    /// The cluster IP; `None` for headless and ExternalName services.
    pub ip: Option<Choice<IpAddr>>,
    /// Per index of `spec.ports`, its node port (only for types that use them).
    pub node_ports: Vec<(usize, Choice<u16>)>,
}

/// What a stored Service holds: its cluster IP and node ports (whether or not they are
/// inside the ranges of today, which may have changed since they were allocated).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// Its cluster IP.
    pub ip: Option<IpAddr>,
    /// Its node ports.
    pub node_ports: BTreeSet<u16>,
}

/// Kubernetes' headless marker in `spec.clusterIP`.
pub const HEADLESS: &str = "None";

fn spec_str<'a>(svc: &'a Value, field: &str) -> &'a str {
    svc.get("spec")
        .and_then(|s| s.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn service_type(svc: &Value) -> &str {
    match spec_str(svc, "type") {
        "" => "ClusterIP",
        t => t,
    }
}

/// Whether a Service of this object's type gets node ports.
pub fn uses_node_ports(svc: &Value) -> bool {
    match service_type(svc) {
        "NodePort" => true,
        "LoadBalancer" => svc
            .pointer("/spec/allocateLoadBalancerNodePorts")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        _ => false,
    }
}

fn ports(svc: &Value) -> Vec<Value> {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn node_port(port: &Value) -> i64 {
    port.get("nodePort").and_then(Value::as_i64).unwrap_or(0)
}

/// A port's identity across an update: its number and protocol.
fn port_key(port: &Value) -> (i64, String) {
    (
        port.get("port").and_then(Value::as_i64).unwrap_or(0),
        port.get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("TCP")
            .to_owned(),
    )
}

/// What `svc` holds.
pub fn held(svc: &Value) -> Held {
    let ip = spec_str(svc, "clusterIP").parse::<IpAddr>().ok();
    let node_ports = ports(svc)
        .iter()
        .map(node_port)
        .filter_map(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .collect();
    Held { ip, node_ports }
}

fn spec_mut(svc: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    svc.get_mut("spec").and_then(Value::as_object_mut)
}

/// Carries allocated values of `old` into `new` where an update omits them, and drops
/// what `new`'s type does not use but `old` had (Kubernetes' `patchAllocatedValues`
/// and `dropTypeDependentFields`).
fn carry_over(old: &Value, new: &mut Value) {
    let new_type = service_type(new).to_owned();
    let old_ip = spec_str(old, "clusterIP").to_owned();
    let new_ip = spec_str(new, "clusterIP").to_owned();
    let new_ips_empty = new
        .pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    let old_ips = old.pointer("/spec/clusterIPs").cloned();
    let old_ports = ports(old);
    let new_uses = uses_node_ports(new);
    let Some(spec) = spec_mut(new) else {
        return;
    };
    if new_type == "ExternalName" {
        // Leaving ClusterIP for ExternalName releases the address the client did not
        // touch.
        if new_ip == old_ip {
            spec.remove("clusterIP");
            spec.remove("clusterIPs");
        }
    } else if new_ip.is_empty() && new_ips_empty && !old_ip.is_empty() {
        spec.insert("clusterIP".into(), json!(old_ip));
        spec.insert(
            "clusterIPs".into(),
            old_ips.unwrap_or_else(|| json!([old_ip])),
        );
    }
    let Some(list) = spec.get_mut("ports").and_then(Value::as_array_mut) else {
        return;
    };
    for port in list.iter_mut() {
        let key = port_key(port);
        let old_port = old_ports
            .iter()
            .find(|p| port_key(p) == key)
            .map(node_port)
            .unwrap_or(0);
        let Some(map) = port.as_object_mut() else {
            continue;
        };
        let current = map.get("nodePort").and_then(Value::as_i64).unwrap_or(0);
        if new_uses && current == 0 && old_port != 0 {
            map.insert("nodePort".into(), json!(old_port));
        } else if !new_uses && current != 0 && current == old_port {
            map.remove("nodePort");
        }
    }
}

/// Removes `nodePort: 0` (what clients send for "none"; Kubernetes' typed decoding
/// drops it).
fn drop_zero_node_ports(svc: &mut Value) {
    if let Some(list) = svc.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for port in list.iter_mut().filter_map(Value::as_object_mut) {
            if port.get("nodePort").and_then(Value::as_i64) == Some(0) {
                port.remove("nodePort");
            }
        }
    }
}

/// Normalises `new` (a Service about to be written over `old`, `None` on create) and
/// says what it wants of `ranges`; the causes of a 422 when it asks for what it may
/// not have.
pub fn prepare(
    old: Option<&Value>,
    new: &mut Value,
    ranges: &Ranges,
) -> Result<Wanted, Vec<StatusCause>> {
    drop_zero_node_ports(new);
    if let Some(old) = old {
        carry_over(old, new);
    }
    // Values the stored object holds stay valid when the ranges change.
    let before = old.map(held).unwrap_or_default();
    let mut causes = Vec::new();
    let ip = cluster_ip(new, ranges, &before, &mut causes);
    let node_ports = node_ports(new, ranges, &before, &mut causes);
    if causes.is_empty() {
        Ok(Wanted { ip, node_ports })
    } else {
        Err(causes)
    }
}

/// The cluster IP part of [`prepare`]: makes `clusterIP` and `clusterIPs` agree.
fn cluster_ip(
    new: &mut Value,
    ranges: &Ranges,
    before: &Held,
    causes: &mut Vec<StatusCause>,
) -> Option<Choice<IpAddr>> {
    let svc_type = service_type(new).to_owned();
    let mut ip = spec_str(new, "clusterIP").to_owned();
    let ips: Vec<String> = new
        .pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    if ip.is_empty() {
        ip = ips.first().cloned().unwrap_or_default();
    } else if ips.first().is_some_and(|first| *first != ip) {
        causes.push(StatusCause::invalid_value(
            "spec.clusterIPs",
            &json!(ips),
            "element [0] must match clusterIP",
        ));
        return None;
    }
    if ips.len() > 1 {
        causes.push(StatusCause::invalid_value(
            "spec.clusterIPs",
            &json!(ips),
            "may contain only one address: the cluster serves a single IP family",
        ));
        return None;
    }
    if svc_type == "ExternalName" {
        if !ip.is_empty() {
            causes.push(StatusCause::invalid_value(
                "spec.clusterIPs",
                &json!(ip),
                "must be empty for ExternalName services",
            ));
        }
        return None;
    }
    let choice = if ip == HEADLESS {
        if svc_type != "ClusterIP" {
            causes.push(StatusCause::invalid_value(
                "spec.clusterIPs[0]",
                &json!(ip),
                &format!("may not be set to 'None' for {svc_type} services"),
            ));
        }
        None
    } else if ip.is_empty() {
        Some(Choice::Allocate)
    } else {
        match ip.parse::<IpAddr>() {
            Ok(addr) => Some(Choice::Given(addr)),
            Err(_) => {
                causes.push(StatusCause::invalid_value(
                    "spec.clusterIPs[0]",
                    &json!(ip),
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                ));
                None
            }
        }
    };
    if let Some(Choice::Given(addr)) = choice {
        if !ranges.ips.contains(addr) && before.ip != Some(addr) {
            causes.push(StatusCause::invalid_value(
                "spec.clusterIPs",
                &json!(ip),
                &format!(
                    "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                    ranges.ips
                ),
            ));
        }
    }
    if let Some(spec) = spec_mut(new) {
        if !ip.is_empty() {
            spec.insert("clusterIP".into(), json!(ip));
            spec.insert("clusterIPs".into(), json!([ip]));
        }
        let family = match ranges.ips.net() {
            ipnet::IpNet::V4(_) => "IPv4",
            ipnet::IpNet::V6(_) => "IPv6",
        };
        spec.entry("ipFamilies").or_insert_with(|| json!([family]));
        spec.entry("ipFamilyPolicy")
            .or_insert_with(|| json!("SingleStack"));
    }
    choice
}

/// The node port part of [`prepare`].
fn node_ports(
    new: &Value,
    ranges: &Ranges,
    before: &Held,
    causes: &mut Vec<StatusCause>,
) -> Vec<(usize, Choice<u16>)> {
    let uses = uses_node_ports(new);
    let svc_type = service_type(new);
    let list = ports(new);
    let mut wanted = Vec::new();
    for (i, port) in list.iter().enumerate() {
        let field = format!("spec.ports[{i}].nodePort");
        let requested = node_port(port);
        if !uses {
            if requested != 0 {
                causes.push(StatusCause::forbidden(
                    &field,
                    &format!("may not be used when `type` is '{svc_type}'"),
                ));
            }
            continue;
        }
        if requested == 0 {
            wanted.push((i, Choice::Allocate));
            continue;
        }
        let duplicate = list[..i]
            .iter()
            .any(|p| node_port(p) == requested && port_key(p).1 == port_key(port).1);
        if duplicate {
            causes.push(StatusCause::duplicate(&field, &json!(requested)));
            continue;
        }
        match u16::try_from(requested)
            .ok()
            .filter(|p| ranges.node_ports.contains(i64::from(*p)) || before.node_ports.contains(p))
        {
            Some(p) => wanted.push((i, Choice::Given(p))),
            None => causes.push(StatusCause::invalid_value(
                &field,
                &json!(requested),
                &format!(
                    "provided port is not in the valid range. The range of valid ports is {}",
                    ranges.node_ports
                ),
            )),
        }
    }
    wanted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges() -> Ranges {
        Ranges {
            ips: "10.0.0.0/24".parse().unwrap(),
            node_ports: "30000-30010".parse().unwrap(),
        }
    }

    #[test]
    fn creates_ask_for_what_they_name_or_allocation() {
        let mut svc = json!({"spec": {"ports": [{"port": 80}]}});
        let w = prepare(None, &mut svc, &ranges()).unwrap();
        assert_eq!(w.ip, Some(Choice::Allocate));
        assert!(w.node_ports.is_empty());
        assert_eq!(svc["spec"]["ipFamilies"], json!(["IPv4"]));

        let mut svc = json!({"spec": {"clusterIPs": ["10.0.0.9"]}});
        let w = prepare(None, &mut svc, &ranges()).unwrap();
        assert_eq!(w.ip, Some(Choice::Given("10.0.0.9".parse().unwrap())));
        assert_eq!(svc["spec"]["clusterIP"], "10.0.0.9");

        let mut zero = json!({"spec": {"ports": [{"port": 80, "nodePort": 0}]}});
        let w = prepare(None, &mut zero, &ranges()).unwrap();
        assert!(w.node_ports.is_empty());
        assert!(zero["spec"]["ports"][0].get("nodePort").is_none());

        let mut headless = json!({"spec": {"clusterIP": "None"}});
        assert_eq!(prepare(None, &mut headless, &ranges()).unwrap().ip, None);
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));

        let mut external = json!({"spec": {"type": "ExternalName", "externalName": "x.example"}});
        let w = prepare(None, &mut external, &ranges()).unwrap();
        assert_eq!(w, Wanted::default());
    }

    #[test]
    fn bad_requests_are_causes() {
        let cases = [
            (
                json!({"spec": {"clusterIP": "10.1.0.1"}}),
                "not in the valid range",
            ),
            (json!({"spec": {"clusterIP": "banana"}}), "valid IP address"),
            (
                json!({"spec": {"type": "NodePort", "clusterIP": "None"}}),
                "may not be set to 'None'",
            ),
            (
                json!({"spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.2"]}}),
                "must match",
            ),
            (
                json!({"spec": {"ports": [{"port": 80, "nodePort": 30001}]}}),
                "may not be used when `type` is 'ClusterIP'",
            ),
            (
                json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}}),
                "The range of valid ports is 30000-30010",
            ),
            (
                json!({"spec": {"type": "NodePort", "ports": [
                    {"port": 80, "nodePort": 30001}, {"port": 81, "nodePort": 30001}]}}),
                "Duplicate value",
            ),
            (
                json!({"spec": {"type": "ExternalName", "clusterIP": "10.0.0.3"}}),
                "must be empty",
            ),
        ];
        for (mut svc, expected) in cases {
            let causes = prepare(None, &mut svc, &ranges()).unwrap_err();
            assert!(
                causes.iter().any(|c| c.message.contains(expected)),
                "{svc}: {causes:?}"
            );
        }
    }

    #[test]
    fn updates_keep_what_the_stored_object_holds() {
        let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.0.0.5",
            "clusterIPs": ["10.0.0.5"], "ports": [
            {"port": 80, "protocol": "TCP", "nodePort": 30003},
            {"port": 53, "protocol": "UDP", "nodePort": 30004}]}});
        assert_eq!(
            held(&old),
            Held {
                ip: Some("10.0.0.5".parse().unwrap()),
                node_ports: [30003, 30004].into()
            }
        );
        // An apply that omits the allocated values keeps them; a new port is allocated.
        let mut new = json!({"spec": {"type": "NodePort", "ports": [
            {"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]}});
        let w = prepare(Some(&old), &mut new, &ranges()).unwrap();
        assert_eq!(w.ip, Some(Choice::Given("10.0.0.5".parse().unwrap())));
        assert_eq!(
            w.node_ports,
            vec![(0, Choice::Given(30003)), (1, Choice::Allocate)]
        );
        // Back to ClusterIP: the node ports go.
        let mut back = old.clone();
        back["spec"]["type"] = json!("ClusterIP");
        let w = prepare(Some(&old), &mut back, &ranges()).unwrap();
        assert!(w.node_ports.is_empty());
        assert!(back["spec"]["ports"][0].get("nodePort").is_none());
        // To ExternalName: the address goes.
        let mut external = old.clone();
        external["spec"] = json!({"type": "ExternalName", "externalName": "x.example",
            "clusterIP": "10.0.0.5", "clusterIPs": ["10.0.0.5"]});
        let w = prepare(Some(&old), &mut external, &ranges()).unwrap();
        assert_eq!(w.ip, None);
        assert!(external["spec"].get("clusterIP").is_none());
        // Values allocated from an earlier range stay valid.
        let mut moved = json!({"spec": {"clusterIP": "10.9.9.9", "ports": [{"port": 1}]}});
        let stored = moved.clone();
        let w = prepare(Some(&stored), &mut moved, &ranges()).unwrap();
        assert_eq!(w.ip, Some(Choice::Given("10.9.9.9".parse().unwrap())));
    }
}
