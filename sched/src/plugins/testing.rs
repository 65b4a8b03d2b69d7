//! Builders for the plugins' table tests.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};

use crate::cache::NodeInfo;

/// A pod from its `spec` (name "p", namespace "default").
pub fn pod(spec: Value) -> Pod {
    serde_json::from_value(
        json!({"metadata": {"name": "p", "namespace": "default", "uid": "p"}, "spec": spec}),
    )
    .expect("test pod")
}

/// A node from its metadata fields, spec and status.
pub fn node(name: &str, labels: Value, spec: Value, status: Value) -> Node {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "spec": spec, "status": status}),
    )
    .expect("test node")
}

/// A node info with pods.
pub fn info(node: Node, pods: Vec<Pod>) -> NodeInfo {
    let mut i = NodeInfo::new(node);
    for (n, mut p) in pods.into_iter().enumerate() {
        p.metadata.uid = Some(format!("existing-{n}"));
        i.add_pod(Arc::new(p));
    }
    i
}

/// A node with allocatable cpu/memory/pods and nothing else.
pub fn sized_node(name: &str, cpu: &str, memory: &str) -> Node {
    node(
        name,
        json!({}),
        json!({}),
        json!({"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"}}),
    )
}

/// A pod with one container requesting `cpu` and `memory` (empty: none).
pub fn requesting(cpu: &str, memory: &str) -> Pod {
    let mut req = serde_json::Map::new();
    if !cpu.is_empty() {
        req.insert("cpu".into(), cpu.into());
    }
    if !memory.is_empty() {
        req.insert("memory".into(), memory.into());
    }
    pod(json!({"containers": [{"name": "c", "resources": {"requests": req}}]}))
}
