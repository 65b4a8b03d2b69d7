//! Checks of the verbs on whole objects.

use serde_json::{json, Value};

use super::{call, ensure, names, resource_version, CheckResult, Cx};
use crate::client::{
    ClientError, DeleteParams, ListParams, ObjectTarget, Patch, PatchParams, PostParams,
    ResourceRef,
};

pub(super) async fn create_get_list(cx: &Cx) -> CheckResult {
    for (i, tier) in ["a", "a", "b", "b", "c"].iter().enumerate() {
        let created = cx
            .create_configmap(
                &format!("list-{i}"),
                json!({"check": "list", "tier": tier}),
                json!({"i": i.to_string()}),
            )
            .await?;
        ensure!(
            created["metadata"]["uid"].is_string() && created["kind"] == "ConfigMap",
            "create answered {created}"
        );
    }
    let got = call("get list-3", cx.client.get(&cx.configmap("list-3")).await)?;
    ensure!(got["data"]["i"] == "3", "get answered {got}");
    ensure!(
        got["metadata"]["labels"]["tier"] == "b",
        "labels lost: {got}"
    );

    let select = |labels: &str| ListParams::default().labels(labels);
    let list = call(
        "list",
        cx.client
            .list(&cx.configmaps(), &select("check=list"))
            .await,
    )?;
    ensure!(
        list["kind"] == "ConfigMapList",
        "list kind: {}",
        list["kind"]
    );
    resource_version(&list)?;
    ensure!(
        names(&list).len() == 5,
        "check=list selected {:?}",
        names(&list)
    );
    let list = call(
        "list tier in (a,c)",
        cx.client
            .list(&cx.configmaps(), &select("check=list,tier in (a,c)"))
            .await,
    )?;
    ensure!(
        names(&list) == ["list-0", "list-1", "list-4"],
        "tier in (a,c) selected {:?}",
        names(&list)
    );
    let list = call(
        "list tier!=a",
        cx.client
            .list(&cx.configmaps(), &select("check=list,tier!=a"))
            .await,
    )?;
    ensure!(
        names(&list).len() == 3,
        "tier!=a selected {:?}",
        names(&list)
    );
    let list = call(
        "list by field",
        cx.client
            .list(
                &cx.configmaps(),
                &ListParams::default().fields("metadata.name=list-2"),
            )
            .await,
    )?;
    ensure!(
        names(&list) == ["list-2"],
        "metadata.name=list-2 selected {:?}",
        names(&list)
    );

    // Pages of two: 2 + 2 + 1, each name once, the last page without a token.
    let mut params = select("check=list").limit(2);
    let mut seen = Vec::new();
    for page in 0.. {
        ensure!(page < 5, "pagination did not end: {seen:?}");
        let list = call(
            "list a page",
            cx.client.list(&cx.configmaps(), &params).await,
        )?;
        let page_names = names(&list);
        ensure!(
            page_names.len() <= 2,
            "a page of limit 2 held {page_names:?}"
        );
        seen.extend(page_names);
        match list["metadata"]["continue"].as_str() {
            Some(token) if !token.is_empty() => params.continue_token = Some(token.to_owned()),
            _ => break,
        }
    }
    ensure!(
        seen == ["list-0", "list-1", "list-2", "list-3", "list-4"],
        "pages held {seen:?}"
    );
    Ok(())
}

pub(super) async fn missing_and_duplicate(cx: &Cx) -> CheckResult {
    let err = cx.client.get(&cx.configmap("never-created")).await;
    ensure!(
        matches!(&err, Err(e) if e.is_not_found()),
        "get of a missing object answered {err:?}"
    );
    if let Err(ClientError::Api(e)) = &err {
        ensure!(e.reason == "NotFound", "reason {:?}", e.reason);
    }
    cx.create_configmap("dup", json!({}), json!({})).await?;
    let again = cx.create_configmap("dup", json!({}), json!({})).await;
    ensure!(
        again.as_ref().is_err_and(|e| e.contains("already exists")),
        "a second create answered {again:?}"
    );
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dup"}});
    let err = cx
        .client
        .create(&cx.configmaps(), cm, &PostParams::default())
        .await;
    ensure!(
        matches!(&err, Err(e) if e.is_conflict()),
        "a second create is not a conflict: {err:?}"
    );
    Ok(())
}

pub(super) async fn stale_replace_conflicts(cx: &Cx) -> CheckResult {
    let first = cx
        .create_configmap("cas", json!({}), json!({"v": "1"}))
        .await?;
    let mut next = first.clone();
    next["data"]["v"] = json!("2");
    let second = call(
        "replace",
        cx.client
            .replace(&cx.configmap("cas"), next, &PostParams::default())
            .await,
    )?;
    ensure!(second["data"]["v"] == "2", "replace answered {second}");
    ensure!(
        resource_version(&second)? != resource_version(&first)?,
        "resourceVersion did not change"
    );
    let mut stale = first.clone();
    stale["data"]["v"] = json!("3");
    let err = cx
        .client
        .replace(&cx.configmap("cas"), stale, &PostParams::default())
        .await;
    ensure!(
        matches!(&err, Err(e) if e.is_conflict()),
        "a stale replace answered {err:?}"
    );
    let now = call("get", cx.client.get(&cx.configmap("cas")).await)?;
    ensure!(
        now["data"]["v"] == "2",
        "a stale replace changed the object: {now}"
    );
    Ok(())
}

pub(super) async fn patches(cx: &Cx) -> CheckResult {
    cx.create_configmap("patched", json!({}), json!({"a": "1"}))
        .await?;
    let target = cx.configmap("patched");
    let merged = call(
        "merge patch",
        cx.client
            .patch(
                &target,
                &Patch::Merge(json!({"data": {"b": "2"}})),
                &PatchParams::default(),
            )
            .await,
    )?;
    ensure!(
        merged["data"] == json!({"a": "1", "b": "2"}),
        "merge patch gave {}",
        merged["data"]
    );
    let jsoned = call(
        "json patch",
        cx.client
            .patch(
                &target,
                &Patch::Json(json!([
                    {"op": "replace", "path": "/data/a", "value": "x"},
                    {"op": "remove", "path": "/data/b"}
                ])),
                &PatchParams::default(),
            )
            .await,
    )?;
    ensure!(
        jsoned["data"] == json!({"a": "x"}),
        "json patch gave {}",
        jsoned["data"]
    );
    let failing = cx
        .client
        .patch(
            &target,
            &Patch::Json(json!([{"op": "test", "path": "/data/a", "value": "nope"}])),
            &PatchParams::default(),
        )
        .await;
    ensure!(
        matches!(&failing, Err(ClientError::Api(e)) if (400..500).contains(&e.code)),
        "a failing json patch answered {failing:?}"
    );

    // Strategic merge: containers merge by name (a merge patch would replace the list).
    let deployments = ResourceRef::new("apps", "v1", "deployments", true);
    call(
        "create deployment",
        cx.client
            .create(
                &ObjectTarget::collection(&deployments, Some(&cx.ns)),
                deployment("strategic", 1),
                &PostParams::default(),
            )
            .await,
    )?;
    let patched = call(
        "strategic merge patch",
        cx.client
            .patch(
                &ObjectTarget::object(&deployments, Some(&cx.ns), "strategic"),
                &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "sidecar", "image": "busybox:1.36"}
                ]}}}})),
                &PatchParams::default(),
            )
            .await,
    )?;
    let containers: Vec<&str> = patched["spec"]["template"]["spec"]["containers"]
        .as_array()
        .map(|cs| cs.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    ensure!(
        containers.len() == 2 && containers.contains(&"c") && containers.contains(&"sidecar"),
        "strategic merge patch gave containers {containers:?}"
    );
    Ok(())
}

pub(super) async fn delete_status_and_finalizers(cx: &Cx) -> CheckResult {
    cx.create_configmap("gone", json!({}), json!({})).await?;
    let answer = call(
        "delete",
        cx.client
            .delete(&cx.configmap("gone"), &DeleteParams::default())
            .await,
    )?;
    ensure!(
        answer["kind"] == "Status" && answer["status"] == "Success",
        "delete of an unheld object answered {answer}"
    );
    let err = cx.client.get(&cx.configmap("gone")).await;
    ensure!(
        matches!(&err, Err(e) if e.is_not_found()),
        "deleted object still readable: {err:?}"
    );
    let again = cx
        .client
        .delete(&cx.configmap("gone"), &DeleteParams::default())
        .await;
    ensure!(
        matches!(&again, Err(e) if e.is_not_found()),
        "a second delete answered {again:?}"
    );

    let held = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "held", "finalizers": ["example.com/hold"]},
    });
    call(
        "create held",
        cx.client
            .create(&cx.configmaps(), held, &PostParams::default())
            .await,
    )?;
    let answer = call(
        "delete held",
        cx.client
            .delete(&cx.configmap("held"), &DeleteParams::default())
            .await,
    )?;
    ensure!(
        answer["kind"] == "ConfigMap" && answer["metadata"]["deletionTimestamp"].is_string(),
        "delete of a held object answered {answer}"
    );
    call("get held", cx.client.get(&cx.configmap("held")).await)?;
    call(
        "remove the finalizer",
        cx.client
            .patch(
                &cx.configmap("held"),
                &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                &PatchParams::default(),
            )
            .await,
    )?;
    let err = cx.client.get(&cx.configmap("held")).await;
    ensure!(
        matches!(&err, Err(e) if e.is_not_found()),
        "object still there after its last finalizer went: {err:?}"
    );
    Ok(())
}

pub(super) async fn delete_collection(cx: &Cx) -> CheckResult {
    for (name, doomed) in [("dc-0", "yes"), ("dc-1", "yes"), ("dc-2", "no")] {
        cx.create_configmap(name, json!({"check": "dc", "doomed": doomed}), json!({}))
            .await?;
    }
    let deleted = call(
        "delete_collection",
        cx.client
            .delete_collection(
                &cx.configmaps(),
                &ListParams::default().labels("check=dc,doomed=yes"),
                &DeleteParams::default(),
            )
            .await,
    )?;
    let mut deleted_names = names(&deleted);
    deleted_names.sort();
    ensure!(
        deleted_names == ["dc-0", "dc-1"],
        "delete_collection answered {deleted}"
    );
    let left = call(
        "list",
        cx.client
            .list(&cx.configmaps(), &ListParams::default().labels("check=dc"))
            .await,
    )?;
    ensure!(
        names(&left) == ["dc-2"],
        "left after delete_collection: {:?}",
        names(&left)
    );
    Ok(())
}

pub(super) async fn empty_names_are_refused(cx: &Cx) -> CheckResult {
    let empty = cx.configmap("");
    let invalid = |r: &Result<Value, ClientError>| matches!(r, Err(ClientError::InvalidRequest(_)));
    let r = cx.client.get(&empty).await;
    ensure!(invalid(&r), "get with an empty name answered {r:?}");
    let r = cx
        .client
        .replace(&empty, json!({}), &PostParams::default())
        .await;
    ensure!(invalid(&r), "replace with an empty name answered {r:?}");
    let r = cx
        .client
        .patch(&empty, &Patch::Merge(json!({})), &PatchParams::default())
        .await;
    ensure!(invalid(&r), "patch with an empty name answered {r:?}");
    let r = cx.client.delete(&empty, &DeleteParams::default()).await;
    ensure!(invalid(&r), "delete with an empty name answered {r:?}");
    let r = cx
        .client
        .create(
            &empty.clone().with_subresource("binding"),
            json!({}),
            &PostParams::default(),
        )
        .await;
    ensure!(invalid(&r), "a subresource of an empty name answered {r:?}");
    Ok(())
}

/// A Deployment of `replicas` nginx pods labelled `app: name`.
pub(super) fn deployment(name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
            },
        },
    })
}
