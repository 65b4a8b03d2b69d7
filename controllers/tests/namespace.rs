//! The namespace controller against an in-process API server.

mod common;

use std::time::Duration;

use common::{cluster, wait_for};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use serde_json::json;
use skiff_core::client::{Api, DeleteParams, PostParams};

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_contents_then_the_namespace() {
    let (_server, client) = cluster().await;
    let controller =
        tokio::spawn(skiff_controllers::namespace::run(client.clone()).for_each(|_| async {}));
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap();
    namespaces
        .create(&ns, &PostParams::default())
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    for n in ["a", "b", "c"] {
        cms.create(&cm(n), &PostParams::default()).await.unwrap();
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "doomed");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
    .unwrap();
    pods.create(&pod, &PostParams::default()).await.unwrap();
    let survivors: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    survivors
        .create(&cm("keep"), &PostParams::default())
        .await
        .unwrap();

    namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = namespaces.get("doomed").await.unwrap();
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );

    wait_for("the namespace to be gone", Duration::from_secs(30), || {
        let namespaces = namespaces.clone();
        async move {
            namespaces
                .get_opt("doomed")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        }
    })
    .await;
    assert!(cms
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(pods
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(survivors.get_opt("keep").await.unwrap().is_some());
    controller.abort();
}

#[tokio::test]
async fn a_namespace_held_by_an_object_finalizer_waits_for_it() {
    let (_server, client) = cluster().await;
    let controller =
        tokio::spawn(skiff_controllers::namespace::run(client.clone()).for_each(|_| async {}));
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "held"}})).unwrap();
    namespaces
        .create(&ns, &PostParams::default())
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "held");
    let mut held = cm("held");
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&held, &PostParams::default()).await.unwrap();
    namespaces
        .delete("held", &DeleteParams::default())
        .await
        .unwrap();

    // The config map is marked for deletion but its finalizer keeps it, and the
    // namespace with it.
    wait_for(
        "the config map to be terminating",
        Duration::from_secs(30),
        || {
            let cms = cms.clone();
            async move {
                cms.get("held")
                    .await
                    .unwrap()
                    .metadata
                    .deletion_timestamp
                    .map(|_| ())
            }
        },
    )
    .await;
    assert!(namespaces.get_opt("held").await.unwrap().is_some());

    let patch = skiff_core::client::Patch::Merge(json!({"metadata": {"finalizers": null}}));
    cms.patch("held", &patch, &Default::default())
        .await
        .unwrap();
    wait_for("the namespace to be gone", Duration::from_secs(30), || {
        let namespaces = namespaces.clone();
        async move {
            namespaces
                .get_opt("held")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        }
    })
    .await;
    controller.abort();
}
