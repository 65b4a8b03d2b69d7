//! The disruption controller and the eviction subresource together: a budget's status
//! follows its pods, evictions are refused with 429 when they would violate it and
//! allowed again once the pods recover.

mod common;

use std::time::Duration;

use common::{cluster, wait_for};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use serde_json::json;
use skiff_core::client::{Api, ClientError, Patch, PatchParams, PostParams};

const WAIT: Duration = Duration::from_secs(20);

async fn ready_pod(pods: &Api<Pod>, name: &str, owner: Option<&ReplicaSet>) {
    let mut pod: Pod =
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
        .unwrap();
    if let Some(rs) = owner {
        pod.metadata.owner_references = Some(vec![skiff_controllers::pods::controller_ref(rs)]);
    }
    pods.create(&pod, &PostParams::default()).await.unwrap();
    let status = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
    pods.patch_status(name, &Patch::Merge(status), &PatchParams::default())
        .await
        .unwrap();
}

async fn evict(pods: &Api<Pod>, name: &str) -> Result<(), ClientError> {
    let body = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}});
    pods.create_subresource(name, "eviction", body, &PostParams::default())
        .await
        .map(|_| ())
}

async fn status_where(
    pdbs: &Api<PodDisruptionBudget>,
    name: &str,
    what: &str,
    check: impl Fn(&PodDisruptionBudgetStatus) -> bool,
) -> PodDisruptionBudgetStatus {
    wait_for(what, WAIT, || {
        let pdbs = pdbs.clone();
        let name = name.to_owned();
        let check = &check;
        async move { pdbs.get(&name).await.unwrap().status.filter(|s| check(s)) }
    })
    .await
}

#[tokio::test]
async fn evictions_respect_min_available() {
    let (_server, client) = cluster().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    for name in ["a", "b", "c"] {
        ready_pod(&pods, name, None).await;
    }
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}}))
    .unwrap();
    pdbs.create(&pdb, &PostParams::default()).await.unwrap();
    let ctl =
        tokio::spawn(skiff_controllers::disruption::run(client.clone()).for_each(|_| async {}));

    let s = status_where(&pdbs, "web", "the budget's status", |s| {
        s.current_healthy == 3
    })
    .await;
    assert_eq!(
        (
            s.desired_healthy,
            s.disruptions_allowed,
            s.expected_pods,
            s.observed_generation
        ),
        (2, 1, 3, Some(1))
    );
    let condition = &s.conditions.unwrap()[0];
    assert_eq!(
        (condition.type_.as_str(), condition.status.as_str()),
        ("DisruptionAllowed", "True")
    );

    evict(&pods, "a").await.unwrap();
    assert!(pods.get_opt("a").await.unwrap().is_none());
    // One disruption was allowed and is used: the next eviction is refused.
    let refused = evict(&pods, "b").await.unwrap_err();
    let ClientError::Api(status) = refused else {
        panic!("expected an API error, got {refused:?}");
    };
    assert_eq!(
        (status.code, status.reason.as_str()),
        (429, "TooManyRequests")
    );
    assert_eq!(
        status.message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert!(pods.get_opt("b").await.unwrap().is_some());
    let s = status_where(&pdbs, "web", "a to leave the count", |s| {
        s.current_healthy == 2 && s.disrupted_pods.is_none()
    })
    .await;
    assert_eq!(s.disruptions_allowed, 0);
    assert_eq!(s.conditions.unwrap()[0].reason, "InsufficientPods");

    // A replacement becomes ready: one disruption allowed again.
    ready_pod(&pods, "d", None).await;
    status_where(&pdbs, "web", "a disruption allowed again", |s| {
        s.disruptions_allowed == 1
    })
    .await;
    evict(&pods, "b").await.unwrap();
    assert!(pods.get_opt("b").await.unwrap().is_none());
    ctl.abort();
}

#[tokio::test]
async fn max_unavailable_counts_the_controllers_replicas() {
    let (_server, client) = cluster().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs: ReplicaSet = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}))
    .unwrap();
    let rs = sets.create(&rs, &PostParams::default()).await.unwrap();
    // Only three of the four replicas exist and are ready.
    for name in ["a", "b", "c"] {
        ready_pod(&pods, name, Some(&rs)).await;
    }
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"maxUnavailable": "50%", "selector": {"matchLabels": {"app": "web"}}}}))
    .unwrap();
    pdbs.create(&pdb, &PostParams::default()).await.unwrap();
    let ctl =
        tokio::spawn(skiff_controllers::disruption::run(client.clone()).for_each(|_| async {}));
    let s = status_where(&pdbs, "web", "the budget's status", |s| {
        s.expected_pods == 4
    })
    .await;
    assert_eq!(
        (s.current_healthy, s.desired_healthy, s.disruptions_allowed),
        (3, 2, 1)
    );

    // A pod without a controller: the budget fails safe.
    ready_pod(&pods, "stray", None).await;
    let s = status_where(&pdbs, "web", "the budget to fail safe", |s| {
        s.conditions
            .as_ref()
            .is_some_and(|c| c[0].reason == "SyncFailed")
    })
    .await;
    assert_eq!(s.disruptions_allowed, 0);
    assert!(s.conditions.unwrap()[0].message.contains("stray"));
    ctl.abort();
}
