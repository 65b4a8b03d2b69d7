//! Preemption against an in-process API server: a high-priority pod that fits
//! nowhere evicts lower-priority pods from the node where that violates no
//! PodDisruptionBudget, is nominated there and bound; a pod with
//! `preemptionPolicy: Never` evicts nothing.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{add_node, add_pod, finish_terminating_pods, server, wait_for};
use k8s_openapi::api::core::v1::{Event, Pod};
use serde_json::json;
use skiff_core::client::{Api, Client, ObjectTarget, PostParams, ResourceRef};
use skiff_sched::scheduler::{Scheduler, SchedulerConfig};

const WAIT: Duration = Duration::from_secs(30);

fn start(client: Arc<dyn Client>) -> tokio::task::JoinHandle<()> {
    let scheduler = Scheduler::new(client, SchedulerConfig::default()).expect("scheduler builds");
    tokio::spawn(async move { scheduler.run(std::future::pending::<()>()).await })
}

async fn node_of(pods: &Api<Pod>, name: &str) -> Option<String> {
    pods.get(name).await.ok()?.spec?.node_name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_priority_pod_preempts_where_no_budget_is_violated() {
    let (_server, client) = server().await;
    add_node(&client, "protected", json!({}), "2").await;
    add_node(&client, "free", json!({}), "2").await;
    let kubelet = tokio::spawn(finish_terminating_pods(client.clone()));
    let scheduler = start(client.clone());
    let pdbs = ResourceRef::new("policy", "v1", "poddisruptionbudgets", true);
    client
        .create(
            &ObjectTarget::collection(&pdbs, Some("default")),
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": {"name": "keep-db"},
                "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}}}),
            &PostParams::default(),
        )
        .await
        .expect("PDB created");

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // Fill both nodes with low-priority pods: db pods (under the budget) on one,
    // batch pods on the other.
    for (name, app, node) in [
        ("db-1", "db", "protected"),
        ("db-2", "db", "protected"),
        ("batch-1", "batch", "free"),
        ("batch-2", "batch", "free"),
    ] {
        add_pod(&client, name, "1", json!({"labels": {"app": app}}), json!({"priority": 0, "nodeSelector": {}, "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}}}})).await;
    }
    for (name, node) in [
        ("db-1", "protected"),
        ("db-2", "protected"),
        ("batch-1", "free"),
        ("batch-2", "free"),
    ] {
        let got = wait_for(WAIT, name, || async { node_of(&pods, name).await }).await;
        assert_eq!(got, node, "{name}");
    }

    add_pod(&client, "urgent", "2", json!({}), json!({"priority": 1000})).await;
    let got = wait_for(WAIT, "the preemptor to be bound", || async {
        node_of(&pods, "urgent").await
    })
    .await;
    assert_eq!(got, "free");
    // The batch pods were evicted; the budget kept the db pods.
    for gone in ["batch-1", "batch-2"] {
        wait_for(WAIT, gone, || async {
            pods.get_opt(gone)
                .await
                .ok()
                .and_then(|p| p.is_none().then_some(()))
        })
        .await;
    }
    for kept in ["db-1", "db-2"] {
        assert_eq!(
            node_of(&pods, kept).await.as_deref(),
            Some("protected"),
            "{kept}"
        );
    }
    let preemptor = pods.get("urgent").await.expect("preemptor");
    assert_eq!(
        preemptor
            .status
            .and_then(|s| s.nominated_node_name)
            .as_deref(),
        Some("free"),
        "the preemptor was nominated to the node it preempted on"
    );
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let preempted = wait_for(WAIT, "Preempted events", || async {
        let list = events.list(&Default::default()).await.ok()?;
        let mut names: Vec<String> = list
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("Preempted"))
            .filter_map(|e| e.involved_object.name)
            .collect();
        names.sort();
        (names.len() == 2).then_some(names)
    })
    .await;
    assert_eq!(preempted, vec!["batch-1", "batch-2"]);
    scheduler.abort();
    kubelet.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preemption_policy_never_evicts_nothing() {
    let (_server, client) = server().await;
    add_node(&client, "n1", json!({}), "1").await;
    let kubelet = tokio::spawn(finish_terminating_pods(client.clone()));
    let scheduler = start(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    add_pod(&client, "low", "1", json!({}), json!({"priority": 0})).await;
    wait_for(WAIT, "low bound", || async { node_of(&pods, "low").await }).await;

    add_pod(
        &client,
        "polite",
        "1",
        json!({}),
        json!({"priority": 1000, "preemptionPolicy": "Never"}),
    )
    .await;
    let message = wait_for(WAIT, "the PodScheduled condition", || async {
        let p = pods.get("polite").await.ok()?;
        p.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")?
            .message
    })
    .await;
    assert_eq!(
        message,
        "0/1 nodes are available: 1 Insufficient cpu. not eligible due to preemptionPolicy=Never."
    );
    assert_eq!(node_of(&pods, "low").await.as_deref(), Some("n1"));
    assert!(pods
        .get("low")
        .await
        .expect("low")
        .metadata
        .deletion_timestamp
        .is_none());
    scheduler.abort();
    kubelet.abort();
}
