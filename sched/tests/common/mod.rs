//! Test helpers: an in-process API server over an in-memory store and its in-process
//! client (`ApiServer::client`).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use skiff_api::{ApiServer, ApiServerConfig};
use skiff_core::client::Client;
use skiff_store::MvccStore;

pub async fn server() -> (ApiServer, Arc<dyn Client>) {
    let store = Arc::new(MvccStore::in_memory().await);
    let server = ApiServer::new(store, ApiServerConfig::default())
        .await
        .expect("server starts");
    let client: Arc<dyn Client> = server.client();
    (server, client)
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `timeout`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

use serde_json::{json, Value};
use skiff_core::client::{
    DeleteParams, ListParams, ObjectTarget, Patch, PatchParams, PostParams, ResourceRef,
};

/// Creates a node with labels and `cpu` allocatable (8Gi memory, 110 pods).
pub async fn add_node(client: &Arc<dyn Client>, name: &str, labels: Value, cpu: &str) {
    let nodes = ResourceRef::new("", "v1", "nodes", false);
    client
        .create(
            &ObjectTarget::collection(&nodes, None),
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}),
            &PostParams::default(),
        )
        .await
        .expect("node created");
    client
        .patch(
            &ObjectTarget::object(&nodes, None, name).with_subresource("status"),
            &Patch::Merge(json!({"status": {
                "allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}})),
            &PatchParams::default(),
        )
        .await
        .expect("node status set");
}

/// Creates a pod in `default` requesting `cpu`, with `metadata` and `spec` fields
/// merged in.
pub async fn add_pod(
    client: &Arc<dyn Client>,
    name: &str,
    cpu: &str,
    metadata: Value,
    spec: Value,
) {
    let pods = ResourceRef::new("", "v1", "pods", true);
    let mut body = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}]}});
    for (k, v) in metadata.as_object().into_iter().flatten() {
        body["metadata"][k] = v.clone();
    }
    for (k, v) in spec.as_object().into_iter().flatten() {
        body["spec"][k] = v.clone();
    }
    client
        .create(
            &ObjectTarget::collection(&pods, Some("default")),
            body,
            &PostParams::default(),
        )
        .await
        .expect("pod created");
}

/// Plays the node agent's part in deletion: pods marked terminating are removed at
/// once (grace period 0), as a kubelet does once their containers stopped. Runs
/// until the task is aborted.
pub async fn finish_terminating_pods(client: Arc<dyn Client>) {
    let pods = ResourceRef::new("", "v1", "pods", true);
    loop {
        if let Ok(list) = client
            .list(
                &ObjectTarget::collection(&pods, None),
                &ListParams::default(),
            )
            .await
        {
            for p in list["items"].as_array().into_iter().flatten() {
                if p["metadata"]["deletionTimestamp"].is_string() {
                    let ns = p["metadata"]["namespace"].as_str().unwrap_or("default");
                    let name = p["metadata"]["name"].as_str().unwrap_or_default();
                    let _ = client
                        .delete(
                            &ObjectTarget::object(&pods, Some(ns), name),
                            &DeleteParams {
                                grace_period_seconds: Some(0),
                                ..DeleteParams::default()
                            },
                        )
                        .await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
