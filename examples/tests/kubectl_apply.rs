//! Declarative management through the real kubectl: client-side apply (the
//! last-applied annotation and strategic merge patches), server-side apply with field
//! managers, conflicts and --force-conflicts, and fieldValidation (kubectl's --validate).
//! Skips when kubectl is missing.

mod kubectl;

use kubectl::{deployment, ApiServer};

fn jsonpath(server: &ApiServer, kind_name: &[&str], path: &str) -> String {
    let mut args = vec!["get"];
    args.extend_from_slice(kind_name);
    let expr = format!("jsonpath={{{path}}}");
    args.extend_from_slice(&["-o", &expr]);
    server.ok(&args)
}

#[test]
fn client_side_apply_twice_merges_strategically() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    let manifest = server.write("web.yaml", &deployment("web", "nginx:1.25"));
    let first = server.ok(&["apply", "-f", &manifest]);
    assert!(first.contains("deployment.apps/web created"), "{first}");
    let annotation = jsonpath(
        &server,
        &["deploy", "web"],
        ".metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration",
    );
    assert!(annotation.contains("nginx:1.25"), "{annotation}");

    // Someone else adds a label; the next apply must keep it (a patch, not a replace).
    server.ok(&["label", "deploy", "web", "owner=ops"]);
    let changed = deployment("web", "nginx:1.27").replace("replicas: 2", "replicas: 3");
    let manifest = server.write("web.yaml", &changed);
    let second = server.ok(&["apply", "-f", &manifest]);
    assert!(
        second.contains("deployment.apps/web configured"),
        "{second}"
    );
    assert_eq!(jsonpath(&server, &["deploy", "web"], ".spec.replicas"), "3");
    assert_eq!(
        jsonpath(
            &server,
            &["deploy", "web"],
            ".spec.template.spec.containers[0].image"
        ),
        "nginx:1.27"
    );
    assert_eq!(
        jsonpath(&server, &["deploy", "web"], ".metadata.labels.owner"),
        "ops"
    );
    let unchanged = server.ok(&["apply", "-f", &manifest]);
    assert!(unchanged.contains("unchanged"), "{unchanged}");
    let managers = jsonpath(
        &server,
        &["deploy", "web"],
        ".metadata.managedFields[*].manager",
    );
    assert!(
        managers.contains("kubectl-client-side-apply") && managers.contains("kubectl-label"),
        "{managers}"
    );
}

#[test]
fn server_side_apply_conflicts_and_force() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    let manifest = server.write("web.yaml", &deployment("web", "nginx:1.25"));
    let applied = server.ok(&["apply", "--server-side", "-f", &manifest]);
    assert!(applied.contains("serverside-applied"), "{applied}");
    assert_eq!(
        jsonpath(
            &server,
            &["deploy", "web"],
            ".metadata.managedFields[0].operation"
        ),
        "Apply"
    );

    let other = server.write(
        "other.yaml",
        &deployment("web", "nginx:1.25").replace("replicas: 2", "replicas: 5"),
    );
    let conflict = server.fails(&[
        "apply",
        "--server-side",
        "--field-manager=other",
        "-f",
        &other,
    ]);
    assert!(
        conflict
            .contains("Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"),
        "{conflict}"
    );
    assert_eq!(jsonpath(&server, &["deploy", "web"], ".spec.replicas"), "2");

    server.ok(&[
        "apply",
        "--server-side",
        "--field-manager=other",
        "--force-conflicts",
        "-f",
        &other,
    ]);
    assert_eq!(jsonpath(&server, &["deploy", "web"], ".spec.replicas"), "5");
    let fields = server.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    let obj: serde_json::Value = serde_json::from_str(&fields).expect("json");
    let entries = obj["metadata"]["managedFields"]
        .as_array()
        .expect("entries");
    let owner_of_replicas: Vec<&str> = entries
        .iter()
        .filter(|e| e["fieldsV1"]["f:spec"].get("f:replicas").is_some())
        .filter_map(|e| e["manager"].as_str())
        .collect();
    assert_eq!(owner_of_replicas, ["other"]);

    // A manager that stops applying a field it alone owns removes it.
    let labelled = server.write(
        "labels.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: {a: \"1\", b: \"2\"}\ndata: {k: v}\n",
    );
    server.ok(&["apply", "--server-side", "-f", &labelled]);
    let fewer = server.write(
        "labels.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: {a: \"1\"}\ndata: {k: v}\n",
    );
    server.ok(&["apply", "--server-side", "-f", &fewer]);
    assert_eq!(
        jsonpath(&server, &["configmap", "c"], ".metadata.labels"),
        "{\"a\":\"1\"}"
    );
}

#[test]
fn server_side_apply_over_client_side_apply_names_the_manager() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    let manifest = server.write("web.yaml", &deployment("web", "nginx:1.25"));
    server.ok(&["apply", "-f", &manifest]);
    let more = server.write(
        "more.yaml",
        &deployment("web", "nginx:1.25").replace("replicas: 2", "replicas: 4"),
    );
    let conflict = server.fails(&["apply", "--server-side", "--field-manager=ssa", "-f", &more]);
    assert!(
        conflict
            .contains("conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"),
        "{conflict}"
    );
}

#[test]
fn field_validation_strict_warn_ignore() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    let bad = deployment("web", "nginx").replace("  replicas: 2\n", "  replicas: 2\n  foo: bar\n");
    let manifest = server.write("bad.yaml", &bad);
    let strict = server.fails(&["create", "-f", &manifest]);
    assert!(
        strict.contains("BadRequest")
            && strict.contains("strict decoding error: unknown field \"spec.foo\""),
        "{strict}"
    );
    let strict_apply = server.fails(&["apply", "--server-side", "-f", &manifest]);
    assert!(
        strict_apply.contains("unknown field \"spec.foo\""),
        "{strict_apply}"
    );

    let warned = server.kubectl(&["create", "--validate=warn", "-f", &manifest]);
    assert!(warned.status.success());
    let stderr = String::from_utf8_lossy(&warned.stderr);
    assert!(
        stderr.contains("Warning: unknown field \"spec.foo\""),
        "{stderr}"
    );
    let spec = jsonpath(&server, &["deploy", "web"], ".spec");
    assert!(!spec.contains("foo"), "unknown fields are dropped: {spec}");

    server.ok(&["delete", "deploy", "web"]);
    let ignored = server.kubectl(&["create", "--validate=false", "-f", &manifest]);
    assert!(ignored.status.success());
    assert!(
        !String::from_utf8_lossy(&ignored.stderr).contains("unknown field"),
        "Ignore warns about nothing"
    );
}
