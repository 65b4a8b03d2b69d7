//! The scheduler against an in-process API server: nodes and pods created through the
//! client, pods bound respecting resources, taints and node selectors, and the
//! PodScheduled=False condition and FailedScheduling event on a pod that fits nowhere.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{server, wait_for};
use k8s_openapi::api::core::v1::{Event, Pod};
use serde_json::{json, Value};
use skiff_core::client::{
    Api, Client, ListParams, ObjectTarget, Patch, PatchParams, PostParams, ResourceRef,
};
use skiff_sched::scheduler::{Scheduler, SchedulerConfig};

const WAIT: Duration = Duration::from_secs(20);

async fn create_node(
    client: &Arc<dyn Client>,
    name: &str,
    labels: Value,
    cpu: &str,
    taints: Value,
) {
    let nodes = ResourceRef::new("", "v1", "nodes", false);
    client
        .create(
            &ObjectTarget::collection(&nodes, None),
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}}),
            &PostParams::default(),
        )
        .await
        .expect("node created");
    client
        .patch(
            &ObjectTarget::object(&nodes, None, name).with_subresource("status"),
            &Patch::Merge(
                json!({"status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}}),
            ),
            &PatchParams::default(),
        )
        .await
        .expect("node status set");
}

async fn create_pod(client: &Arc<dyn Client>, name: &str, cpu: &str, extra: Value) {
    let pods = ResourceRef::new("", "v1", "pods", true);
    let mut spec = json!({"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    client
        .create(
            &ObjectTarget::collection(&pods, Some("default")),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}),
            &PostParams::default(),
        )
        .await
        .expect("pod created");
}

async fn node_of(pods: &Api<Pod>, name: &str) -> Option<String> {
    pods.get(name).await.ok()?.spec?.node_name
}

fn start(
    client: Arc<dyn Client>,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::oneshot::Sender<()>,
) {
    let scheduler = Scheduler::new(client, SchedulerConfig::default()).expect("scheduler builds");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        scheduler
            .run(async {
                let _ = stopped.await;
            })
            .await;
    });
    (task, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binds_pods_respecting_resources_taints_and_selectors() {
    let (_server, client) = server().await;
    create_node(&client, "small", json!({}), "1", json!([])).await;
    create_node(&client, "big", json!({}), "4", json!([])).await;
    create_node(
        &client,
        "tainted",
        json!({}),
        "8",
        json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
    )
    .await;
    create_node(&client, "ssd", json!({"disk": "ssd"}), "2", json!([])).await;
    let (task, stop) = start(client.clone());

    create_pod(&client, "needs-3", "3", json!({})).await;
    create_pod(
        &client,
        "wants-ssd",
        "100m",
        json!({"nodeSelector": {"disk": "ssd"}}),
    )
    .await;
    create_pod(
        &client,
        "tolerant",
        "6",
        json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]}),
    )
    .await;
    create_pod(&client, "huge", "100", json!({})).await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (pod, want) in [
        ("needs-3", "big"),
        ("wants-ssd", "ssd"),
        ("tolerant", "tainted"),
    ] {
        let got = wait_for(WAIT, pod, || async { node_of(&pods, pod).await }).await;
        assert_eq!(got, want, "{pod}");
    }

    let condition = wait_for(WAIT, "the PodScheduled condition", || async {
        let p = pods.get("huge").await.ok()?;
        p.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")
    })
    .await;
    assert_eq!(condition.status, "False");
    assert_eq!(condition.reason.as_deref(), Some("Unschedulable"));
    assert_eq!(
        condition.message.as_deref(),
        Some("0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 3 Insufficient cpu. \
             preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.")
    );
    assert!(node_of(&pods, "huge").await.is_none());

    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let failed = wait_for(WAIT, "a FailedScheduling event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| {
            e.reason.as_deref() == Some("FailedScheduling")
                && e.involved_object.name.as_deref() == Some("huge")
        })
    })
    .await;
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    wait_for(WAIT, "a Scheduled event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| {
            e.reason.as_deref() == Some("Scheduled")
                && e.message.as_deref() == Some("Successfully assigned default/needs-3 to big")
        })
    })
    .await;

    let _ = stop.send(());
    let _ = tokio::time::timeout(WAIT, task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assumed_pods_count_and_new_nodes_wake_pending_pods() {
    let (_server, client) = server().await;
    for n in ["a", "b", "c"] {
        create_node(&client, n, json!({}), "2", json!([])).await;
    }
    let (task, stop) = start(client.clone());
    for i in 0..7 {
        create_pod(&client, &format!("p{i}"), "1", json!({})).await;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // Six fit (two per node); the seventh does not.
    let placed = wait_for(WAIT, "six bound pods", || async {
        let list = pods.list(&ListParams::default()).await.ok()?;
        let bound: Vec<String> = list
            .items
            .iter()
            .filter_map(|p| p.spec.as_ref()?.node_name.clone())
            .collect();
        (bound.len() == 6).then_some(bound)
    })
    .await;
    for n in ["a", "b", "c"] {
        assert_eq!(placed.iter().filter(|x| *x == n).count(), 2, "{placed:?}");
    }
    let pending = wait_for(WAIT, "the pending pod's condition", || async {
        let list = pods.list(&ListParams::default()).await.ok()?;
        let p = list
            .items
            .into_iter()
            .find(|p| p.spec.as_ref().is_some_and(|s| s.node_name.is_none()))?;
        let c = p
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "PodScheduled")?
            .clone();
        Some((p.metadata.name.clone()?, c))
    })
    .await;
    assert_eq!(
        pending.1.message.as_deref(),
        Some(
            "0/3 nodes are available: 3 Insufficient cpu. \
             preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
        )
    );

    // A new node is a cluster event that moves the pod back; it lands there.
    create_node(&client, "d", json!({"late": "true"}), "2", json!([])).await;
    let got = wait_for(WAIT, "the pending pod bound to the new node", || async {
        node_of(&pods, &pending.0).await
    })
    .await;
    assert_eq!(got, "d");

    let _ = stop.send(());
    let _ = tokio::time::timeout(WAIT, task).await;
}
