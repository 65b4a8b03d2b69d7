//! The garbage collector against an in-process API server: background, foreground
//! and orphan propagation, and dangling references.

mod common;

use std::time::Duration;

use common::{cluster, wait_for};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::json;
use skiff_controllers::gc::GarbageCollector;
use skiff_core::client::{Api, DeleteParams, PostParams};

const WAIT: Duration = Duration::from_secs(30);

fn cm(name: &str, owner: Option<(&ConfigMap, bool)>) -> ConfigMap {
    let mut c: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    c.metadata.owner_references = owner.map(|(o, block)| {
        vec![OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: o.metadata.name.clone().unwrap(),
            uid: o.metadata.uid.clone().unwrap(),
            block_owner_deletion: Some(block),
            controller: Some(true),
        }]
    });
    c
}

async fn gone(api: &Api<ConfigMap>, name: &str) {
    wait_for(&format!("{name} to be deleted"), WAIT, || {
        let api = api.clone();
        let name = name.to_owned();
        async move { api.get_opt(&name).await.unwrap().is_none().then_some(()) }
    })
    .await;
}

async fn setup() -> (Api<ConfigMap>, tokio::task::JoinHandle<()>, ConfigMap) {
    let (_server, client) = cluster().await;
    let gc = tokio::spawn(GarbageCollector::new(client.clone()).run());
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let parent = api
        .create(&cm("parent", None), &PostParams::default())
        .await
        .unwrap();
    (api, gc, parent)
}

#[tokio::test]
async fn background_deletion_collects_children() {
    let (api, gc, parent) = setup().await;
    api.create(
        &cm("child-a", Some((&parent, false))),
        &PostParams::default(),
    )
    .await
    .unwrap();
    api.create(
        &cm("child-b", Some((&parent, false))),
        &PostParams::default(),
    )
    .await
    .unwrap();
    api.create(&cm("bystander", None), &PostParams::default())
        .await
        .unwrap();
    api.delete("parent", &DeleteParams::background())
        .await
        .unwrap();
    gone(&api, "child-a").await;
    gone(&api, "child-b").await;
    assert!(api.get_opt("bystander").await.unwrap().is_some());
    gc.abort();
}

#[tokio::test]
async fn foreground_deletion_waits_for_blocking_children() {
    let (api, gc, parent) = setup().await;
    let mut child = cm("child", Some((&parent, true)));
    child.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&child, &PostParams::default()).await.unwrap();
    api.delete("parent", &DeleteParams::foreground())
        .await
        .unwrap();

    // The child is being deleted, but its finalizer holds it, and it holds the parent.
    wait_for("the child to be terminating", WAIT, || {
        let api = api.clone();
        async move {
            api.get("child")
                .await
                .unwrap()
                .metadata
                .deletion_timestamp
                .map(|_| ())
        }
    })
    .await;
    let held = api.get("parent").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(
        held.metadata.finalizers,
        Some(vec!["foregroundDeletion".to_owned()])
    );

    let release = skiff_core::client::Patch::Merge(json!({"metadata": {"finalizers": null}}));
    api.patch("child", &release, &Default::default())
        .await
        .unwrap();
    gone(&api, "child").await;
    gone(&api, "parent").await;
    gc.abort();
}

#[tokio::test]
async fn orphan_deletion_keeps_children_without_the_reference() {
    let (api, gc, parent) = setup().await;
    api.create(&cm("child", Some((&parent, false))), &PostParams::default())
        .await
        .unwrap();
    api.delete("parent", &DeleteParams::orphan()).await.unwrap();
    gone(&api, "parent").await;
    let child = api.get("child").await.unwrap();
    assert!(child
        .metadata
        .owner_references
        .unwrap_or_default()
        .is_empty());
    gc.abort();
}

#[tokio::test]
async fn dangling_references_are_collected_and_partial_ones_trimmed() {
    let (api, gc, parent) = setup().await;
    let ghost: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "ghost", "uid": "no-such-uid"}}))
            .unwrap();
    api.create(
        &cm("orphaned", Some((&ghost, false))),
        &PostParams::default(),
    )
    .await
    .unwrap();
    let mut both = cm("both", Some((&parent, false)));
    let mut extra = cm("x", Some((&ghost, false)))
        .metadata
        .owner_references
        .unwrap();
    extra[0].controller = Some(false);
    both.metadata
        .owner_references
        .as_mut()
        .unwrap()
        .extend(extra);
    api.create(&both, &PostParams::default()).await.unwrap();

    gone(&api, "orphaned").await;
    wait_for("the dangling reference to be removed", WAIT, || {
        let api = api.clone();
        async move {
            let refs = api
                .get("both")
                .await
                .unwrap()
                .metadata
                .owner_references
                .unwrap_or_default();
            (refs.len() == 1 && refs[0].name == "parent").then_some(())
        }
    })
    .await;
    gc.abort();
}
