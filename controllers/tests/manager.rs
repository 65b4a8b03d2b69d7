//! Two controller managers with leader election: only the leader acts, and when it
//! dies the other takes over within the lease duration.

mod common;

use std::time::Duration;

use common::{cluster, wait_for};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use skiff_controllers::manager::{Kind, LEASE_NAME, LEASE_NAMESPACE};
use skiff_controllers::ControllerManager;
use skiff_core::client::{Api, PostParams};
use skiff_core::runtime::leader::LeaseConfig;

fn rs(name: &str) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
    }))
    .unwrap()
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt(LEASE_NAME)
        .await
        .unwrap()?
        .spec?
        .holder_identity
}

#[tokio::test]
async fn only_the_leader_acts_and_the_other_takes_over_when_it_dies() {
    let (_server, client) = cluster().await;
    let config = LeaseConfig {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_millis(1500),
        retry_period: Duration::from_millis(200),
    };
    let manager = |id: &str| {
        let m = ControllerManager::new(client.clone())
            .only(&[Kind::ReplicaSet])
            .leader_election(id, config);
        tokio::spawn(m.run())
    };
    let a = manager("a");
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    wait_for("a to lead", Duration::from_secs(10), || {
        let leases = leases.clone();
        async move { (holder(&leases).await.as_deref() == Some("a")).then_some(()) }
    })
    .await;
    let b = manager("b");

    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    sets.create(&rs("one"), &PostParams::default())
        .await
        .unwrap();
    wait_for("a pod for one", Duration::from_secs(30), || {
        let pods = pods.clone();
        async move { (pods.list(&Default::default()).await.unwrap().items.len() == 1).then_some(()) }
    })
    .await;
    // b does not act: one pod, not two (a second active controller without a shared
    // cache would race to create its own).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pods.list(&Default::default()).await.unwrap().items.len(), 1);
    assert_eq!(holder(&leases).await.as_deref(), Some("a"));

    // a dies without releasing the lease; b takes over within the lease duration
    // (plus a retry period and its start-up).
    a.abort();
    let died = tokio::time::Instant::now();
    wait_for("b to lead", Duration::from_secs(10), || {
        let leases = leases.clone();
        async move { (holder(&leases).await.as_deref() == Some("b")).then_some(()) }
    })
    .await;
    assert!(
        died.elapsed() < Duration::from_secs(4),
        "took {:?}",
        died.elapsed()
    );
    let lease = leases.get(LEASE_NAME).await.unwrap().spec.unwrap();
    assert_eq!(lease.lease_transitions, Some(1));

    sets.create(&rs("two"), &PostParams::default())
        .await
        .unwrap();
    wait_for("b to create a pod for two", Duration::from_secs(30), || {
        let pods = pods.clone();
        async move { (pods.list(&Default::default()).await.unwrap().items.len() == 2).then_some(()) }
    })
    .await;
    b.abort();
}
