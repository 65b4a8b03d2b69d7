//! The real kubectl reads the cluster's identity: version, discovery (aggregated and
//! legacy), cluster-info, OpenAPI for explain. Skips when kubectl is missing.

mod kubectl;

use kubectl::ApiServer;

#[test]
fn version_and_cluster_info() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    let version = server.ok(&["version"]);
    assert!(
        version.contains("Server Version: v1.33.0-skiff"),
        "{version}"
    );
    let info = server.ok(&["cluster-info"]);
    assert!(
        info.contains(&format!("is running at {}", server.url)),
        "{info}"
    );
}

#[test]
fn api_versions_and_resources() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    let versions = server.ok(&["api-versions"]);
    for gv in [
        "v1",
        "apps/v1",
        "batch/v1",
        "coordination.k8s.io/v1",
        "policy/v1",
    ] {
        assert!(
            versions.lines().any(|l| l == gv),
            "{gv} missing from {versions}"
        );
    }
    let resources = server.ok(&["api-resources"]);
    let line = |name: &str| {
        resources
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from {resources}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(line("pods"), ["pods", "po", "v1", "true", "Pod"]);
    assert_eq!(
        line("deployments"),
        ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    );
    assert_eq!(
        line("namespaces"),
        ["namespaces", "ns", "v1", "false", "Namespace"]
    );
    // Legacy discovery (what older clients read) names the same resources.
    let core = server.ok(&["get", "--raw", "/api/v1"]);
    assert!(core.contains("\"name\":\"pods/status\""), "{core}");
}

#[test]
fn explain_reads_openapi_v3() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    let explained = server.ok(&["explain", "pods.spec"]);
    assert!(explained.contains("KIND:       Pod"), "{explained}");
    assert!(explained.contains("containers"), "{explained}");
    let explained = server.ok(&["explain", "deployment.spec.replicas"]);
    assert!(explained.contains("<integer>"), "{explained}");
}

#[test]
fn health_and_metrics() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    let ready = server.ok(&["get", "--raw", "/readyz?verbose"]);
    assert!(
        ready.contains("[+]etcd ok") && ready.contains("readyz check passed"),
        "{ready}"
    );
    server.ok(&["get", "namespaces"]);
    let metrics = server.ok(&["get", "--raw", "/metrics"]);
    assert!(
        metrics.contains("apiserver_request_total{verb=\"LIST\",group=\"\",version=\"v1\",resource=\"namespaces\",subresource=\"\",code=\"200\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("apiserver_request_duration_seconds_bucket{"),
        "{metrics}"
    );
}
