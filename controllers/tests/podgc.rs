//! The pod garbage collector against an in-process API server: terminated pods beyond
//! the threshold go oldest first, pods bound to a node that does not exist are marked
//! (`DisruptionTarget`, `Failed`) and force-deleted after the quarantine, unscheduled
//! pods being deleted are marked `Failed` and force-deleted, and nothing else is
//! touched.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{cluster, wait_for};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;
use skiff_controllers::podgc::{Config, PodGc};
use skiff_core::client::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent,
};

const WAIT: Duration = Duration::from_secs(20);

fn config() -> Config {
    Config {
        terminated_pod_gc_threshold: 3,
        gc_check_period: Duration::from_millis(100),
        quarantine: Duration::from_millis(300),
    }
}

fn pod(name: &str, node: Option<&str>) -> Pod {
    let mut v = json!({"metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    if let Some(n) = node {
        v["spec"]["nodeName"] = json!(n);
    }
    serde_json::from_value(v).unwrap()
}

async fn set_phase(pods: &Api<Pod>, name: &str, phase: &str) {
    pods.patch_status(
        name,
        &Patch::Merge(json!({"status": {"phase": phase}})),
        &PatchParams::default(),
    )
    .await
    .unwrap();
}

async fn names(pods: &Api<Pod>) -> HashSet<String> {
    pods.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect()
}

fn set(names: &[&str]) -> HashSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[tokio::test]
async fn terminated_pods_beyond_the_threshold_are_deleted_oldest_first() {
    let (_server, client) = cluster().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap();
    nodes.create(&node, &PostParams::default()).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // Creation times have a resolution of a second: the names order the ties.
    for (i, phase) in ["Succeeded", "Failed", "Succeeded", "Failed", "Succeeded"]
        .into_iter()
        .enumerate()
    {
        let name = format!("done-{i}");
        pods.create(&pod(&name, Some("n1")), &PostParams::default())
            .await
            .unwrap();
        set_phase(&pods, &name, phase).await;
    }
    pods.create(&pod("running", Some("n1")), &PostParams::default())
        .await
        .unwrap();
    set_phase(&pods, "running", "Running").await;

    let gc = tokio::spawn(PodGc::new(client.clone()).config(config()).run());
    let want = set(&["done-2", "done-3", "done-4", "running"]);
    wait_for("the two oldest terminated pods to go", WAIT, || {
        let pods = pods.clone();
        let want = want.clone();
        async move { (names(&pods).await == want).then_some(()) }
    })
    .await;
    // Several more passes leave the three newest terminated pods alone.
    tokio::time::sleep(config().gc_check_period * 5).await;
    assert_eq!(names(&pods).await, want);
    gc.abort();
}

#[tokio::test]
async fn pods_of_a_node_that_does_not_exist_are_marked_and_force_deleted() {
    let (_server, client) = cluster().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({"metadata": {"name": "alive"}})).unwrap();
    nodes.create(&node, &PostParams::default()).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, node) in [("orphan", "gone"), ("kept", "alive")] {
        pods.create(&pod(name, Some(node)), &PostParams::default())
            .await
            .unwrap();
        set_phase(&pods, name, "Running").await;
    }
    pods.create(&pod("pending", None), &PostParams::default())
        .await
        .unwrap();

    // Every state the orphan passes through.
    let seen: Arc<Mutex<Vec<Pod>>> = Arc::default();
    let mut stream = pods
        .watch(&ListParams::default().fields("metadata.name=orphan"))
        .await
        .unwrap();
    let sink = seen.clone();
    let watcher = tokio::spawn(async move {
        while let Some(Ok(event)) = stream.next().await {
            if let WatchEvent::Modified(p) | WatchEvent::Deleted(p) = event {
                sink.lock().unwrap().push(p);
            }
        }
    });

    let gc = tokio::spawn(PodGc::new(client.clone()).config(config()).run());
    wait_for("the orphan to be deleted", WAIT, || {
        let pods = pods.clone();
        async move {
            pods.get_opt("orphan")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        }
    })
    .await;
    assert_eq!(names(&pods).await, set(&["kept", "pending"]));
    let marked = wait_for("the orphan's marked state", WAIT, || {
        let seen = seen.clone();
        async move {
            seen.lock()
                .unwrap()
                .iter()
                .find(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "DisruptionTarget"))
                })
                .cloned()
        }
    })
    .await;
    let status = marked.status.unwrap();
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    let condition = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "DisruptionTarget")
        .unwrap();
    assert_eq!(condition.status, "True");
    assert_eq!(condition.reason.as_deref(), Some("DeletionByPodGC"));
    assert_eq!(
        condition.message.as_deref(),
        Some("PodGC: node no longer exists")
    );
    watcher.abort();
    gc.abort();
}

#[tokio::test]
async fn an_unscheduled_pod_being_deleted_is_failed_and_force_deleted() {
    let (_server, client) = cluster().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // A finalizer keeps the unscheduled pod from going at once.
    let mut held = pod("held", None);
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    pods.create(&held, &PostParams::default()).await.unwrap();
    pods.create(&pod("waiting", None), &PostParams::default())
        .await
        .unwrap();
    pods.delete("held", &DeleteParams::default()).await.unwrap();

    let gc = tokio::spawn(PodGc::new(client.clone()).config(config()).run());
    wait_for("the held pod to be marked Failed", WAIT, || {
        let pods = pods.clone();
        async move {
            let p = pods.get("held").await.unwrap();
            (p.status?.phase.as_deref() == Some("Failed")).then_some(())
        }
    })
    .await;
    // The finalizer still holds it; once it is removed the pod goes.
    pods.patch(
        "held",
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        &PatchParams::default(),
    )
    .await
    .unwrap();
    wait_for("the held pod to go", WAIT, || {
        let pods = pods.clone();
        async move { pods.get_opt("held").await.unwrap().is_none().then_some(()) }
    })
    .await;
    let waiting = pods.get("waiting").await.unwrap();
    assert!(waiting.metadata.deletion_timestamp.is_none());
    assert_ne!(
        waiting.status.and_then(|s| s.phase).as_deref(),
        Some("Failed")
    );
    gc.abort();
}
