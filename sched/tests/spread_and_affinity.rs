//! The scheduler against an in-process API server with pods whose placement depends on
//! other pods: a zone spread (DoNotSchedule) and a per-node anti-affinity. Both rely
//! on the snapshot's incremental counts following assumed, bound and deleted pods.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{add_node, add_pod, server, wait_for};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use skiff_core::client::{Api, Client, DeleteParams, ListParams};
use skiff_sched::scheduler::{Scheduler, SchedulerConfig};

const WAIT: Duration = Duration::from_secs(30);

fn start(client: Arc<dyn Client>) -> tokio::task::JoinHandle<()> {
    let scheduler = Scheduler::new(client, SchedulerConfig::default()).expect("scheduler builds");
    tokio::spawn(async move { scheduler.run(std::future::pending::<()>()).await })
}

/// Node name → zone of the four test nodes.
const NODES: [(&str, &str); 4] = [("a", "z1"), ("b", "z1"), ("x", "z2"), ("y", "z2")];

async fn four_nodes(client: &Arc<dyn Client>) {
    for (name, zone) in NODES {
        add_node(
            client,
            name,
            json!({"zone": zone, "kubernetes.io/hostname": name}),
            "8",
        )
        .await;
    }
}

/// Bound pods with `prefix` per zone, once `want` of them are bound.
async fn bound_per_zone(pods: &Api<Pod>, prefix: &str, want: usize) -> BTreeMap<String, usize> {
    wait_for(WAIT, &format!("{want} {prefix} pods bound"), || async {
        let list = pods.list(&ListParams::default()).await.ok()?;
        let mut zones = BTreeMap::new();
        let mut bound = 0;
        for p in &list.items {
            let name = p.metadata.name.as_deref().unwrap_or_default();
            let node = p.spec.as_ref().and_then(|s| s.node_name.as_deref());
            if !name.starts_with(prefix) || p.metadata.deletion_timestamp.is_some() {
                continue;
            }
            if let Some(node) = node {
                bound += 1;
                let zone = NODES.iter().find(|(n, _)| *n == node).map(|(_, z)| *z);
                *zones.entry(zone.unwrap_or("?").to_owned()).or_insert(0) += 1;
            }
        }
        (bound == want).then_some(zones)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_spread_follows_bound_and_deleted_pods() {
    let (_server, client) = server().await;
    four_nodes(&client).await;
    let _scheduler = start(client.clone());
    let spread = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
        "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}}]});
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // Created one after another: each is placed knowing where the last ones went.
    for i in 0..6 {
        add_pod(
            &client,
            &format!("web-{i}"),
            "100m",
            json!({"labels": {"app": "web"}}),
            spread.clone(),
        )
        .await;
    }
    let zones = bound_per_zone(&pods, "web-", 6).await;
    assert_eq!(zones.get("z1"), Some(&3), "{zones:?}");
    assert_eq!(zones.get("z2"), Some(&3), "{zones:?}");

    // Two of zone z2's pods go (terminating pods do not count, as gone ones): the
    // next two must land in z2.
    let list = pods.list(&ListParams::default()).await.expect("list");
    let in_z2: Vec<String> = list
        .items
        .iter()
        .filter(|p| {
            let node = p.spec.as_ref().and_then(|s| s.node_name.as_deref());
            matches!(node, Some("x" | "y"))
        })
        .filter_map(|p| p.metadata.name.clone())
        .take(2)
        .collect();
    for name in &in_z2 {
        pods.delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    // A pod created after the deletes and bound shows the scheduler has seen them
    // (one watch, in order).
    add_pod(&client, "marker", "100m", json!({}), json!({})).await;
    wait_for(WAIT, "the marker pod bound", || async {
        pods.get("marker").await.ok()?.spec?.node_name
    })
    .await;
    for i in 6..8 {
        add_pod(
            &client,
            &format!("web-{i}"),
            "100m",
            json!({"labels": {"app": "web"}}),
            spread.clone(),
        )
        .await;
    }
    let zones = bound_per_zone(&pods, "web-", 6).await;
    assert_eq!(zones.get("z2"), Some(&3), "{zones:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anti_affinity_allows_one_per_node_until_one_goes() {
    let (_server, client) = server().await;
    four_nodes(&client).await;
    let _scheduler = start(client.clone());
    let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"color": "green"}}, "topologyKey": "kubernetes.io/hostname"}]}}});
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for i in 0..5 {
        add_pod(
            &client,
            &format!("green-{i}"),
            "100m",
            json!({"labels": {"color": "green"}}),
            anti.clone(),
        )
        .await;
    }
    let zones = bound_per_zone(&pods, "green-", 4).await;
    assert_eq!(zones.values().sum::<usize>(), 4);
    let list = pods.list(&ListParams::default()).await.expect("list");
    let mut nodes: Vec<String> = list
        .items
        .iter()
        .filter_map(|p| p.spec.as_ref()?.node_name.clone())
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["a", "b", "x", "y"], "one green pod per node");
    let pending = list
        .items
        .iter()
        .find(|p| p.spec.as_ref().is_some_and(|s| s.node_name.is_none()))
        .and_then(|p| p.metadata.name.clone())
        .expect("one pod left pending");

    // One bound pod gone for good: the pending one takes its node.
    let victim = list
        .items
        .iter()
        .find(|p| p.spec.as_ref().is_some_and(|s| s.node_name.is_some()))
        .expect("a bound pod");
    let freed = victim.spec.as_ref().and_then(|s| s.node_name.clone());
    let name = victim.metadata.name.clone().unwrap_or_default();
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    pods.delete(&name, &now).await.expect("delete");
    let got = wait_for(WAIT, "the pending pod bound", || async {
        pods.get(&pending).await.ok()?.spec?.node_name
    })
    .await;
    assert_eq!(Some(got), freed);
}
