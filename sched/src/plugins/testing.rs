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

/// A client for unit tests that never reaches a cluster: every call fails with a
/// transport error.
pub struct Unreachable;

#[async_trait::async_trait]
impl skiff_core::client::Client for Unreachable {
    async fn get(
        &self,
        _: &skiff_core::client::ObjectTarget,
    ) -> Result<Value, skiff_core::client::ClientError> {
        Err(unreachable_error())
    }
    async fn list(
        &self,
        _: &skiff_core::client::ObjectTarget,
        _: &skiff_core::client::ListParams,
    ) -> Result<Value, skiff_core::client::ClientError> {
        Err(unreachable_error())
    }
    async fn watch(
        &self,
        _: &skiff_core::client::ObjectTarget,
        _: &skiff_core::client::ListParams,
    ) -> Result<skiff_core::client::WatchStream, skiff_core::client::ClientError> {
        Err(unreachable_error())
    }
    async fn create(
        &self,
        _: &skiff_core::client::ObjectTarget,
        _: Value,
        _: &skiff_core::client::PostParams,
    ) -> Result<Value, skiff_core::client::ClientError> {
        Err(unreachable_error())
    }
    async fn replace(
        &self,
        _: &skiff_core::client::ObjectTarget,
        _: Value,
        _: &skiff_core::client::PostParams,
    ) -> Result<Value, skiff_core::client::ClientError> {
        Err(unreachable_error())
    }
    async fn patch(
        &self,
        _: &skiff_core::client::ObjectTarget,
        _: &skiff_core::client::Patch,
        _: &skiff_core::client::PatchParams,
    ) -> Result<Value, skiff_core::client::ClientError> {
        Err(unreachable_error())
    }
    async fn delete(
        &self,
        _: &skiff_core::client::ObjectTarget,
        _: &skiff_core::client::DeleteParams,
    ) -> Result<Value, skiff_core::client::ClientError> {
        Err(unreachable_error())
    }
    async fn delete_collection(
        &self,
        _: &skiff_core::client::ObjectTarget,
        _: &skiff_core::client::ListParams,
        _: &skiff_core::client::DeleteParams,
    ) -> Result<Value, skiff_core::client::ClientError> {
        Err(unreachable_error())
    }
    async fn logs(
        &self,
        _: &skiff_core::client::ObjectTarget,
        _: &skiff_core::client::LogParams,
    ) -> Result<skiff_core::client::ByteStream, skiff_core::client::ClientError> {
        Err(unreachable_error())
    }
}

fn unreachable_error() -> skiff_core::client::ClientError {
    skiff_core::client::ClientError::Transport("unit tests have no cluster".into())
}

/// The default profile's framework over the [`Unreachable`] client.
pub fn default_framework() -> crate::framework::Framework {
    let handle = crate::framework::Handle {
        client: Arc::new(Unreachable),
        waiting_pods: crate::framework::WaitingPods::default(),
    };
    crate::framework::Framework::new(
        &crate::framework::Profile::default_profile(),
        &super::default_registry(),
        &handle,
    )
    .expect("the default profile builds")
}
