//! Create, get, list, update, delete through the router, and the Status errors.

mod common;

use common::*;
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn configmap_crud_and_errors() {
    let t = server().await;
    let base = "/api/v1/namespaces/default/configmaps";
    let (code, created) = t.post(base, configmap("cfg", json!({"a": "1"}))).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["metadata"]["generation"], 1);
    assert!(created["metadata"]["uid"].as_str().unwrap().len() == 36);
    assert!(created["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(created["metadata"]["namespace"], "default");

    let (code, got) = t.get(&format!("{base}/cfg")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(got, created);

    let (code, dup) = t.post(base, configmap("cfg", json!({}))).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(dup["reason"], "AlreadyExists");
    assert_eq!(dup["kind"], "Status");

    let (code, missing) = t.get(&format!("{base}/nope")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(missing["message"], "configmaps \"nope\" not found");
    assert_eq!(missing["details"]["kind"], "configmaps");

    // Update with the current resourceVersion, then with a stale one.
    let mut next = got.clone();
    next["data"]["a"] = json!("2");
    let (code, updated) = t.put(&format!("{base}/cfg"), next.clone()).await;
    assert_eq!(code, StatusCode::OK, "{updated}");
    assert!(rv(&updated) > rv(&created));
    let (code, stale) = t.put(&format!("{base}/cfg"), next).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(stale["reason"], "Conflict");
    assert!(stale["message"]
        .as_str()
        .unwrap()
        .contains("the object has been modified"));

    // No resourceVersion: unconditional.
    let (code, _) = t
        .put(&format!("{base}/cfg"), configmap("cfg", json!({"a": "3"})))
        .await;
    assert_eq!(code, StatusCode::OK);

    // A no-op update keeps the resourceVersion.
    let (_, current) = t.get(&format!("{base}/cfg")).await;
    let (_, same) = t.put(&format!("{base}/cfg"), current.clone()).await;
    assert_eq!(rv(&same), rv(&current));

    let (code, list) = t.get(base).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(list["kind"], "ConfigMapList");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    let (code, status) = t.delete(&format!("{base}/cfg")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(status["status"], "Success");
    assert_eq!(status["details"]["name"], "cfg");
    let (code, _) = t.get(&format!("{base}/cfg")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn generate_name_and_name_validation() {
    let t = server().await;
    let base = "/api/v1/namespaces/default/configmaps";
    let (code, created) = t
        .post(
            base,
            json!({"metadata": {"generateName": "gen-"}, "data": {}}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let name = created["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    let (code, invalid) = t.post(base, configmap("Bad_Name", json!({}))).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid["reason"], "Invalid");
    assert_eq!(invalid["details"]["causes"][0]["field"], "metadata.name");

    let (code, invalid) = t.post(base, json!({"metadata": {}})).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{invalid}");
}

#[tokio::test]
async fn pods_are_defaulted_validated_and_mostly_immutable() {
    let t = server().await;
    let base = "/api/v1/namespaces/default/pods";
    let (code, created) = t.post(base, pod("web")).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["spec"]["restartPolicy"], "Always");
    assert_eq!(created["status"]["phase"], "Pending");

    let (code, err) = t
        .post(
            base,
            json!({"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c"}]}}),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        err["details"]["causes"][0]["field"],
        "spec.containers[0].image"
    );

    let (code, err) = t
        .post(base, json!({"metadata": {"name": "x"}, "spec": {}}))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["details"]["causes"][0]["field"], "spec.containers");

    let (code, err) = t
        .post(
            base,
            json!({"metadata": {"name": "x"}, "spec": {"containers": "no"}}),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");

    // The image may change; the ports may not.
    let mut next = created.clone();
    next["spec"]["containers"][0]["image"] = json!("nginx:1.28");
    let (code, updated) = t.put(&format!("{base}/web"), next.clone()).await;
    assert_eq!(code, StatusCode::OK, "{updated}");
    let mut bad = updated.clone();
    bad["spec"]["containers"][0]["ports"] = json!([{"containerPort": 80}]);
    let (code, err) = t.put(&format!("{base}/web"), bad).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
}

#[tokio::test]
async fn namespaces_must_exist_and_not_terminate() {
    let t = server().await;
    let (code, err) = t
        .post(
            "/api/v1/namespaces/ghost/configmaps",
            configmap("c", json!({})),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(err["details"]["kind"], "namespaces");

    let (code, _) = t
        .post(
            "/api/v1/namespaces",
            json!({"metadata": {"name": "doomed"}}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, ns) = t.delete("/api/v1/namespaces/doomed").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(ns["status"]["phase"], "Terminating");
    let (code, err) = t
        .post(
            "/api/v1/namespaces/doomed/configmaps",
            configmap("c", json!({})),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{err}");

    // The namespace controller's finalize removes it.
    let (code, _) = t
        .put(
            "/api/v1/namespaces/doomed/finalize",
            json!({"metadata": {"name": "doomed"}, "spec": {"finalizers": []}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = t.get("/api/v1/namespaces/doomed").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_requests_get_statuses() {
    let t = server().await;
    let base = "/api/v1/namespaces/default/configmaps";
    let (code, err) = t
        .call_raw(
            Method::POST,
            base,
            "application/json",
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(err["kind"], "Status");
    let (code, _) = t
        .call_raw(Method::POST, base, "text/plain", b"x".to_vec())
        .await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let big = vec![b' '; 3 * 1024 * 1024 + 1];
    let (code, _) = t
        .call_raw(Method::POST, base, "application/json", big)
        .await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
    let (code, _) = t.get("/api/v1/namespaces/default/widgets").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = t.get("/apis/apps/v1/namespaces/default/pods").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = t
        .call(Method::POST, &format!("{base}/x"), Some(json!({})))
        .await;
    assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);
    let (code, _) = t.get(&format!("{base}?limit=abc")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, _) = t
        .get(&format!("{base}?fieldSelector=spec.nodeName%3Dx"))
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    // YAML bodies for create.
    let yaml =
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  k: v\n".to_vec();
    let (code, created) = t
        .call_raw(Method::POST, base, "application/yaml", yaml)
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["data"]["k"], "v");
    // dryRun stores nothing.
    let (code, _) = t
        .post(&format!("{base}?dryRun=All"), configmap("dry", json!({})))
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, _) = t.get(&format!("{base}/dry")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn patches() {
    let t = server().await;
    let base = "/apis/apps/v1/namespaces/default/deployments";
    let (code, created) = t.post(base, deployment("web", 1)).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["spec"]["strategy"]["type"], "RollingUpdate");
    let (code, patched) = t
        .call(
            Method::PATCH,
            &format!("{base}/web"),
            Some(json!({"spec": {"replicas": 4}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{patched}");
    assert_eq!(patched["spec"]["replicas"], 4);
    assert_eq!(patched["metadata"]["generation"], 2);
    let ops = json!([{"op": "add", "path": "/metadata/labels", "value": {"x": "y"}}]);
    let (code, patched) = t
        .call_raw(
            Method::PATCH,
            &format!("{base}/web"),
            "application/json-patch+json",
            ops.to_string().into_bytes(),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{patched}");
    assert_eq!(patched["metadata"]["labels"]["x"], "y");
    assert_eq!(
        patched["metadata"]["generation"], 2,
        "labels do not bump generation"
    );
    // The selector is immutable.
    let (code, err) = t
        .call(
            Method::PATCH,
            &format!("{base}/web"),
            Some(json!({"spec": {"selector": {"matchLabels": {"app": "other"}}}})),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    // A stale resourceVersion in a patch is a conflict.
    let (code, _) = t
        .call(
            Method::PATCH,
            &format!("{base}/web"),
            Some(json!({"metadata": {"resourceVersion": "1"}})),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    let (code, _) = t
        .call(Method::PATCH, &format!("{base}/missing"), Some(json!({})))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn priority_classes_give_pods_their_priority() {
    let t = server().await;
    let classes = "/apis/scheduling.k8s.io/v1/priorityclasses";
    let pods = "/api/v1/namespaces/default/pods";
    // The server keeps the system classes.
    let (code, critical) = t.get(&format!("{classes}/system-node-critical")).await;
    assert_eq!(code, StatusCode::OK, "{critical}");
    assert_eq!(critical["value"], 2_000_001_000);

    let class = |name: &str, value: i64, default: bool| {
        json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
               "metadata": {"name": name}, "value": value, "globalDefault": default})
    };
    let (code, high) = t.post(classes, class("high", 1000, false)).await;
    assert_eq!(code, StatusCode::CREATED, "{high}");
    assert_eq!(high["preemptionPolicy"], "PreemptLowerPriority");
    // Reserved names and values above the user range are refused.
    let (code, e) = t.post(classes, class("system-mine", 5, false)).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (code, e) = t.post(classes, class("huge", 1_000_000_001, false)).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    // The value never changes.
    let mut changed = high.clone();
    changed["value"] = json!(2000);
    let (code, e) = t.put(&format!("{classes}/high"), changed).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{e}");

    // A pod naming the class gets its value and policy.
    let mut p = pod("important");
    p["spec"]["priorityClassName"] = json!("high");
    let (code, created) = t.post(pods, p).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["spec"]["priority"], 1000);
    assert_eq!(created["spec"]["preemptionPolicy"], "PreemptLowerPriority");
    // A class that does not exist, or a priority that disagrees with the class: 403.
    let mut p = pod("unknown");
    p["spec"]["priorityClassName"] = json!("nope");
    let (code, e) = t.post(pods, p).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("no PriorityClass with name nope was found"),
        "{e}"
    );
    let mut p = pod("mismatch");
    p["spec"]["priorityClassName"] = json!("high");
    p["spec"]["priority"] = json!(7);
    let (code, e) = t.post(pods, p).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{e}");

    // With no class and no default class a pod keeps its own priority (or 0).
    let (_, plain) = t.post(pods, pod("plain")).await;
    assert_eq!(plain["spec"]["priority"], 0);
    // One global default, which pods without a class then take.
    let (code, low) = t.post(classes, class("low", 10, true)).await;
    assert_eq!(code, StatusCode::CREATED, "{low}");
    let (code, e) = t.post(classes, class("other-default", 20, true)).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{e}");
    // Admission reads the default from the classes' watch cache (kube's plugin reads
    // its informer), so the new default applies once the cache has it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for i in 0.. {
        let (code, defaulted) = t.post(pods, pod(&format!("defaulted-{i}"))).await;
        assert_eq!(code, StatusCode::CREATED, "{defaulted}");
        if defaulted["spec"]["priorityClassName"] == "low" {
            assert_eq!(defaulted["spec"]["priority"], 10);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the default class never applied"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
