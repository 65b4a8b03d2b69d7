//! CustomResourceDefinitions: serving custom resources as CRDs come and go, schema
//! validation, pruning and defaulting, status and scale subresources, printer
//! columns, discovery, OpenAPI, watch, deletion with cleanup, and restart.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use common::*;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use skiff_api::openapi::OpenApiCache;
use skiff_api::serve::{app_router, AppParts, HealthChecks, Metrics};
use skiff_api::table::TableTransform;
use skiff_api::{ApiServer, ApiServerConfig};
use skiff_store::{KvStore, MvccStore};
use tower::ServiceExt;

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const WIDGETS: &str = "/apis/example.com/v1/namespaces/default/widgets";

/// A server with discovery, OpenAPI and Tables, like `skiff apiserver`.
async fn full_server_on(store: Arc<MvccStore>) -> TestServer {
    let server = ApiServer::new(
        store.clone(),
        ApiServerConfig {
            response_transform: Some(Arc::new(TableTransform)),
            ..ApiServerConfig::default()
        },
    )
    .await
    .expect("server starts");
    let router = app_router(
        &server,
        AppParts {
            auth: None,
            health: HealthChecks::new(Vec::new()),
            metrics: Metrics::new(),
            extra: Some(skiff_api::openapi::router(OpenApiCache::new(Arc::new(
                server.clone(),
            )))),
        },
    );
    TestServer {
        server,
        router,
        store,
    }
}

async fn full_server() -> TestServer {
    full_server_on(Arc::new(MvccStore::in_memory().await)).await
}

fn widget_crd() -> Value {
    let schema = json!({
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["size"],
                "properties": {
                    "size": {"type": "integer", "minimum": 1, "maximum": 100},
                    "replicas": {"type": "integer", "default": 1},
                    "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                    "owner": {"type": "string", "pattern": "^[a-z]+$"},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                },
            },
            "status": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer"},
                    "selector": {"type": "string"},
                    "phase": {"type": "string"},
                },
            },
        },
    });
    let subresources = json!({
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    });
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                      "shortNames": ["wd"], "categories": ["all"]},
            "versions": [
                {"name": "v1", "served": true, "storage": true,
                 "schema": {"openAPIV3Schema": schema},
                 "subresources": subresources,
                 "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                 ]},
                {"name": "v1beta1", "served": true, "storage": false,
                 "schema": {"openAPIV3Schema": schema}},
            ],
        },
    })
}

fn widget(name: &str, size: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget",
           "metadata": {"name": name, "labels": {"app": "demo"}}, "spec": {"size": size}})
}

/// Polls until `check` holds for the GET of `uri` (status and body), or panics after
/// 10 s.
async fn wait_for(
    t: &TestServer,
    uri: &str,
    what: &str,
    check: impl Fn(StatusCode, &Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (code, body) = t.get(uri).await;
        if check(code, &body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {code} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn condition<'a>(crd: &'a Value, kind: &str) -> Option<&'a Value> {
    crd["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

async fn create_established(t: &TestServer, crd: Value) -> Value {
    let name = crd["metadata"]["name"].as_str().unwrap().to_owned();
    let (code, created) = t.post(CRDS, crd).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    wait_for(t, &format!("{CRDS}/{name}"), "Established", |_, crd| {
        condition(crd, "Established").is_some_and(|c| c["status"] == "True")
    })
    .await
}

/// A GET with an Accept header; the status, content type and JSON body.
async fn get_accept(t: &TestServer, uri: &str, accept: &str) -> (StatusCode, String, Value) {
    let req = Request::get(uri)
        .header("accept", accept)
        .body(Body::empty())
        .unwrap();
    let resp = t.router.clone().oneshot(req).await.unwrap();
    let code = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        code,
        ct,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn creating_a_crd_serves_its_resource_and_establishes_it() {
    let t = full_server().await;
    let (code, _) = t.get(WIDGETS).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let crd = create_established(&t, widget_crd()).await;
    assert_eq!(condition(&crd, "NamesAccepted").unwrap()["status"], "True");
    assert_eq!(crd["status"]["acceptedNames"]["kind"], "Widget");
    assert_eq!(crd["status"]["acceptedNames"]["listKind"], "WidgetList");
    assert_eq!(crd["status"]["acceptedNames"]["shortNames"], json!(["wd"]));
    assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
    assert_eq!(
        crd["metadata"]["finalizers"],
        json!(["customresourcecleanup.apiextensions.k8s.io"])
    );
    assert_eq!(crd["spec"]["conversion"]["strategy"], "None", "defaulted");

    // Create: defaults applied, unknown fields pruned, preserved fields kept.
    let mut w = widget("w1", json!(3));
    w["spec"]["unknown"] = json!("dropped");
    w["spec"]["extra"] = json!({"free": {"form": true}});
    w["topLevel"] = json!(1);
    let (code, created) = t.post(WIDGETS, w).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["spec"]["replicas"], 1);
    assert_eq!(created["spec"]["color"], "red");
    assert!(created["spec"].get("unknown").is_none(), "{created}");
    assert!(created.get("topLevel").is_none(), "{created}");
    assert_eq!(created["spec"]["extra"]["free"]["form"], true);
    assert_eq!(created["metadata"]["generation"], 1);
    assert!(created["metadata"]["uid"].is_string());

    // Read back in both versions (conversion None rewrites apiVersion only).
    let (code, got) = t.get(&format!("{WIDGETS}/w1")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(got["apiVersion"], "example.com/v1");
    let (code, beta) = t
        .get("/apis/example.com/v1beta1/namespaces/default/widgets/w1")
        .await;
    assert_eq!(code, StatusCode::OK, "{beta}");
    assert_eq!(beta["apiVersion"], "example.com/v1beta1");
    assert_eq!(beta["spec"]["size"], 3);
    // Objects written through another version are stored in the storage version.
    let mut b = widget("w2", json!(5));
    b["apiVersion"] = json!("example.com/v1beta1");
    let (code, created) = t
        .post("/apis/example.com/v1beta1/namespaces/default/widgets", b)
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["apiVersion"], "example.com/v1beta1",
        "answered as asked"
    );
    let raw = t
        .store
        .get(b"/registry/example.com/widgets/default/w2")
        .await
        .unwrap()
        .expect("stored under the group-qualified key");
    let stored: Value = serde_json::from_slice(&raw.value).unwrap();
    assert_eq!(stored["apiVersion"], "example.com/v1");

    let (code, list) = t.get(WIDGETS).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(list["kind"], "WidgetList");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let (_, all) = t
        .get("/apis/example.com/v1/widgets?labelSelector=app%3Ddemo")
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    // Lists from the watch cache carry the version asked for too.
    // (resourceVersion=0 may be served stale: wait for the cache to catch up.)
    let cached = wait_for(
        &t,
        "/apis/example.com/v1beta1/widgets?resourceVersion=0",
        "both widgets in the v1beta1 cache",
        |_, list| list["items"].as_array().is_some_and(|i| i.len() == 2),
    )
    .await;
    for item in cached["items"].as_array().unwrap() {
        assert_eq!(item["apiVersion"], "example.com/v1beta1");
    }
    // Namespaces must exist, as for built-ins.
    let (code, _) = t
        .post(
            "/apis/example.com/v1/namespaces/nope/widgets",
            widget("w3", json!(1)),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_custom_objects_get_422_with_a_cause_per_field() {
    let t = full_server().await;
    create_established(&t, widget_crd()).await;
    let mut w = widget("bad", json!("string"));
    w["spec"]["color"] = json!("pink");
    w["spec"]["owner"] = json!("Not Lower");
    let (code, status) = t.post(WIDGETS, w).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["kind"], "Widget");
    assert_eq!(status["details"]["group"], "example.com");
    let causes = status["details"]["causes"].as_array().unwrap();
    let text: Vec<String> = causes
        .iter()
        .map(|c| {
            format!(
                "{}: {}",
                c["field"].as_str().unwrap(),
                c["message"].as_str().unwrap()
            )
        })
        .collect();
    assert!(text.contains(&r#"spec.size: Invalid value: "string": spec.size in body must be of type integer: "string""#.to_owned()), "{text:?}");
    assert!(
        text.contains(
            &r#"spec.color: Unsupported value: "pink": supported values: "red", "blue""#.to_owned()
        ),
        "{text:?}"
    );
    assert!(text.contains(&r#"spec.owner: Invalid value: "Not Lower": spec.owner in body should match '^[a-z]+$'"#.to_owned()), "{text:?}");
    assert_eq!(causes.len(), 3);
    let message = status["message"].as_str().unwrap();
    assert!(
        message.starts_with("Widget.example.com \"bad\" is invalid: ["),
        "{message}"
    );

    let (code, status) = t
        .post(WIDGETS, json!({"metadata": {"name": "nospec"}}))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(status["details"]["causes"][0]["field"], "spec");
    let (code, status) = t.post(WIDGETS, widget("big", json!(101))).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(status["message"]
        .as_str()
        .unwrap()
        .contains("spec.size in body should be less than or equal to 100"));
    // Metadata is validated as for built-ins.
    let (code, status) = t.post(WIDGETS, widget("Bad_Name", json!(1))).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(status["details"]["causes"][0]["field"], "metadata.name");
    let mut w = widget("badlabel", json!(1));
    w["metadata"]["labels"] = json!({"a": "not valid!"});
    let (code, _) = t.post(WIDGETS, w).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    // Updates are validated too.
    t.post(WIDGETS, widget("ok", json!(1))).await;
    let (code, _) = t
        .call(
            Method::PATCH,
            &format!("{WIDGETS}/ok"),
            Some(json!({"spec": {"size": 0}})),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn status_subresource_splits_spec_and_status() {
    let t = full_server().await;
    create_established(&t, widget_crd()).await;
    let mut w = widget("s", json!(2));
    w["status"] = json!({"phase": "Ignored"});
    let (_, created) = t.post(WIDGETS, w).await;
    assert!(
        created.get("status").is_none(),
        "status dropped on create: {created}"
    );

    // The main endpoint ignores status changes.
    let mut put = created.clone();
    put["status"] = json!({"phase": "Nope"});
    put["spec"]["size"] = json!(4);
    let (code, updated) = t.put(&format!("{WIDGETS}/s"), put).await;
    assert_eq!(code, StatusCode::OK, "{updated}");
    assert!(updated.get("status").is_none());
    assert_eq!(updated["spec"]["size"], 4);
    assert_eq!(updated["metadata"]["generation"], 2);

    // /status changes only status.
    let mut st = updated.clone();
    st["status"] = json!({"phase": "Ready", "replicas": 1, "selector": "app=demo"});
    st["spec"]["size"] = json!(50);
    let (code, with_status) = t.put(&format!("{WIDGETS}/s/status"), st).await;
    assert_eq!(code, StatusCode::OK, "{with_status}");
    assert_eq!(with_status["status"]["phase"], "Ready");
    assert_eq!(with_status["spec"]["size"], 4);
    assert_eq!(
        with_status["metadata"]["generation"], 2,
        "status writes keep generation"
    );
    // The status is validated against the schema as well.
    let (code, _) = t
        .call(
            Method::PATCH,
            &format!("{WIDGETS}/s/status"),
            Some(json!({"status": {"replicas": "many"}})),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let (code, got) = t.get(&format!("{WIDGETS}/s/status")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(got["status"]["phase"], "Ready");
    // v1beta1 has no status subresource.
    let (code, _) = t
        .get("/apis/example.com/v1beta1/namespaces/default/widgets/s/status")
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn scale_subresource_reads_and_writes_the_crd_paths() {
    let t = full_server().await;
    create_established(&t, widget_crd()).await;
    t.post(WIDGETS, widget("sc", json!(2))).await;
    t.call(
        Method::PATCH,
        &format!("{WIDGETS}/sc/status"),
        Some(json!({"status": {"replicas": 1, "selector": "app=demo"}})),
    )
    .await;
    let (code, scale) = t.get(&format!("{WIDGETS}/sc/scale")).await;
    assert_eq!(code, StatusCode::OK, "{scale}");
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 1);
    assert_eq!(scale["status"]["replicas"], 1);
    assert_eq!(scale["status"]["selector"], "app=demo");
    let (code, scaled) = t
        .put(
            &format!("{WIDGETS}/sc/scale"),
            json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                   "metadata": {"name": "sc", "namespace": "default"}, "spec": {"replicas": 5}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{scaled}");
    assert_eq!(scaled["spec"]["replicas"], 5);
    let (_, got) = t.get(&format!("{WIDGETS}/sc")).await;
    assert_eq!(got["spec"]["replicas"], 5);
    assert_eq!(got["status"]["replicas"], 1, "scale keeps status");
    let (code, patched) = t
        .call(
            Method::PATCH,
            &format!("{WIDGETS}/sc/scale"),
            Some(json!({"spec": {"replicas": 7}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{patched}");
    assert_eq!(patched["spec"]["replicas"], 7);
}

#[tokio::test]
async fn tables_use_the_printer_columns() {
    let t = full_server().await;
    create_established(&t, widget_crd()).await;
    t.post(WIDGETS, widget("t1", json!(3))).await;
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let (code, ct, table) = get_accept(&t, WIDGETS, accept).await;
    assert_eq!(code, StatusCode::OK, "{table}");
    assert!(ct.contains("as=Table"), "{ct}");
    let names: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Name", "Size", "Color", "Phase"]);
    assert_eq!(table["rows"][0]["cells"], json!(["t1", 3, "red", null]));
    assert_eq!(table["rows"][0]["object"]["metadata"]["name"], "t1");
    // Without printer columns (v1beta1): Name and Age.
    let (_, _, table) = get_accept(
        &t,
        "/apis/example.com/v1beta1/namespaces/default/widgets/t1",
        accept,
    )
    .await;
    let names: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Name", "Age"]);
    assert_eq!(table["rows"][0]["cells"][0], "t1");
}

#[tokio::test]
async fn patches_merge_and_json_work_strategic_merge_is_415() {
    let t = full_server().await;
    create_established(&t, widget_crd()).await;
    t.post(WIDGETS, widget("p", json!(3))).await;
    let uri = format!("{WIDGETS}/p");
    let (code, merged) = t
        .call(
            Method::PATCH,
            &uri,
            Some(json!({"spec": {"color": "blue", "bogus": 1}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{merged}");
    assert_eq!(merged["spec"]["color"], "blue");
    assert!(merged["spec"].get("bogus").is_none(), "pruned on patch too");
    let (code, patched) = t
        .call_raw(
            Method::PATCH,
            &uri,
            "application/json-patch+json",
            br#"[{"op": "replace", "path": "/spec/size", "value": 9}]"#.to_vec(),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{patched}");
    assert_eq!(patched["spec"]["size"], 9);
    let (code, status) = t
        .call_raw(
            Method::PATCH,
            &uri,
            "application/strategic-merge-patch+json",
            br#"{"spec": {"size": 1}}"#.to_vec(),
        )
        .await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{status}");
}

#[tokio::test]
async fn crds_themselves_are_validated() {
    let t = full_server().await;
    let cause_fields = |status: &Value| -> Vec<String> {
        status["details"]["causes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["field"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut bad = widget_crd();
    bad["spec"]["names"]["plural"] = json!("Widgets");
    let (code, status) = t.post(CRDS, bad).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert_eq!(status["details"]["kind"], "CustomResourceDefinition");
    assert_eq!(
        cause_fields(&status),
        vec!["metadata.name", "spec.names.plural"]
    );

    let mut bad = widget_crd();
    bad["metadata"]["name"] = json!("gadgets.example.com");
    let (code, status) = t.post(CRDS, bad).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(cause_fields(&status), vec!["metadata.name"]);

    let mut bad = widget_crd();
    bad["spec"]["versions"] = json!([]);
    let (code, status) = t.post(CRDS, bad).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(cause_fields(&status), vec!["spec.versions"]);

    let mut bad = widget_crd();
    bad["spec"]["versions"][1]["storage"] = json!(true);
    let (code, status) = t.post(CRDS, bad).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(status["message"]
        .as_str()
        .unwrap()
        .contains("must have exactly one version marked as storage version"));

    let mut bad = widget_crd();
    bad["spec"]["versions"][1]
        .as_object_mut()
        .unwrap()
        .remove("schema");
    let (code, status) = t.post(CRDS, bad).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        cause_fields(&status),
        vec!["spec.versions[1].schema.openAPIV3Schema"]
    );

    // Schemas must be structural (a type on every field) and defaults must fit.
    let mut bad = widget_crd();
    bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["size"] = json!({"minimum": 1, "default": 0});
    let (code, status) = t.post(CRDS, bad).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        cause_fields(&status),
        vec![
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[size].type",
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[size].default",
        ]
    );

    let mut bad = widget_crd();
    bad["spec"]["scope"] = json!("Everywhere");
    let (code, _) = t.post(CRDS, bad).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);

    // Nothing invalid was created or served.
    let (_, list) = t.get(CRDS).await;
    assert_eq!(list["items"], json!([]));
    // The scope of a CRD cannot change.
    create_established(&t, widget_crd()).await;
    let (code, _) = t
        .call(
            Method::PATCH,
            &format!("{CRDS}/widgets.example.com"),
            Some(json!({"spec": {"scope": "Cluster"}})),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn cluster_scoped_custom_resources() {
    let t = full_server().await;
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "clusterthings.ops.example.org"},
        "spec": {"group": "ops.example.org", "scope": "Cluster",
            "names": {"plural": "clusterthings", "kind": "ClusterThing"},
            "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]},
    });
    create_established(&t, crd).await;
    let base = "/apis/ops.example.org/v1alpha1/clusterthings";
    let (code, created) = t
        .post(
            base,
            json!({"metadata": {"name": "c1"}, "anything": {"goes": [1, 2]}}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["anything"]["goes"],
        json!([1, 2]),
        "preserved at the root"
    );
    assert!(created["metadata"].get("namespace").is_none());
    let (code, _) = t
        .get("/apis/ops.example.org/v1alpha1/namespaces/default/clusterthings/c1")
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, got) = t.get(&format!("{base}/c1")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(got["kind"], "ClusterThing");
}

#[tokio::test]
async fn discovery_and_openapi_follow_crds() {
    let t = full_server().await;
    let (_, groups) = t.get("/apis").await;
    assert!(!groups.to_string().contains("example.com"));
    create_established(&t, widget_crd()).await;

    let (code, group) = t.get("/apis/example.com").await;
    assert_eq!(code, StatusCode::OK, "{group}");
    assert_eq!(group["preferredVersion"]["version"], "v1");
    let (code, list) = t.get("/apis/example.com/v1").await;
    assert_eq!(code, StatusCode::OK);
    let resources = list["resources"].as_array().unwrap();
    let widgets = resources.iter().find(|r| r["name"] == "widgets").unwrap();
    assert_eq!(widgets["kind"], "Widget");
    assert_eq!(widgets["singularName"], "widget");
    assert_eq!(widgets["namespaced"], true);
    assert_eq!(widgets["shortNames"], json!(["wd"]));
    assert_eq!(widgets["categories"], json!(["all"]));
    assert!(resources.iter().any(|r| r["name"] == "widgets/status"));
    assert!(resources.iter().any(|r| r["name"] == "widgets/scale"));

    let (code, _, aggregated) = get_accept(
        &t,
        "/apis",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let group = aggregated["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "example.com")
        .expect("example.com in aggregated discovery");
    let versions: Vec<&str> = group["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, vec!["v1", "v1beta1"]);

    let (code, doc) = t.get("/openapi/v3/apis/example.com/v1").await;
    assert_eq!(code, StatusCode::OK, "{doc}");
    let schema = &doc["components"]["schemas"]["com.example.v1.Widget"];
    assert_eq!(
        schema["x-kubernetes-group-version-kind"][0]["kind"],
        "Widget"
    );
    assert_eq!(
        schema["properties"]["spec"]["properties"]["size"]["type"],
        "integer"
    );
    let meta_ref = schema["properties"]["metadata"]["allOf"][0]["$ref"]
        .as_str()
        .unwrap()
        .trim_start_matches("#/components/schemas/");
    assert!(
        doc["components"]["schemas"][meta_ref].is_object(),
        "ObjectMeta in the document"
    );
    let (_, index) = t.get("/openapi/v3").await;
    assert!(index["paths"]["apis/example.com/v1"].is_object());

    // Updating the CRD updates what is served: a new version and a new column.
    let (_, mut crd) = t.get(&format!("{CRDS}/widgets.example.com")).await;
    let mut v2 = crd["spec"]["versions"][0].clone();
    v2["name"] = json!("v2");
    v2["storage"] = json!(false);
    v2["additionalPrinterColumns"] =
        json!([{"name": "Owner", "type": "string", "jsonPath": ".spec.owner"}]);
    crd["spec"]["versions"].as_array_mut().unwrap().push(v2);
    let (code, updated) = t.put(&format!("{CRDS}/widgets.example.com"), crd).await;
    assert_eq!(code, StatusCode::OK, "{updated}");
    wait_for(
        &t,
        "/apis/example.com/v2/namespaces/default/widgets",
        "v2 served",
        |c, _| c == StatusCode::OK,
    )
    .await;
    let (_, group) = t.get("/apis/example.com").await;
    assert_eq!(group["preferredVersion"]["version"], "v2");
    let (code, doc) = t.get("/openapi/v3/apis/example.com/v2").await;
    assert_eq!(code, StatusCode::OK);
    assert!(doc["components"]["schemas"]["com.example.v2.Widget"].is_object());

    // Deleting it removes everything.
    let (code, _) = t.delete(&format!("{CRDS}/widgets.example.com")).await;
    assert_eq!(code, StatusCode::OK);
    wait_for(&t, "/apis/example.com", "group gone", |c, _| {
        c == StatusCode::NOT_FOUND
    })
    .await;
    let (code, _) = t.get("/openapi/v3/apis/example.com/v1").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn watches_of_custom_resources() {
    let t = full_server().await;
    create_established(&t, widget_crd()).await;
    let (_, list) = t.get(WIDGETS).await;
    let mut watch = t
        .watch(&format!(
            "{WIDGETS}?watch=true&resourceVersion={}",
            rv(&list)
        ))
        .await;
    t.post(WIDGETS, widget("w", json!(1))).await;
    t.call(
        Method::PATCH,
        &format!("{WIDGETS}/w"),
        Some(json!({"spec": {"size": 2}})),
    )
    .await;
    t.delete(&format!("{WIDGETS}/w")).await;
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = watch.next().await.expect("an event");
        if event["type"] == "BOOKMARK" {
            continue;
        }
        assert_eq!(event["object"]["kind"], "Widget");
        seen.push(event["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, vec!["ADDED", "MODIFIED", "DELETED"]);

    // Deleting the CRD ends the watch.
    t.delete(&format!("{CRDS}/widgets.example.com")).await;
    loop {
        match watch.next_within(Duration::from_secs(10)).await {
            Ok(None) => break,
            Ok(Some(event)) => assert_eq!(event["type"], "BOOKMARK", "{event}"),
            Err(()) => panic!("the watch did not end after its CRD was deleted"),
        }
    }
}

#[tokio::test]
async fn deleting_a_crd_deletes_its_objects_then_the_crd() {
    let t = full_server().await;
    create_established(&t, widget_crd()).await;
    for name in ["a", "b"] {
        let (code, _) = t.post(WIDGETS, widget(name, json!(1))).await;
        assert_eq!(code, StatusCode::CREATED);
    }
    // One object holds a finalizer: the CRD stays (terminating) until it goes.
    let mut held = widget("held", json!(1));
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    t.post(WIDGETS, held).await;

    let (code, deleting) = t.delete(&format!("{CRDS}/widgets.example.com")).await;
    assert_eq!(code, StatusCode::OK, "{deleting}");
    assert!(
        deleting["metadata"]["deletionTimestamp"].is_string(),
        "{deleting}"
    );
    let terminating = wait_for(
        &t,
        &format!("{CRDS}/widgets.example.com"),
        "Terminating",
        |_, crd| condition(crd, "Terminating").is_some(),
    )
    .await;
    assert_eq!(
        condition(&terminating, "Terminating").unwrap()["reason"],
        "InstanceDeletionInProgress"
    );
    let (_, list) = t.get(WIDGETS).await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["held"]);
    let (code, _) = t.post(WIDGETS, widget("late", json!(1))).await;
    assert_eq!(
        code,
        StatusCode::METHOD_NOT_ALLOWED,
        "no creates while terminating"
    );
    t.call(
        Method::PATCH,
        &format!("{WIDGETS}/held"),
        Some(json!({"metadata": {"finalizers": null}})),
    )
    .await;
    wait_for(
        &t,
        &format!("{CRDS}/widgets.example.com"),
        "CRD gone",
        |c, _| c == StatusCode::NOT_FOUND,
    )
    .await;
    let (code, _) = t.get(WIDGETS).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let left = t
        .store
        .range(skiff_store::RangeRequest {
            range: skiff_store::KeyRange::prefix("/registry/example.com/".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(left.kvs.is_empty(), "no custom objects left in the store");

    // A new CRD of the same name starts empty.
    create_established(&t, widget_crd()).await;
    let (_, list) = t.get(WIDGETS).await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn a_restarted_server_serves_existing_crds() {
    let store = Arc::new(MvccStore::in_memory().await);
    {
        let first = full_server_on(store.clone()).await;
        create_established(&first, widget_crd()).await;
        let (code, _) = first.post(WIDGETS, widget("kept", json!(4))).await;
        assert_eq!(code, StatusCode::CREATED);
    }
    let second = full_server_on(store).await;
    // Served as soon as the constructor returns: no wait.
    let (code, got) = second.get(&format!("{WIDGETS}/kept")).await;
    assert_eq!(code, StatusCode::OK, "{got}");
    assert_eq!(got["spec"]["size"], 4);
    let (code, status) = second.post(WIDGETS, widget("new", json!("x"))).await;
    assert_eq!(
        code,
        StatusCode::UNPROCESSABLE_ENTITY,
        "schema enforced after restart: {status}"
    );
    let (code, _) = second.get("/apis/example.com/v1beta1/widgets").await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test]
async fn conflicting_names_are_not_accepted_until_freed() {
    let t = full_server().await;
    create_established(&t, widget_crd()).await;
    let gizmos = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gizmos.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "gizmos", "kind": "Gizmo", "shortNames": ["wd"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]},
    });
    let (code, _) = t.post(CRDS, gizmos).await;
    assert_eq!(code, StatusCode::CREATED);
    let crd = wait_for(
        &t,
        &format!("{CRDS}/gizmos.example.com"),
        "NamesAccepted False",
        |_, crd| condition(crd, "NamesAccepted").is_some_and(|c| c["status"] == "False"),
    )
    .await;
    let names = condition(&crd, "NamesAccepted").unwrap();
    assert_eq!(names["reason"], "ShortNamesConflict");
    assert_eq!(names["message"], "\"wd\" is already in use");
    assert_eq!(condition(&crd, "Established").unwrap()["status"], "False");
    let (code, _) = t
        .get("/apis/example.com/v1/namespaces/default/gizmos")
        .await;
    assert_eq!(
        code,
        StatusCode::NOT_FOUND,
        "not served while its names conflict"
    );

    // Built-in resources cannot be taken over.
    let leases = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "leases.coordination.k8s.io",
                     "annotations": {"api-approved.kubernetes.io": "unapproved, testing only"}},
        "spec": {"group": "coordination.k8s.io", "scope": "Namespaced",
            "names": {"plural": "leases", "kind": "FakeLease"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]},
    });
    let (code, status) = t.post(CRDS, leases).await;
    assert_eq!(code, StatusCode::CREATED, "{status}");
    wait_for(
        &t,
        &format!("{CRDS}/leases.coordination.k8s.io"),
        "PluralConflict",
        |_, crd| condition(crd, "NamesAccepted").is_some_and(|c| c["reason"] == "PluralConflict"),
    )
    .await;
    let (code, list) = t
        .get("/apis/coordination.k8s.io/v1/namespaces/default/leases")
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(list["kind"], "LeaseList", "still the built-in");

    // Once the widgets CRD goes, the gizmos one is accepted.
    t.delete(&format!("{CRDS}/widgets.example.com")).await;
    wait_for(
        &t,
        &format!("{CRDS}/gizmos.example.com"),
        "Established",
        |_, crd| condition(crd, "Established").is_some_and(|c| c["status"] == "True"),
    )
    .await;
    let (code, _) = t
        .get("/apis/example.com/v1/namespaces/default/gizmos")
        .await;
    assert_eq!(code, StatusCode::OK);
}
