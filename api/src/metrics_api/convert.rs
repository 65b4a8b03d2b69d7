//! From node agents' summaries (`/stats/summary`) to `metrics.k8s.io/v1beta1`
//! `NodeMetrics` and `PodMetrics` objects, as metrics-server makes them: CPU in
//! nanocores (`123456n`), memory working set in bytes (`2048Ki` when whole KiB).

use serde_json::{json, Map, Value};

use super::{GROUP, VERSION};

/// CPU nanocores as a quantity.
pub fn cpu_quantity(nano_cores: u64) -> String {
    format!("{nano_cores}n")
}

/// Bytes as a quantity.
pub fn memory_quantity(bytes: u64) -> String {
    if bytes & 1023 == 0 {
        format!("{}Ki", bytes / 1024)
    } else {
        bytes.to_string()
    }
}

/// `{cpu, memory}` usage from a summary's `cpu` and `memory` objects, with the
/// sample time and window; `None` without a CPU rate or a working set.
fn usage(stats: &Value) -> Option<(Value, String, String)> {
    let cpu = stats.pointer("/cpu/usageNanoCores")?.as_u64()?;
    let memory = stats.pointer("/memory/workingSetBytes")?.as_u64()?;
    let time = stats
        .pointer("/cpu/time")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let window = stats
        .pointer("/cpu/window")
        .and_then(Value::as_str)
        .unwrap_or("0s")
        .to_owned();
    Some((
        json!({"cpu": cpu_quantity(cpu), "memory": memory_quantity(memory)}),
        time,
        window,
    ))
}

/// The metadata of a metrics object: the object's name (and namespace), labels and
/// `creationTimestamp` (now, as metrics-server does).
fn metadata(object: &Value, now: &str) -> Value {
    let mut meta = Map::new();
    for key in ["name", "namespace", "labels"] {
        if let Some(v) = object.pointer(&format!("/metadata/{key}")) {
            meta.insert(key.to_owned(), v.clone());
        }
    }
    meta.insert("creationTimestamp".into(), json!(now));
    Value::Object(meta)
}

/// The `NodeMetrics` of `node` from its agent's `summary`; `None` until the agent
/// has a CPU rate.
pub fn node_metrics(node: &Value, summary: &Value, now: &str) -> Option<Value> {
    let (usage, timestamp, window) = usage(summary.get("node")?)?;
    Some(json!({
        "kind": "NodeMetrics",
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": metadata(node, now),
        "timestamp": timestamp,
        "window": window,
        "usage": usage,
    }))
}

/// The pod's entry in a summary: same namespace and name, and the same uid when
/// both say one.
pub fn find_pod<'a>(summary: &'a Value, pod: &Value) -> Option<&'a Value> {
    let field = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let namespace = field(pod, "/metadata/namespace").unwrap_or_default();
    let name = field(pod, "/metadata/name")?;
    let uid = field(pod, "/metadata/uid");
    summary.get("pods")?.as_array()?.iter().find(|p| {
        field(p, "/podRef/namespace").unwrap_or_default() == namespace
            && field(p, "/podRef/name").as_deref() == Some(name.as_str())
            && match (field(p, "/podRef/uid"), &uid) {
                (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => a == *b,
                _ => true,
            }
    })
}

/// The `PodMetrics` of `pod` from its entry in a summary; `None` until every
/// container has a CPU rate.
pub fn pod_metrics(pod: &Value, stats: &Value, now: &str) -> Option<Value> {
    let mut containers = Vec::new();
    let mut sampled = None;
    for c in stats.get("containers")?.as_array()? {
        let (usage, timestamp, window) = usage(c)?;
        sampled.get_or_insert((timestamp, window));
        containers.push(json!({
            "name": c.get("name").and_then(Value::as_str).unwrap_or_default(),
            "usage": usage,
        }));
    }
    let (timestamp, window) = sampled?;
    Some(json!({
        "kind": "PodMetrics",
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": metadata(pod, now),
        "timestamp": timestamp,
        "window": window,
        "containers": containers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Value {
        let cpu = |n: u64| json!({"time": "2026-01-01T00:00:00Z", "usageNanoCores": n, "window": "10.000s"});
        json!({
            "node": {"nodeName": "n1", "cpu": cpu(1_500_000_000), "memory": {"workingSetBytes": 2048}},
            "pods": [{
                "podRef": {"name": "web", "namespace": "default", "uid": "u1"},
                "containers": [
                    {"name": "a", "cpu": cpu(5_000_000), "memory": {"workingSetBytes": 1000}},
                    {"name": "b", "cpu": {"time": "t"}, "memory": {"workingSetBytes": 1}}
                ]
            }, {
                "podRef": {"name": "api", "namespace": "default", "uid": "u2"},
                "containers": [{"name": "main", "cpu": cpu(7), "memory": {"workingSetBytes": 4096}}]
            }]
        })
    }

    #[test]
    fn node_metrics_carry_usage_and_labels() {
        let node = json!({"metadata": {"name": "n1", "labels": {"zone": "a"}}});
        let m = node_metrics(&node, &summary(), "now").unwrap();
        assert_eq!(m["kind"], "NodeMetrics");
        assert_eq!(m["metadata"]["labels"]["zone"], "a");
        assert_eq!(m["usage"]["cpu"], "1500000000n");
        assert_eq!(m["usage"]["memory"], "2Ki");
        assert_eq!(m["window"], "10.000s");
        assert!(node_metrics(&node, &json!({"node": {"cpu": {}}}), "now").is_none());
    }

    #[test]
    fn pod_metrics_need_every_container_rate() {
        let s = summary();
        let api = json!({"metadata": {"name": "api", "namespace": "default", "uid": "u2"}});
        let stats = find_pod(&s, &api).unwrap();
        let m = pod_metrics(&api, stats, "now").unwrap();
        assert_eq!(m["containers"][0]["usage"]["memory"], "4Ki");
        assert_eq!(m["containers"][0]["usage"]["cpu"], "7n");
        let web = json!({"metadata": {"name": "web", "namespace": "default", "uid": "u1"}});
        assert!(pod_metrics(&web, find_pod(&s, &web).unwrap(), "now").is_none());
        let other_uid = json!({"metadata": {"name": "api", "namespace": "default", "uid": "zz"}});
        assert!(find_pod(&s, &other_uid).is_none());
    }

    #[test]
    fn quantities() {
        assert_eq!(memory_quantity(1000), "1000");
        assert_eq!(memory_quantity(1 << 20), "1024Ki");
        assert_eq!(cpu_quantity(0), "0n");
    }
}
