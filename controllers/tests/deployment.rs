//! The Deployment controller (with the ReplicaSet controller and a fake node that
//! marks pods ready) against an in-process API server.

mod common;

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{cluster, wait_for};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use skiff_core::client::{Api, Client, Patch, PostParams};

const WAIT: Duration = Duration::from_secs(60);

fn deployment(name: &str, replicas: i32, image: &str, strategy: serde_json::Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": strategy,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]}
            }
        }
    }))
    .unwrap()
}

/// A fake node: marks every pod whose image is not `bad` running and ready.
fn fake_node(client: Arc<dyn Client>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let pods: Api<Pod> = Api::namespaced(client, "default");
        loop {
            for pod in pods
                .list(&Default::default())
                .await
                .map(|l| l.items)
                .unwrap_or_default()
            {
                let image = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.image.clone());
                let ready = pod
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready"));
                if ready
                    || image.as_deref() == Some("bad")
                    || pod.metadata.deletion_timestamp.is_some()
                {
                    continue;
                }
                let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    skiff_core::runtime::now(),
                );
                let status = json!({"status": {"phase": "Running", "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": now}]}});
                let _ = pods
                    .patch_status(
                        pod.metadata.name.as_deref().unwrap_or_default(),
                        &Patch::Merge(status),
                        &Default::default(),
                    )
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

struct Cluster {
    client: Arc<dyn Client>,
    deployments: Api<Deployment>,
    sets: Api<ReplicaSet>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn start() -> Cluster {
    let (_server, client) = cluster().await;
    let tasks = vec![
        tokio::spawn(skiff_controllers::replicaset::run(client.clone()).for_each(|_| async {})),
        tokio::spawn(skiff_controllers::deployment::run(client.clone()).for_each(|_| async {})),
        fake_node(client.clone()),
    ];
    Cluster {
        deployments: Api::namespaced(client.clone(), "default"),
        sets: Api::namespaced(client.clone(), "default"),
        client,
        tasks,
    }
}

/// Waits for what `kubectl rollout status` waits for.
async fn rolled_out(c: &Cluster, name: &str) -> Deployment {
    wait_for("the rollout to complete", WAIT, || {
        let api = c.deployments.clone();
        let name = name.to_owned();
        async move {
            let d = api.get(&name).await.unwrap();
            let s = d.status.clone()?;
            let want = d.spec.as_ref()?.replicas?;
            (s.observed_generation >= d.metadata.generation
                && s.updated_replicas == Some(want)
                && s.replicas == Some(want)
                && s.available_replicas == Some(want))
            .then_some(d)
        }
    })
    .await
}

fn condition<'a>(
    d: &'a Deployment,
    type_: &str,
) -> Option<&'a k8s_openapi::api::apps::v1::DeploymentCondition> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

fn rev(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<String> {
    meta.annotations
        .as_ref()?
        .get("deployment.kubernetes.io/revision")
        .cloned()
}

async fn set_image(c: &Cluster, name: &str, image: &str) {
    let patch = Patch::Merge(
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}),
    );
    c.deployments
        .patch(name, &patch, &Default::default())
        .await
        .unwrap();
}

/// Samples the sum of ReplicaSet replicas until stopped; returns the largest seen.
fn max_total(sets: Api<ReplicaSet>) -> (Arc<AtomicI32>, tokio::task::JoinHandle<()>) {
    let max = Arc::new(AtomicI32::new(0));
    let m = max.clone();
    let task = tokio::spawn(async move {
        loop {
            let total: i32 = sets
                .list(&Default::default())
                .await
                .map(|l| l.items)
                .unwrap_or_default()
                .iter()
                .map(|r| r.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0))
                .sum();
            m.fetch_max(total, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    (max, task)
}

#[tokio::test]
async fn rolls_out_then_rolls_a_new_template_within_surge_and_back() {
    let c = start().await;
    c.deployments.create(&deployment("web", 4, "v1", json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})), &PostParams::default()).await.unwrap();
    let d = rolled_out(&c, "web").await;
    assert_eq!(rev(&d.metadata).as_deref(), Some("1"));
    assert_eq!(condition(&d, "Available").unwrap().status, "True");
    let progressing = condition(&d, "Progressing").unwrap();
    assert_eq!(
        progressing.reason.as_deref(),
        Some("NewReplicaSetAvailable")
    );
    let first = c.sets.list(&Default::default()).await.unwrap().items;
    assert_eq!(first.len(), 1);
    assert!(first[0]
        .metadata
        .name
        .as_deref()
        .unwrap()
        .starts_with("web-"));
    assert!(first[0]
        .metadata
        .labels
        .as_ref()
        .unwrap()
        .contains_key("pod-template-hash"));

    let (max, sampler) = max_total(c.sets.clone());
    set_image(&c, "web", "v2").await;
    wait_for("revision 2", WAIT, || {
        let api = c.deployments.clone();
        async move {
            (rev(&api.get("web").await.unwrap().metadata).as_deref() == Some("2")).then_some(())
        }
    })
    .await;
    let d = rolled_out(&c, "web").await;
    sampler.abort();
    assert!(
        max.load(Ordering::SeqCst) <= 5,
        "replicas + maxSurge at most, saw {}",
        max.load(Ordering::SeqCst)
    );
    let sets = c.sets.list(&Default::default()).await.unwrap().items;
    assert_eq!(sets.len(), 2);
    let old = sets
        .iter()
        .find(|r| r.metadata.name == first[0].metadata.name)
        .unwrap();
    assert_eq!(old.spec.as_ref().unwrap().replicas, Some(0));
    assert_eq!(d.status.unwrap().updated_replicas, Some(4));

    // Back to v1 (what `kubectl rollout undo` does): the first ReplicaSet returns as
    // revision 3; no new one is made.
    set_image(&c, "web", "v1").await;
    wait_for(
        "the first replica set to be revision 3 with 4 replicas",
        WAIT,
        || {
            let sets = c.sets.clone();
            let name = first[0].metadata.name.clone().unwrap();
            async move {
                let rs = sets.get(&name).await.unwrap();
                (rev(&rs.metadata).as_deref() == Some("3") && rs.spec?.replicas == Some(4))
                    .then_some(())
            }
        },
    )
    .await;
    rolled_out(&c, "web").await;
    assert_eq!(
        c.sets.list(&Default::default()).await.unwrap().items.len(),
        2
    );
}

#[tokio::test]
async fn a_pod_that_never_gets_ready_stalls_the_rollout_past_its_deadline() {
    let c = start().await;
    let mut d = deployment(
        "stuck",
        3,
        "v1",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}),
    );
    d.spec.as_mut().unwrap().progress_deadline_seconds = Some(2);
    c.deployments
        .create(&d, &PostParams::default())
        .await
        .unwrap();
    rolled_out(&c, "stuck").await;
    set_image(&c, "stuck", "bad").await;
    let d = wait_for("ProgressDeadlineExceeded", WAIT, || {
        let api = c.deployments.clone();
        async move {
            let d = api.get("stuck").await.unwrap();
            (condition(&d, "Progressing")?.reason.as_deref() == Some("ProgressDeadlineExceeded"))
                .then_some(d)
        }
    })
    .await;
    assert_eq!(condition(&d, "Progressing").unwrap().status, "False");
    let s = d.status.unwrap();
    assert_eq!(s.updated_replicas, Some(1), "one surge pod, never ready");
    assert_eq!(s.available_replicas, Some(3), "the old pods all stay");
    assert_eq!(
        condition(&c.deployments.get("stuck").await.unwrap(), "Available")
            .unwrap()
            .status,
        "True"
    );
}

#[tokio::test]
async fn recreate_scales_the_old_set_to_zero_first_and_history_is_pruned() {
    let c = start().await;
    let mut d = deployment("db", 2, "v1", json!({"type": "Recreate"}));
    d.spec.as_mut().unwrap().revision_history_limit = Some(1);
    c.deployments
        .create(&d, &PostParams::default())
        .await
        .unwrap();
    rolled_out(&c, "db").await;
    let (max, sampler) = max_total(c.sets.clone());
    set_image(&c, "db", "v2").await;
    wait_for("revision 2", WAIT, || {
        let api = c.deployments.clone();
        async move {
            (rev(&api.get("db").await.unwrap().metadata).as_deref() == Some("2")).then_some(())
        }
    })
    .await;
    rolled_out(&c, "db").await;
    sampler.abort();
    assert!(
        max.load(Ordering::SeqCst) <= 2,
        "never old and new at once, saw {}",
        max.load(Ordering::SeqCst)
    );

    for image in ["v3", "v4"] {
        set_image(&c, "db", image).await;
        wait_for("the image rolled out", WAIT, || {
            let sets = c.sets.clone();
            let image = image.to_owned();
            async move {
                let items = sets.list(&Default::default()).await.unwrap().items;
                items
                    .iter()
                    .any(|r| {
                        r.spec
                            .as_ref()
                            .and_then(|s| s.template.as_ref())
                            .and_then(|t| t.spec.as_ref())
                            .map(|s| s.containers[0].image.clone())
                            == Some(Some(image.clone()))
                            && r.status.as_ref().and_then(|s| s.available_replicas) == Some(2)
                    })
                    .then_some(())
            }
        })
        .await;
    }
    rolled_out(&c, "db").await;
    wait_for("history pruned to one old replica set", WAIT, || {
        let sets = c.sets.clone();
        async move { (sets.list(&Default::default()).await.unwrap().items.len() == 2).then_some(()) }
    })
    .await;
    let _ = &c.client;
}
