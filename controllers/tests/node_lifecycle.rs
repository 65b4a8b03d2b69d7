//! The node lifecycle controller against an in-process API server: a node whose lease
//! stops being renewed goes `Unknown` and tainted, its pods that tolerate the taint
//! only briefly are evicted once their tolerationSeconds run out, pods with the
//! default 300 s toleration stay, and recovery removes the taints.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{cluster, wait_for};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use serde_json::json;
use skiff_controllers::node_lifecycle::taints::{NOT_READY, UNREACHABLE};
use skiff_controllers::node_lifecycle::{Config, NodeLifecycleController, LEASE_NAMESPACE};
use skiff_core::client::{Api, Client, Patch, PatchParams, PostParams};

const WAIT: Duration = Duration::from_secs(20);
const RENEW: Duration = Duration::from_millis(200);

fn config() -> Config {
    Config {
        node_monitor_period: Duration::from_millis(100),
        node_monitor_grace_period: Duration::from_secs(1),
        node_startup_grace_period: Duration::from_secs(1),
        eviction_check_period: Duration::from_millis(100),
    }
}

/// Posts a `Ready` condition with a fresh heartbeat, as a node agent would.
async fn post_ready(nodes: &Api<Node>, name: &str, status: &str) {
    let now = skiff_core::runtime::now().to_string();
    let patch = json!({"status": {"conditions": [{"type": "Ready", "status": status,
        "reason": "KubeletReady", "lastHeartbeatTime": now, "lastTransitionTime": now}]}});
    nodes
        .patch_status(name, &Patch::Merge(patch), &PatchParams::default())
        .await
        .unwrap();
}

/// Renews the node's lease every [`RENEW`], counting renewals.
fn renew_lease(
    client: Arc<dyn Client>,
    node: &str,
    count: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    let node = node.to_owned();
    tokio::spawn(async move {
        let leases: Api<Lease> = Api::namespaced(client, LEASE_NAMESPACE);
        loop {
            let now = MicroTime(skiff_core::runtime::now());
            let patch = json!({"spec": {"renewTime": now}});
            leases
                .patch(&node, &Patch::Merge(patch), &PatchParams::default())
                .await
                .unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(RENEW).await;
        }
    })
}

fn taints(node: &Node) -> Vec<(String, String)> {
    let mut t: Vec<(String, String)> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|t: Taint| (t.key, t.effect))
        .collect();
    t.sort();
    t
}

fn ready(node: &Node) -> Option<(String, Option<String>)> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.clone(), c.reason.clone()))
}

fn pod(name: &str, tolerations: serde_json::Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"nodeName": "n1", "tolerations": tolerations,
            "containers": [{"name": "c", "image": "busybox"}]}}))
    .unwrap()
}

#[tokio::test]
async fn a_silent_node_goes_unknown_its_pods_are_evicted_and_recovery_untaints() {
    let (_server, client) = cluster().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap();
    nodes.create(&node, &PostParams::default()).await.unwrap();
    post_ready(&nodes, "n1", "True").await;
    let lease: Lease = serde_json::from_value(json!({"metadata": {"name": "n1"},
        "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40}}))
    .unwrap();
    leases.create(&lease, &PostParams::default()).await.unwrap();
    let renewals = Arc::new(AtomicUsize::new(0));
    let renewer = renew_lease(client.clone(), "n1", renewals.clone());

    // Tolerates unreachable for 2 s only; tolerates it forever; the API defaults.
    let brief = json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}]);
    pods.create(&pod("brief", brief), &PostParams::default())
        .await
        .unwrap();
    let forever = json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}]);
    pods.create(&pod("forever", forever), &PostParams::default())
        .await
        .unwrap();
    let defaulted = pods
        .create(&pod("defaulted", json!(null)), &PostParams::default())
        .await
        .unwrap();
    let defaults: Vec<(String, Option<i64>)> = defaulted
        .spec
        .unwrap()
        .tolerations
        .unwrap()
        .into_iter()
        .map(|t| (t.key.unwrap(), t.toleration_seconds))
        .collect();
    assert_eq!(
        defaults,
        [
            (NOT_READY.to_owned(), Some(300)),
            (UNREACHABLE.to_owned(), Some(300))
        ]
    );

    let ctl = tokio::spawn(
        NodeLifecycleController::new(client.clone())
            .config(config())
            .run(),
    );

    // While the lease is renewed, well past the grace period, the node stays healthy.
    let start = renewals.load(Ordering::SeqCst);
    wait_for("three grace periods of renewals", WAIT, || {
        let renewals = renewals.clone();
        async move { (renewals.load(Ordering::SeqCst) >= start + 15).then_some(()) }
    })
    .await;
    let healthy = nodes.get("n1").await.unwrap();
    assert_eq!(ready(&healthy).unwrap().0, "True");
    assert!(taints(&healthy).is_empty());

    // The lease stops: Unknown and tainted.
    renewer.abort();
    let silent = wait_for("the node to be unreachable", WAIT, || {
        let nodes = nodes.clone();
        async move {
            let n = nodes.get("n1").await.unwrap();
            (taints(&n).len() == 2).then_some(n)
        }
    })
    .await;
    assert_eq!(
        taints(&silent),
        [
            (UNREACHABLE.to_owned(), "NoExecute".to_owned()),
            (UNREACHABLE.to_owned(), "NoSchedule".to_owned())
        ]
    );
    let condition = silent
        .status
        .clone()
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(condition.status, "Unknown");
    assert_eq!(condition.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(
        condition.message.as_deref(),
        Some("Kubelet stopped posting node status.")
    );
    // Its toleration has not run out yet.
    assert!(pods
        .get("brief")
        .await
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_none());

    let evicted = wait_for("the briefly tolerating pod to be evicted", WAIT, || {
        let pods = pods.clone();
        async move {
            let p = pods.get("brief").await.unwrap();
            p.metadata.deletion_timestamp.is_some().then_some(p)
        }
    })
    .await;
    // Bound, so it waits for its grace period; it says why it is going.
    let disruption = evicted
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "DisruptionTarget")
        .expect("DisruptionTarget condition");
    assert_eq!(disruption.status, "True");
    assert_eq!(disruption.reason.as_deref(), Some("DeletionByTaintManager"));
    for name in ["forever", "defaulted"] {
        let p = pods.get(name).await.unwrap();
        assert!(
            p.metadata.deletion_timestamp.is_none(),
            "{name} was evicted"
        );
    }

    // The node comes back: healthy, untainted. The surviving pods stay.
    post_ready(&nodes, "n1", "True").await;
    let renewer = renew_lease(client.clone(), "n1", renewals.clone());
    wait_for("the taints to be removed", WAIT, || {
        let nodes = nodes.clone();
        async move {
            let n = nodes.get("n1").await.unwrap();
            (taints(&n).is_empty() && ready(&n)?.0 == "True").then_some(())
        }
    })
    .await;
    for name in ["forever", "defaulted"] {
        assert!(pods
            .get(name)
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none());
    }
    renewer.abort();
    ctl.abort();
}

#[tokio::test]
async fn a_node_reporting_not_ready_is_tainted_not_ready() {
    let (_server, client) = cluster().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap();
    nodes.create(&node, &PostParams::default()).await.unwrap();
    post_ready(&nodes, "n1", "False").await;
    let ctl = tokio::spawn(
        NodeLifecycleController::new(client.clone())
            .config(config())
            .run(),
    );
    let tainted = wait_for("not-ready taints", WAIT, || {
        let nodes = nodes.clone();
        async move {
            let n = nodes.get("n1").await.unwrap();
            (!taints(&n).is_empty()).then_some(n)
        }
    })
    .await;
    assert_eq!(
        taints(&tainted),
        [
            (NOT_READY.to_owned(), "NoExecute".to_owned()),
            (NOT_READY.to_owned(), "NoSchedule".to_owned())
        ]
    );
    post_ready(&nodes, "n1", "True").await;
    wait_for("the taints to go", WAIT, || {
        let nodes = nodes.clone();
        async move {
            taints(&nodes.get("n1").await.unwrap())
                .is_empty()
                .then_some(())
        }
    })
    .await;
    ctl.abort();
}
