//! Checks of the status, scale and binding subresources.

use serde_json::json;

use super::objects::deployment;
use super::{call, ensure, CheckResult, Cx};
use crate::client::{ObjectTarget, Patch, PatchParams, PostParams, ResourceRef};

fn deployments() -> ResourceRef {
    ResourceRef::new("apps", "v1", "deployments", true)
}

pub(super) async fn status_replace(cx: &Cx) -> CheckResult {
    call(
        "create deployment",
        cx.client
            .create(
                &ObjectTarget::collection(&deployments(), Some(&cx.ns)),
                deployment("status", 2),
                &PostParams::default(),
            )
            .await,
    )?;
    let target = ObjectTarget::object(&deployments(), Some(&cx.ns), "status");
    let mut obj = call("get deployment", cx.client.get(&target).await)?;
    obj["status"] = json!({"replicas": 2, "observedGeneration": 1});
    obj["spec"]["replicas"] = json!(7);
    let written = call(
        "replace status",
        cx.client
            .replace(
                &target.clone().with_subresource("status"),
                obj,
                &PostParams::default(),
            )
            .await,
    )?;
    ensure!(
        written["status"]["replicas"] == 2 && written["status"]["observedGeneration"] == 1,
        "status not written: {}",
        written["status"]
    );
    ensure!(
        written["spec"]["replicas"] == 2,
        "a status replace changed the spec: {}",
        written["spec"]["replicas"]
    );
    let read = call(
        "get status",
        cx.client.get(&target.with_subresource("status")).await,
    )?;
    ensure!(
        read["status"]["replicas"] == 2,
        "status read back: {}",
        read["status"]
    );
    Ok(())
}

pub(super) async fn scale(cx: &Cx) -> CheckResult {
    call(
        "create deployment",
        cx.client
            .create(
                &ObjectTarget::collection(&deployments(), Some(&cx.ns)),
                deployment("scaled", 2),
                &PostParams::default(),
            )
            .await,
    )?;
    let deploy = ObjectTarget::object(&deployments(), Some(&cx.ns), "scaled");
    let scale_target = deploy.clone().with_subresource("scale");
    let scale = call("get scale", cx.client.get(&scale_target).await)?;
    ensure!(
        scale["kind"] == "Scale" && scale["apiVersion"] == "autoscaling/v1",
        "get scale answered {scale}"
    );
    ensure!(
        scale["spec"]["replicas"] == 2,
        "scale spec: {}",
        scale["spec"]
    );
    let scaled = call(
        "patch scale",
        cx.client
            .patch(
                &scale_target,
                &Patch::Merge(json!({"spec": {"replicas": 5}})),
                &PatchParams::default(),
            )
            .await,
    )?;
    ensure!(scaled["spec"]["replicas"] == 5, "patched scale: {scaled}");
    let d = call("get deployment", cx.client.get(&deploy).await)?;
    ensure!(
        d["spec"]["replicas"] == 5,
        "the deployment did not follow its scale: {}",
        d["spec"]["replicas"]
    );
    Ok(())
}

pub(super) async fn binding(cx: &Cx) -> CheckResult {
    let pods = ResourceRef::new("", "v1", "pods", true);
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "unbound"},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
    });
    call(
        "create pod",
        cx.client
            .create(
                &ObjectTarget::collection(&pods, Some(&cx.ns)),
                pod,
                &PostParams::default(),
            )
            .await,
    )?;
    let target = ObjectTarget::object(&pods, Some(&cx.ns), "unbound");
    let binding = json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": "unbound"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"},
    });
    call(
        "create binding",
        cx.client
            .create(
                &target.clone().with_subresource("binding"),
                binding.clone(),
                &PostParams::default(),
            )
            .await,
    )?;
    let bound = call("get pod", cx.client.get(&target).await)?;
    ensure!(
        bound["spec"]["nodeName"] == "node-1",
        "binding did not set spec.nodeName: {}",
        bound["spec"]
    );
    let again = cx
        .client
        .create(
            &target.with_subresource("binding"),
            binding,
            &PostParams::default(),
        )
        .await;
    ensure!(
        matches!(&again, Err(e) if e.is_conflict()),
        "binding a bound pod answered {again:?}"
    );
    Ok(())
}

pub(super) async fn eviction(cx: &Cx) -> CheckResult {
    let pods = ResourceRef::new("", "v1", "pods", true);
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "evicted"},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
    });
    call(
        "create pod",
        cx.client
            .create(
                &ObjectTarget::collection(&pods, Some(&cx.ns)),
                pod,
                &PostParams::default(),
            )
            .await,
    )?;
    let target = ObjectTarget::object(&pods, Some(&cx.ns), "evicted");
    let eviction = json!({
        "apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": "evicted", "namespace": cx.ns},
        "deleteOptions": {"gracePeriodSeconds": 0},
    });
    call(
        "create eviction",
        cx.client
            .create(
                &target.clone().with_subresource("eviction"),
                eviction,
                &PostParams::default(),
            )
            .await,
    )?;
    let after = cx.client.get(&target).await;
    ensure!(
        matches!(&after, Err(e) if e.is_not_found()),
        "an evicted unbound pod is still there: {after:?}"
    );
    Ok(())
}
