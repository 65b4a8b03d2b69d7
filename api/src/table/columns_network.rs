//! Columns of the service-discovery kinds, as kube-apiserver prints them: core
//! `Endpoints` (NAME ENDPOINTS AGE) and `discovery.k8s.io` `EndpointSlice` (NAME
//! ADDRESSTYPE PORTS ENDPOINTS AGE).
//!
//! ```text
//! NAME         ENDPOINTS                                         AGE
//! web          10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...  5m
//! ```

use serde_json::{json, Value};

use super::cells::{array_at, host_port, int_at, list_with_more, str_at};
use super::columns::{age_column, col, name_column, Column};

/// How many addresses or ports a cell lists before ` + N more...`.
const SHOWN: usize = 3;

/// The columns of `group`/`kind` if this module prints it.
pub fn columns(group: &str, kind: &str) -> Option<Vec<Column>> {
    match (group, kind) {
        ("", "Endpoints") => Some(vec![
            name_column(),
            col("Endpoints", "string", 0, |o, _| json!(endpoints_text(o))),
            age_column(),
        ]),
        ("discovery.k8s.io", "EndpointSlice") => Some(vec![
            name_column(),
            col("AddressType", "string", 0, |o, _| {
                json!(str_at(o, "addressType", ""))
            }),
            col("Ports", "string", 0, |o, _| json!(slice_ports(o))),
            col("Endpoints", "string", 0, |o, _| json!(slice_addresses(o))),
            age_column(),
        ]),
        _ => None,
    }
}

/// The ENDPOINTS cell of an Endpoints object: `<none>` without subsets, else the
/// first three `ip:port` pairs (for each subset, each port, each address; a bare IP
/// for a subset without ports) and ` + N more...`.
pub fn endpoints_text(o: &Value) -> String {
    let subsets = array_at(o, "subsets");
    if subsets.is_empty() {
        return "<none>".into();
    }
    let mut items = Vec::new();
    for subset in subsets {
        let ips: Vec<&str> = array_at(subset, "addresses")
            .iter()
            .map(|a| str_at(a, "ip", ""))
            .collect();
        let ports = array_at(subset, "ports");
        if ports.is_empty() {
            items.extend(ips.iter().map(|ip| ip.to_string()));
            continue;
        }
        for port in ports {
            let number = int_at(port, "port");
            items.extend(ips.iter().map(|ip| host_port(ip, number)));
        }
    }
    list_with_more(&items, SHOWN)
}

/// The PORTS cell of an EndpointSlice: each port's number, else its name, else `*`;
/// `<unset>` when there are none.
fn slice_ports(o: &Value) -> String {
    let ports: Vec<String> = array_at(o, "ports")
        .iter()
        .map(|p| match p.get("port").and_then(Value::as_i64) {
            Some(number) => number.to_string(),
            None => str_at(p, "name", "*").to_string(),
        })
        .collect();
    or_unset(list_with_more(&ports, SHOWN))
}

/// The ENDPOINTS cell of an EndpointSlice: the addresses of all endpoints;
/// `<unset>` when there are none.
fn slice_addresses(o: &Value) -> String {
    let addresses: Vec<String> = array_at(o, "endpoints")
        .iter()
        .flat_map(|e| array_at(e, "addresses"))
        .map(|a| a.as_str().unwrap_or_default().to_string())
        .collect();
    or_unset(list_with_more(&addresses, SHOWN))
}

fn or_unset(text: String) -> String {
    if text.is_empty() {
        "<unset>".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn cells(group: &str, kind: &str, obj: Value) -> Vec<Value> {
        super::super::columns::cells_now(columns(group, kind), &obj)
    }

    fn five_minutes_ago() -> String {
        (Utc::now() - chrono::Duration::seconds(300)).to_rfc3339()
    }

    #[test]
    fn endpoints_cells() {
        let cases = [
            (json!({}), "<none>"),
            (json!({"subsets": []}), "<none>"),
            (
                json!({"subsets": [{"addresses": [{"ip": "1.2.3.4"}, {"ip": "5.6.7.8"}],
                                    "ports": [{"port": 8001, "protocol": "TCP"}]}]}),
                "1.2.3.4:8001,5.6.7.8:8001",
            ),
            (
                json!({"subsets": [
                    {"addresses": [{"ip": "1.2.3.4"}, {"ip": "5.6.7.8"}],
                     "ports": [{"name": "http", "port": 8001}, {"name": "https", "port": 8002}]},
                    {"addresses": [{"ip": "9.8.7.6"}], "ports": [{"port": 8003}]}]}),
                "1.2.3.4:8001,5.6.7.8:8001,1.2.3.4:8002 + 2 more...",
            ),
            (
                json!({"subsets": [{"addresses": [{"ip": "1.2.3.4"}, {"ip": "5.6.7.8"},
                                                  {"ip": "9.8.7.6"}],
                                    "ports": [{"port": 80}]}]}),
                "1.2.3.4:80,5.6.7.8:80,9.8.7.6:80",
            ),
            // A headless service without ports: bare addresses.
            (
                json!({"subsets": [{"addresses": [{"ip": "1.2.3.4"}, {"ip": "5.6.7.8"}]}]}),
                "1.2.3.4,5.6.7.8",
            ),
            (
                json!({"subsets": [{"addresses": [{"ip": "2001:db8::1"}], "ports": [{"port": 80}]}]}),
                "[2001:db8::1]:80",
            ),
            // Only not-ready addresses: nothing to list.
            (
                json!({"subsets": [{"notReadyAddresses": [{"ip": "1.2.3.4"}],
                                    "ports": [{"port": 80}]}]}),
                "",
            ),
        ];
        for (mut obj, expected) in cases {
            obj["metadata"] = json!({"name": "web", "creationTimestamp": five_minutes_ago()});
            assert_eq!(
                cells("", "Endpoints", obj.clone()),
                [json!("web"), json!(expected), json!("5m")],
                "{obj}"
            );
        }
    }

    #[test]
    fn endpoint_slice_cells() {
        let port = |name: &str, port: i64| json!({"name": name, "port": port, "protocol": "TCP"});
        let endpoints = json!([
            {"addresses": ["10.1.2.3", "2001:db8::1234:5678"]},
            {"addresses": ["10.2.3.4", "2001:db8::2345:6789"]}
        ]);
        let cases = [
            (
                json!({"addressType": "IP", "ports": [port("http", 80)],
                       "endpoints": [{"addresses": ["10.1.2.3", "2001:db8::1234:5678"]}]}),
                ["IP", "80", "10.1.2.3,2001:db8::1234:5678"],
            ),
            (
                json!({"addressType": "IP", "ports": [port("http", 80), port("https", 443)],
                       "endpoints": endpoints}),
                [
                    "IP",
                    "80,443",
                    "10.1.2.3,2001:db8::1234:5678,10.2.3.4 + 1 more...",
                ],
            ),
            (
                json!({"addressType": "IP",
                       "ports": [port("http", 80), port("https", 443), port("extra1", 3000),
                                 port("extra2", 3001)],
                       "endpoints": endpoints}),
                [
                    "IP",
                    "80,443,3000 + 1 more...",
                    "10.1.2.3,2001:db8::1234:5678,10.2.3.4 + 1 more...",
                ],
            ),
            // A port with only a name prints the name; with neither, `*`.
            (
                json!({"addressType": "IPv4", "ports": [{"name": "dns"}, {}], "endpoints": []}),
                ["IPv4", "dns,*", "<unset>"],
            ),
            (
                json!({"addressType": "FQDN"}),
                ["FQDN", "<unset>", "<unset>"],
            ),
        ];
        for (mut obj, [address_type, ports, addresses]) in cases {
            obj["metadata"] = json!({"name": "abcslice.123"});
            assert_eq!(
                cells("discovery.k8s.io", "EndpointSlice", obj.clone()),
                [
                    json!("abcslice.123"),
                    json!(address_type),
                    json!(ports),
                    json!(addresses),
                    json!("<unknown>")
                ],
                "{obj}"
            );
        }
    }
}
