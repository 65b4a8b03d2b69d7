//! Finalizers and deletionTimestamp, graceful pod deletion, the status split, scale,
//! binding.

mod common;

use common::*;
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn finalizers_keep_objects_until_removed() {
    let t = server().await;
    let base = "/api/v1/namespaces/default/configmaps";
    let mut cm = configmap("held", json!({}));
    cm["metadata"]["finalizers"] = json!(["example.com/hold"]);
    t.post(base, cm).await;
    let (code, terminating) = t.delete(&format!("{base}/held")).await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        terminating["metadata"]["deletionTimestamp"].is_string(),
        "{terminating}"
    );
    let (code, still) = t.get(&format!("{base}/held")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        still["metadata"]["deletionTimestamp"],
        terminating["metadata"]["deletionTimestamp"]
    );
    // Clients cannot clear deletionTimestamp.
    let mut undo = still.clone();
    undo["metadata"]["deletionTimestamp"] = serde_json::Value::Null;
    let (_, kept) = t.put(&format!("{base}/held"), undo).await;
    assert!(kept["metadata"]["deletionTimestamp"].is_string());
    // Removing the last finalizer deletes it.
    let (code, _) = t
        .call(
            Method::PATCH,
            &format!("{base}/held"),
            Some(json!({"metadata": {"finalizers": null}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = t.get(&format!("{base}/held")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // propagationPolicy=Orphan adds the orphan finalizer.
    t.post(base, configmap("parent", json!({}))).await;
    let (_, orphaning) = t
        .call(
            Method::DELETE,
            &format!("{base}/parent"),
            Some(json!({"propagationPolicy": "Orphan"})),
        )
        .await;
    assert_eq!(orphaning["metadata"]["finalizers"], json!(["orphan"]));
    // Preconditions.
    t.post(base, configmap("pre", json!({}))).await;
    let (code, err) = t
        .call(
            Method::DELETE,
            &format!("{base}/pre"),
            Some(json!({"preconditions": {"uid": "wrong"}})),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{err}");
}

#[tokio::test]
async fn pods_bound_to_a_node_terminate_gracefully() {
    let t = server().await;
    let base = "/api/v1/namespaces/default/pods";
    t.post(base, pod("unbound")).await;
    let (code, gone) = t.delete(&format!("{base}/unbound")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(gone["kind"], "Pod", "pods answer with the deleted object");
    assert_eq!(
        t.get(&format!("{base}/unbound")).await.0,
        StatusCode::NOT_FOUND
    );

    t.post(base, pod("bound")).await;
    let (code, _) = t
        .post(
            &format!("{base}/bound/binding"),
            json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "bound"}, "target": {"kind": "Node", "name": "n1"}}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let (_, bound) = t.get(&format!("{base}/bound")).await;
    assert_eq!(bound["spec"]["nodeName"], "n1");
    assert_eq!(bound["status"]["conditions"][0]["type"], "PodScheduled");
    // Binding is the server's own write (kube's GuaranteedUpdate, no strategy): it
    // does not count as a change of the spec.
    assert_eq!(bound["metadata"]["generation"], 1, "{bound}");
    let (code, again) = t
        .post(
            &format!("{base}/bound/binding"),
            json!({"target": {"kind": "Node", "name": "n2"}}),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{again}");

    let (code, terminating) = t
        .call(
            Method::DELETE,
            &format!("{base}/bound?gracePeriodSeconds=20"),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(terminating["metadata"]["deletionGracePeriodSeconds"], 20);
    assert!(terminating["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(t.get(&format!("{base}/bound")).await.0, StatusCode::OK);
    // The node agent confirms with grace period 0.
    let (code, _) = t
        .call(
            Method::DELETE,
            &format!("{base}/bound"),
            Some(json!({"gracePeriodSeconds": 0})),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        t.get(&format!("{base}/bound")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn status_is_written_only_through_status() {
    let t = server().await;
    let base = "/apis/apps/v1/namespaces/default/deployments";
    let mut d = deployment("web", 2);
    d["status"] = json!({"replicas": 99});
    let (_, created) = t.post(base, d).await;
    assert!(
        created.get("status").is_none(),
        "status dropped on create: {created}"
    );

    // Status through the main resource is ignored.
    let mut next = created.clone();
    next["status"] = json!({"replicas": 5});
    let (_, updated) = t.put(&format!("{base}/web"), next).await;
    assert!(updated.get("status").is_none());

    // Through /status: status changes, spec changes are ignored, generation stays.
    let mut next = updated.clone();
    next["status"] = json!({"replicas": 2, "observedGeneration": 1});
    next["spec"]["replicas"] = json!(7);
    let (code, st) = t.put(&format!("{base}/web/status"), next).await;
    assert_eq!(code, StatusCode::OK, "{st}");
    assert_eq!(st["status"]["replicas"], 2);
    assert_eq!(st["spec"]["replicas"], 2);
    assert_eq!(st["metadata"]["generation"], 1);
    let (code, st) = t
        .call(
            Method::PATCH,
            &format!("{base}/web/status"),
            Some(json!({"status": {"readyReplicas": 1}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(st["status"]["readyReplicas"], 1);
    // ConfigMaps have no status subresource.
    let (code, _) = t
        .get("/api/v1/namespaces/default/configmaps/x/status")
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn scale_subresource() {
    let t = server().await;
    let base = "/apis/apps/v1/namespaces/default/deployments";
    t.post(base, deployment("web", 2)).await;
    let (code, scale) = t.get(&format!("{base}/web/scale")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 2);
    assert_eq!(scale["status"]["selector"], "app=web");

    let (code, scaled) = t
        .call(
            Method::PATCH,
            &format!("{base}/web/scale"),
            Some(json!({"spec": {"replicas": 5}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{scaled}");
    assert_eq!(scaled["spec"]["replicas"], 5);
    let (_, d) = t.get(&format!("{base}/web")).await;
    assert_eq!(d["spec"]["replicas"], 5);
    assert_eq!(d["metadata"]["generation"], 2);

    let mut put = scaled.clone();
    put["spec"]["replicas"] = json!(1);
    let (code, _) = t.put(&format!("{base}/web/scale"), put.clone()).await;
    assert_eq!(code, StatusCode::OK);
    // The same Scale again carries a stale resourceVersion.
    let (code, _) = t.put(&format!("{base}/web/scale"), put).await;
    assert_eq!(code, StatusCode::CONFLICT);
    let (code, _) = t
        .call(
            Method::PATCH,
            &format!("{base}/web/scale"),
            Some(json!({"spec": {"replicas": -1}})),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
}
