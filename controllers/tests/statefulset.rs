//! The StatefulSet controller against an in-process API server. With no node agent,
//! the tests play the kubelet: they mark pods Running and Ready through the status
//! subresource.

mod common;

use std::time::Duration;

use common::{cluster, wait_for};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use serde_json::json;
use skiff_controllers::revisions::HASH_LABEL;
use skiff_controllers::statefulset::identity::{POD_INDEX_LABEL, POD_NAME_LABEL};
use skiff_core::client::{Api, ListParams, Patch, PostParams, WatchEvent};

const WAIT: Duration = Duration::from_secs(30);

fn set(name: &str, replicas: i32, policy: &str) -> StatefulSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": "nginx",
            "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
        }
    }))
    .unwrap()
}

async fn pod_names(pods: &Api<Pod>) -> Vec<String> {
    let mut names: Vec<String> = pods
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    names
}

/// Waits for pod `name` (at `revision`, if given).
async fn wait_pod(pods: &Api<Pod>, name: &str, revision: Option<&str>) -> Pod {
    wait_for(&format!("pod {name} at {revision:?}"), WAIT, || {
        let pods = pods.clone();
        async move {
            let p = pods.get_opt(name).await.unwrap()?;
            let rev = p.metadata.labels.as_ref()?.get(HASH_LABEL)?.clone();
            revision.is_none_or(|r| r == rev).then_some(p)
        }
    })
    .await
}

/// Marks pod `name` Running and Ready, as a kubelet would.
async fn mark_ready(pods: &Api<Pod>, name: &str) {
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(skiff_core::runtime::now());
    let status = json!({"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": now}]}});
    pods.patch_status(name, &Patch::Merge(status), &Default::default())
        .await
        .unwrap();
}

/// Waits for pod `name` (at `revision`, if given), then marks it Running and Ready.
async fn make_ready(pods: &Api<Pod>, name: &str, revision: Option<&str>) -> Pod {
    let pod = wait_pod(pods, name, revision).await;
    mark_ready(pods, name).await;
    pod
}

async fn wait_status(
    sets: &Api<StatefulSet>,
    name: &str,
    what: &str,
    check: impl Fn(&StatefulSetStatus) -> bool,
) -> StatefulSetStatus {
    wait_for(what, WAIT, || {
        let sets = sets.clone();
        let check = &check;
        async move {
            let s = sets.get(name).await.unwrap().status?;
            check(&s).then_some(s)
        }
    })
    .await
}

#[tokio::test]
async fn ordered_creation_claims_and_reverse_scale_down() {
    let (_server, client) = cluster().await;
    let controller =
        tokio::spawn(skiff_controllers::statefulset::run(client.clone()).for_each(|_| async {}));
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    sets.create(&set("web", 3, "OrderedReady"), &PostParams::default())
        .await
        .unwrap();

    for ord in 0..3 {
        let name = format!("web-{ord}");
        let pod = wait_for(&format!("pod {name}"), WAIT, || {
            let pods = pods.clone();
            let name = name.clone();
            async move { pods.get_opt(&name).await.unwrap() }
        })
        .await;
        // The controller has seen this pod (not ready) and reported it: the next one
        // must not exist yet.
        wait_status(&sets, "web", &format!("{} replicas seen", ord + 1), |s| {
            s.replicas == ord + 1
        })
        .await;
        assert!(
            pods.get_opt(&format!("web-{}", ord + 1))
                .await
                .unwrap()
                .is_none(),
            "web-{} created before web-{ord} was ready",
            ord + 1
        );
        let labels = pod.metadata.labels.clone().unwrap();
        assert_eq!(labels[POD_NAME_LABEL], name);
        assert_eq!(labels[POD_INDEX_LABEL], ord.to_string());
        assert!(labels[HASH_LABEL].starts_with("web-"));
        let spec = pod.spec.clone().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some(name.as_str()));
        assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
        let claim = format!("data-web-{ord}");
        let volume = spec
            .volumes
            .unwrap()
            .into_iter()
            .find(|v| v.name == "data")
            .unwrap();
        assert_eq!(volume.persistent_volume_claim.unwrap().claim_name, claim);
        assert!(
            claims.get_opt(&claim).await.unwrap().is_some(),
            "{claim} exists"
        );
        make_ready(&pods, &name, None).await;
    }
    let status = wait_status(&sets, "web", "3 ready", |s| s.ready_replicas == Some(3)).await;
    assert_eq!(status.current_revision, status.update_revision);
    assert_eq!(status.updated_replicas, Some(3));
    assert_eq!(status.available_replicas, Some(3));
    assert_eq!(status.observed_generation, Some(1));
    let revisions: Api<ControllerRevision> = Api::namespaced(client.clone(), "default");
    let revs = revisions.list(&Default::default()).await.unwrap().items;
    assert_eq!(revs.len(), 1);
    assert_eq!(revs[0].revision, 1);
    assert_eq!(revs[0].metadata.name, status.update_revision);

    // Scale to one: web-2 goes first, web-1 only after.
    let rv = pods
        .list(&Default::default())
        .await
        .unwrap()
        .metadata
        .resource_version;
    let mut events = pods
        .watch(&ListParams {
            resource_version: rv,
            ..ListParams::default()
        })
        .await
        .unwrap();
    sets.patch(
        "web",
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
        &Default::default(),
    )
    .await
    .unwrap();
    let mut deleted = Vec::new();
    tokio::time::timeout(WAIT, async {
        while deleted.len() < 2 {
            if let Some(Ok(WatchEvent::Deleted(p))) = events.next().await {
                deleted.extend(p.metadata.name);
            }
        }
    })
    .await
    .expect("two pods deleted");
    assert_eq!(
        deleted,
        ["web-2", "web-1"],
        "the highest ordinal went first"
    );
    wait_for("one pod left", WAIT, || {
        let pods = pods.clone();
        async move { (pod_names(&pods).await == ["web-0"]).then_some(()) }
    })
    .await;
    // Claims are retained.
    let kept = claims.list(&Default::default()).await.unwrap().items;
    assert_eq!(kept.len(), 3);
    wait_status(&sets, "web", "1 replica", |s| s.replicas == 1).await;
    controller.abort();
}

#[tokio::test]
async fn parallel_creates_every_pod_at_once() {
    let (_server, client) = cluster().await;
    let controller =
        tokio::spawn(skiff_controllers::statefulset::run(client.clone()).for_each(|_| async {}));
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    sets.create(&set("db", 3, "Parallel"), &PostParams::default())
        .await
        .unwrap();
    wait_for("three pods, none ready", WAIT, || {
        let pods = pods.clone();
        async move { (pod_names(&pods).await == ["db-0", "db-1", "db-2"]).then_some(()) }
    })
    .await;
    controller.abort();
}

#[tokio::test]
async fn rolling_update_with_partition_goes_from_the_top() {
    let (_server, client) = cluster().await;
    let controller =
        tokio::spawn(skiff_controllers::statefulset::run(client.clone()).for_each(|_| async {}));
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    sets.create(&set("web", 3, "OrderedReady"), &PostParams::default())
        .await
        .unwrap();
    for ord in 0..3 {
        make_ready(&pods, &format!("web-{ord}"), None).await;
    }
    let first = wait_status(&sets, "web", "3 ready", |s| s.ready_replicas == Some(3)).await;
    let rev1 = first.update_revision.clone().unwrap();

    // A new image, but only ordinals >= 2 may take it.
    let change = json!({"spec": {
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
        "template": {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}}});
    sets.patch("web", &Patch::Strategic(change), &Default::default())
        .await
        .unwrap();
    let s = wait_status(&sets, "web", "a new update revision", |s| {
        s.update_revision.as_deref() != Some(rev1.as_str())
    })
    .await;
    let rev2 = s.update_revision.unwrap();
    let updated = make_ready(&pods, "web-2", Some(&rev2)).await;
    assert_eq!(
        updated.spec.unwrap().containers[0].image.as_deref(),
        Some("busybox:2")
    );
    let s = wait_status(&sets, "web", "web-2 updated and ready", |s| {
        s.updated_replicas == Some(1) && s.ready_replicas == Some(3)
    })
    .await;
    assert_eq!(s.current_revision.as_deref(), Some(rev1.as_str()));
    assert_eq!(s.current_replicas, Some(2));
    for ord in 0..2 {
        let p = pods.get(&format!("web-{ord}")).await.unwrap();
        assert_eq!(
            p.metadata.labels.unwrap()[HASH_LABEL],
            rev1,
            "web-{ord} below the partition"
        );
    }

    // Partition 0: web-1, then web-0.
    sets.patch(
        "web",
        &Patch::Merge(json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}})),
        &Default::default(),
    )
    .await
    .unwrap();
    wait_pod(&pods, "web-1", Some(&rev2)).await;
    // web-0 keeps the old revision until web-1 is ready again.
    wait_status(&sets, "web", "web-1 updated, not ready", |s| {
        s.updated_replicas == Some(2) && s.ready_replicas == Some(2)
    })
    .await;
    let web0 = pods.get("web-0").await.unwrap();
    assert_eq!(web0.metadata.labels.unwrap()[HASH_LABEL], rev1);
    mark_ready(&pods, "web-1").await;
    make_ready(&pods, "web-0", Some(&rev2)).await;
    let s = wait_status(&sets, "web", "rollout complete", |s| {
        s.current_revision.as_deref() == Some(rev2.as_str())
            && s.updated_replicas == Some(3)
            && s.ready_replicas == Some(3)
    })
    .await;
    assert_eq!(s.current_replicas, Some(3));
    assert_eq!(s.observed_generation, Some(3));
    let revisions: Api<ControllerRevision> = Api::namespaced(client.clone(), "default");
    let mut numbers: Vec<i64> = revisions
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|r| r.revision)
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, [1, 2]);
    controller.abort();
}

#[tokio::test]
async fn claims_follow_the_retention_policy() {
    let (_server, client) = cluster().await;
    let controller =
        tokio::spawn(skiff_controllers::statefulset::run(client.clone()).for_each(|_| async {}));
    let gc = tokio::spawn(skiff_controllers::gc::GarbageCollector::new(client.clone()).run());
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let mut s = set("db", 2, "Parallel");
    s.spec
        .as_mut()
        .unwrap()
        .persistent_volume_claim_retention_policy = Some(
        serde_json::from_value(json!({"whenDeleted": "Delete", "whenScaled": "Delete"})).unwrap(),
    );
    let created = sets.create(&s, &PostParams::default()).await.unwrap();
    let uid = created.metadata.uid.unwrap();
    let claim_names = || {
        let claims = claims.clone();
        async move {
            let mut names: Vec<String> = claims
                .list(&Default::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .filter(|c| c.metadata.deletion_timestamp.is_none())
                .filter_map(|c| c.metadata.name)
                .collect();
            names.sort();
            names
        }
    };
    wait_for("two claims", WAIT, || async {
        (claim_names().await == ["data-db-0", "data-db-1"]).then_some(())
    })
    .await;
    let claim = claims.get("data-db-0").await.unwrap();
    assert!(
        claim
            .metadata
            .owner_references
            .unwrap()
            .iter()
            .any(|r| r.uid == uid && r.kind == "StatefulSet"),
        "whenDeleted: Delete makes the set an owner"
    );
    sets.patch(
        "db",
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
        &Default::default(),
    )
    .await
    .unwrap();
    wait_for("the condemned pod's claim collected", WAIT, || async {
        (claim_names().await == ["data-db-0"]).then_some(())
    })
    .await;
    gc.abort();
    controller.abort();
}

#[tokio::test]
async fn orphans_named_for_the_set_are_adopted() {
    let (_server, client) = cluster().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for name in ["web-0", "stranger"] {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}
        }))
        .unwrap();
        pods.create(&pod, &PostParams::default()).await.unwrap();
    }
    let controller =
        tokio::spawn(skiff_controllers::statefulset::run(client.clone()).for_each(|_| async {}));
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let created = sets
        .create(&set("web", 1, "OrderedReady"), &PostParams::default())
        .await
        .unwrap();
    let uid = created.metadata.uid.unwrap();
    wait_for("web-0 adopted", WAIT, || {
        let (pods, uid) = (pods.clone(), uid.clone());
        async move {
            let p = pods.get("web-0").await.unwrap();
            p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|r| r.uid == uid && r.controller == Some(true))
                .then_some(())
        }
    })
    .await;
    wait_status(&sets, "web", "the adopted pod counted", |s| s.replicas == 1).await;
    let stranger = pods.get("stranger").await.unwrap();
    assert!(stranger.metadata.owner_references.is_none(), "not a member");
    controller.abort();
}
