//! Server-side apply, managedFields, fieldValidation and protobuf request bodies over
//! the in-process router.

mod common;

use axum::body::Body;
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";
const APPLY: &str = "application/apply-patch+yaml";

fn deployment(replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}})
}

#[tokio::test]
async fn apply_creates_conflicts_and_forces() {
    let t = common::server().await;
    let body = |v: Value| v.to_string().into_bytes();

    let (code, err) = t
        .call_raw(
            Method::PATCH,
            &format!("{DEPLOYS}/web"),
            APPLY,
            body(deployment(2)),
        )
        .await;
    assert_eq!(
        code,
        StatusCode::BAD_REQUEST,
        "fieldManager is required: {err}"
    );

    // YAML bodies work too; a missing object is created (201).
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: \"1\"\n";
    let (code, cm) = t
        .call_raw(
            Method::PATCH,
            &format!("{CMS}/c?fieldManager=tool"),
            APPLY,
            yaml.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{cm}");
    assert_eq!(cm["metadata"]["managedFields"][0]["manager"], "tool");
    assert_eq!(cm["metadata"]["managedFields"][0]["operation"], "Apply");
    assert_eq!(
        cm["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:data": {"f:a": {}}})
    );

    let (code, _) = t
        .call_raw(
            Method::PATCH,
            &format!("{DEPLOYS}/web?fieldManager=first"),
            APPLY,
            body(deployment(2)),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, status) = t
        .call_raw(
            Method::PATCH,
            &format!("{DEPLOYS}/web?fieldManager=second"),
            APPLY,
            body(deployment(3)),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{status}");
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(
        status["message"],
        "Apply failed with 1 conflict: conflict with \"first\": .spec.replicas"
    );
    assert_eq!(
        status["details"]["causes"],
        json!([{"reason": "FieldManagerConflict", "message": "conflict with \"first\"",
            "field": ".spec.replicas"}])
    );
    let (code, forced) = t
        .call_raw(
            Method::PATCH,
            &format!("{DEPLOYS}/web?fieldManager=second&force=true"),
            APPLY,
            body(deployment(3)),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{forced}");
    assert_eq!(forced["spec"]["replicas"], 3);

    // An ordinary update takes ownership of what it changes, named by fieldManager.
    let (code, patched) = t
        .call(
            Method::PATCH,
            &format!("{DEPLOYS}/web?fieldManager=scaler"),
            Some(json!({"spec": {"replicas": 4}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let entries = patched["metadata"]["managedFields"].as_array().unwrap();
    let scaler = entries.iter().find(|e| e["manager"] == "scaler").unwrap();
    assert_eq!(scaler["operation"], "Update");
    assert_eq!(scaler["apiVersion"], "apps/v1");
    assert_eq!(scaler["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
    let (code, status) = t
        .call_raw(
            Method::PATCH,
            &format!("{DEPLOYS}/web?fieldManager=second"),
            APPLY,
            body(deployment(3)),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(
        status["message"],
        "Apply failed with 1 conflict: conflict with \"scaler\" using apps/v1: .spec.replicas"
    );
}

#[tokio::test]
async fn field_validation_modes() {
    let t = common::server().await;
    let mut bad = deployment(1);
    bad["spec"]["foo"] = json!("bar");
    let (code, status) = t
        .post(&format!("{DEPLOYS}?fieldValidation=Strict"), bad.clone())
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(status["message"]
        .as_str()
        .unwrap()
        .ends_with("strict decoding error: unknown field \"spec.foo\""));

    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("{DEPLOYS}?fieldValidation=Warn"))
        .header("content-type", "application/json")
        .body(Body::from(bad.to_string()))
        .unwrap();
    let resp = t.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let warnings: Vec<&str> = resp
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(warnings, ["299 - \"unknown field \\\"spec.foo\\\"\""]);
    let (_, stored) = t.get(&format!("{DEPLOYS}/web")).await;
    assert!(stored["spec"].get("foo").is_none(), "dropped: {stored}");

    let mut ignored = deployment(1);
    ignored["metadata"]["name"] = json!("quiet");
    ignored["spec"]["foo"] = json!("bar");
    let (code, created) = t
        .post(&format!("{DEPLOYS}?fieldValidation=Ignore"), ignored)
        .await;
    assert_eq!(code, StatusCode::CREATED);
    assert!(created["spec"].get("foo").is_none());
}

/// A ConfigMap as kubectl's typed client encodes it.
fn configmap_protobuf(name: &str, key: &str, value: &str) -> Vec<u8> {
    fn field(tag: u8, bytes: &[u8], out: &mut Vec<u8>) {
        out.push(tag);
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    let mut meta = Vec::new();
    field(0x0a, name.as_bytes(), &mut meta);
    let mut entry = Vec::new();
    field(0x0a, key.as_bytes(), &mut entry);
    field(0x12, value.as_bytes(), &mut entry);
    let mut raw = Vec::new();
    field(0x0a, &meta, &mut raw);
    field(0x12, &entry, &mut raw);
    skiff_api::protobuf::encode_unknown("v1", "ConfigMap", &raw)
}

#[tokio::test]
async fn protobuf_bodies() {
    let t = common::server().await;
    let proto = skiff_api::protobuf::MEDIA_TYPE;
    let (code, created) = t
        .call_raw(
            Method::POST,
            &format!("{CMS}?fieldManager=kubectl-create"),
            proto,
            configmap_protobuf("from-proto", "mode", "fast"),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["data"], json!({"mode": "fast"}));
    assert_eq!(
        created["metadata"]["managedFields"][0]["manager"],
        "kubectl-create"
    );

    let (code, status) = t
        .call_raw(Method::POST, CMS, proto, b"k8s\0\x0a\xff".to_vec())
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{status}");
    let (code, _) = t
        .call_raw(
            Method::POST,
            CMS,
            proto,
            b"{\"kind\":\"ConfigMap\"}".to_vec(),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn apply_to_status_and_scale() {
    let t = common::server().await;
    let body = |v: Value| v.to_string().into_bytes();

    // Neither subresource creates a missing object.
    let status = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"}, "status": {"replicas": 2}});
    let (code, _) = t
        .call_raw(
            Method::PATCH,
            &format!("{DEPLOYS}/web/status?fieldManager=ctl"),
            APPLY,
            body(status.clone()),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    let (code, _) = t
        .call_raw(
            Method::PATCH,
            &format!("{DEPLOYS}/web?fieldManager=cli"),
            APPLY,
            body(deployment(2)),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);

    // Status: only status changes, owned by the manager with subresource "status".
    let mut with_spec = status.clone();
    with_spec["spec"] = json!({"replicas": 9});
    let (code, obj) = t
        .call_raw(
            Method::PATCH,
            &format!("{DEPLOYS}/web/status?fieldManager=ctl"),
            APPLY,
            body(with_spec),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{obj}");
    assert_eq!(obj["status"]["replicas"], 2);
    assert_eq!(
        obj["spec"]["replicas"], 2,
        "spec is not written through /status"
    );
    let entries = obj["metadata"]["managedFields"].as_array().unwrap();
    let ctl = entries
        .iter()
        .find(|e| e["manager"] == "ctl")
        .expect("ctl's entry");
    assert_eq!(ctl["operation"], "Apply");
    assert_eq!(ctl["subresource"], "status");
    assert_eq!(ctl["fieldsV1"], json!({"f:status": {"f:replicas": {}}}));

    // Scale: spec.replicas is owned by "cli" (it applied it), so another manager
    // conflicts unless it forces.
    let scale = json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": "web"}, "spec": {"replicas": 5}});
    let (code, err) = t
        .call_raw(
            Method::PATCH,
            &format!("{DEPLOYS}/web/scale?fieldManager=hpa"),
            APPLY,
            body(scale.clone()),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["reason"], "Conflict");
    let (code, got) = t
        .call_raw(
            Method::PATCH,
            &format!("{DEPLOYS}/web/scale?fieldManager=hpa&force=true"),
            APPLY,
            body(scale),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{got}");
    assert_eq!(got["kind"], "Scale");
    assert_eq!(got["spec"]["replicas"], 5);
    let (_, obj) = t.call(Method::GET, &format!("{DEPLOYS}/web"), None).await;
    assert_eq!(obj["spec"]["replicas"], 5);
    let hpa = obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == "hpa")
        .expect("hpa's entry")
        .clone();
    assert_eq!(hpa["subresource"], "scale");
    assert_eq!(hpa["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));

    // Negative replicas are refused whatever the patch type.
    let (code, _) = t
        .call_raw(
            Method::PATCH,
            &format!("{DEPLOYS}/web/scale?fieldManager=hpa&force=true"),
            APPLY,
            body(json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                "metadata": {"name": "web"}, "spec": {"replicas": -1}})),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
}
