//! The ReplicaSet controller against an in-process API server.

mod common;

use std::time::Duration;

use common::{cluster, wait_for};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use skiff_core::client::{Api, DeleteParams, Patch, PostParams};

const WAIT: Duration = Duration::from_secs(30);

fn rs(name: &str, replicas: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}
            }
        }
    }))
    .unwrap()
}

fn bare_pod(name: &str, app: &str) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": app}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
    .unwrap()
}

async fn owned_pods(pods: &Api<Pod>, rs_uid: &str) -> Vec<Pod> {
    pods.list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none()
                && p.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.uid == rs_uid && r.controller == Some(true))
        })
        .collect()
}

async fn wait_owned(pods: &Api<Pod>, uid: &str, n: usize) -> Vec<Pod> {
    wait_for(&format!("{n} owned pods"), WAIT, || {
        let (pods, uid) = (pods.clone(), uid.to_owned());
        async move {
            let owned = owned_pods(&pods, &uid).await;
            (owned.len() == n).then_some(owned)
        }
    })
    .await
}

async fn mark_ready(pods: &Api<Pod>, name: &str) {
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(skiff_core::runtime::now());
    let status = json!({"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": now}]}});
    pods.patch_status(name, &Patch::Merge(status), &Default::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn creates_scales_and_reports_status() {
    let (_server, client) = cluster().await;
    let controller =
        tokio::spawn(skiff_controllers::replicaset::run(client.clone()).for_each(|_| async {}));
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = sets
        .create(&rs("web", 3), &PostParams::default())
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();

    let owned = wait_owned(&pods, &uid, 3).await;
    for p in &owned {
        assert!(p.metadata.name.as_deref().unwrap().starts_with("web-"));
        assert_eq!(p.metadata.labels.as_ref().unwrap()["app"], "web");
    }
    // No more than three, even after the controller has seen them all.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(owned_pods(&pods, &uid).await.len(), 3);

    for p in &owned[..2] {
        mark_ready(&pods, p.metadata.name.as_deref().unwrap()).await;
    }
    let status = wait_for("status with 2 ready", WAIT, || {
        let sets = sets.clone();
        async move {
            let s = sets.get("web").await.unwrap().status?;
            (s.ready_replicas == Some(2)).then_some(s)
        }
    })
    .await;
    assert_eq!(status.replicas, 3);
    assert_eq!(status.available_replicas, Some(2));
    assert_eq!(status.fully_labeled_replicas, Some(3));
    assert_eq!(status.observed_generation, created.metadata.generation);

    // Scale down to one: the not-ready pod goes first.
    let scale = Patch::Merge(json!({"spec": {"replicas": 1}}));
    sets.patch("web", &scale, &Default::default())
        .await
        .unwrap();
    let left = wait_owned(&pods, &uid, 1).await;
    assert_ne!(
        left[0].metadata.name, owned[2].metadata.name,
        "the unready pod was deleted first"
    );
    wait_for("status.replicas 1", WAIT, || {
        let sets = sets.clone();
        async move { (sets.get("web").await.unwrap().status?.replicas == 1).then_some(()) }
    })
    .await;

    // A deleted pod is replaced.
    pods.delete(
        left[0].metadata.name.as_deref().unwrap(),
        &DeleteParams::default(),
    )
    .await
    .unwrap();
    let replaced = wait_owned(&pods, &uid, 1).await;
    assert_ne!(replaced[0].metadata.name, left[0].metadata.name);
    controller.abort();
}

#[tokio::test]
async fn adopts_matching_orphans_and_releases_pods_that_stop_matching() {
    let (_server, client) = cluster().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&bare_pod("stray", "db"), &PostParams::default())
        .await
        .unwrap();
    pods.create(&bare_pod("unrelated", "other"), &PostParams::default())
        .await
        .unwrap();
    let controller =
        tokio::spawn(skiff_controllers::replicaset::run(client.clone()).for_each(|_| async {}));
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let uid = sets
        .create(&rs("db", 2), &PostParams::default())
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();

    let owned = wait_owned(&pods, &uid, 2).await;
    assert!(
        owned
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some("stray")),
        "the orphan was adopted"
    );
    let unrelated = pods.get("unrelated").await.unwrap();
    assert!(unrelated.metadata.owner_references.is_none());

    // Relabel the adopted pod: it is released and replaced.
    let relabel = Patch::Merge(json!({"metadata": {"labels": {"app": "elsewhere"}}}));
    pods.patch("stray", &relabel, &Default::default())
        .await
        .unwrap();
    wait_for("the relabelled pod to be released", WAIT, || {
        let pods = pods.clone();
        async move {
            pods.get("stray")
                .await
                .unwrap()
                .metadata
                .owner_references
                .unwrap_or_default()
                .is_empty()
                .then_some(())
        }
    })
    .await;
    let now_owned = wait_owned(&pods, &uid, 2).await;
    assert!(now_owned
        .iter()
        .all(|p| p.metadata.name.as_deref() != Some("stray")));
    controller.abort();
}

#[tokio::test]
async fn deleting_a_replicaset_collects_its_pods_with_the_garbage_collector() {
    let (_server, client) = cluster().await;
    let rsc =
        tokio::spawn(skiff_controllers::replicaset::run(client.clone()).for_each(|_| async {}));
    let gc = tokio::spawn(skiff_controllers::gc::GarbageCollector::new(client.clone()).run());
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let uid = sets
        .create(&rs("tmp", 2), &PostParams::default())
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    wait_owned(&pods, &uid, 2).await;
    sets.delete("tmp", &DeleteParams::foreground())
        .await
        .unwrap();
    wait_for("the replica set and its pods to be gone", WAIT, || {
        let (pods, sets) = (pods.clone(), sets.clone());
        async move {
            let left = pods.list(&Default::default()).await.unwrap().items.len();
            (left == 0 && sets.get_opt("tmp").await.unwrap().is_none()).then_some(())
        }
    })
    .await;
    rsc.abort();
    gc.abort();
}
