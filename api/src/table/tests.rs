use super::*;
use skiff_core::resource::builtin_resources;

fn resource(group: &str, plural: &str) -> ApiResource {
    builtin_resources()
        .into_iter()
        .find(|r| r.group == group && r.plural == plural)
        .unwrap()
}

fn headers(table: &Value, wide: bool) -> Vec<String> {
    table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| wide || c["priority"] == 0)
        .map(|c| c["name"].as_str().unwrap().to_uppercase())
        .collect()
}

#[test]
fn pod_columns_and_cells() {
    let pods = json!({
        "kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "42"},
        "items": [{
            "metadata": {"name": "web", "namespace": "default", "creationTimestamp": (chrono::Utc::now() - chrono::Duration::seconds(30)).to_rfc3339()},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
            "status": {"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ]}
        }]
    });
    let table = render(&resource("", "pods"), &pods, "v1", true);
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["metadata"]["resourceVersion"], "42");
    assert_eq!(
        headers(&table, false),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    assert_eq!(
        headers(&table, true)[5..],
        ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    );
    let cells = &table["rows"][0]["cells"];
    assert_eq!(cells[0], "web");
    assert_eq!(cells[1], "1/2");
    assert_eq!(cells[2], "CrashLoopBackOff");
    assert_eq!(cells[3], "3");
    assert!(cells[4].as_str().unwrap().ends_with('s'));
    assert_eq!(cells[5], "10.0.0.5");
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(table["rows"][0]["object"]["metadata"]["name"], "web");
}

#[test]
fn deployment_single_object_and_wide() {
    let deploy = json!({
        "kind": "Deployment", "metadata": {"name": "web", "resourceVersion": "7"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
    });
    let table = render(&resource("apps", "deployments"), &deploy, "v1", false);
    assert_eq!(
        headers(&table, false),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(
        headers(&table, true)[5..],
        ["CONTAINERS", "IMAGES", "SELECTOR"]
    );
    let cells = &table["rows"][0]["cells"];
    assert_eq!(cells[1], "2/3");
    assert_eq!(cells[2], 3);
    assert_eq!(cells[4], "<unknown>");
    assert_eq!(cells[6], "nginx:1.25");
    assert_eq!(cells[7], "app=web");
    assert!(table["rows"][0].get("object").is_none());
}

#[test]
fn other_kinds_headers() {
    let cases: [(&str, &str, &[&str]); 6] = [
        (
            "",
            "services",
            &[
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
            ],
        ),
        ("", "nodes", &["NAME", "STATUS", "ROLES", "AGE", "VERSION"]),
        ("", "namespaces", &["NAME", "STATUS", "AGE"]),
        ("", "configmaps", &["NAME", "DATA", "AGE"]),
        ("", "secrets", &["NAME", "TYPE", "DATA", "AGE"]),
        (
            "",
            "events",
            &["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        ),
    ];
    for (group, plural, expected) in cases {
        let table = render(
            &resource(group, plural),
            &json!({"metadata": {"name": "x"}}),
            "v1",
            true,
        );
        assert_eq!(headers(&table, false), expected, "{plural}");
    }
    let cm = json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
    let table = render(&resource("", "configmaps"), &cm, "v1", true);
    assert_eq!(table["rows"][0]["cells"][1], 2);
}

#[test]
fn accept_negotiation() {
    assert_eq!(
        wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"),
        Some("v1")
    );
    assert_eq!(
        wants_table("application/json;as=Table;v=v1beta1;g=meta.k8s.io"),
        Some("v1beta1")
    );
    assert_eq!(wants_table("application/json"), None);
    assert_eq!(
        wants_table("application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"),
        None
    );
}

#[test]
fn durations() {
    let d = chrono::Duration::seconds;
    assert_eq!(human_duration(d(45)), "45s");
    assert_eq!(human_duration(d(192)), "3m12s");
    assert_eq!(human_duration(d(25 * 60)), "25m");
    assert_eq!(human_duration(d(5 * 3600 + 30 * 60)), "5h30m");
    assert_eq!(human_duration(d(20 * 3600)), "20h");
    assert_eq!(human_duration(d(3 * 86400 + 4 * 3600)), "3d4h");
    assert_eq!(human_duration(d(40 * 86400)), "40d");
}

/// The kinds with printers beyond NAME and AGE: headers as kubectl shows them
/// without and with `-o wide`, and each definition's type as kube-apiserver gives it.
#[test]
fn printer_kinds_headers_wide_headers_and_types() {
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a [&'a str],
        &'a [&'a str],
        &'a [&'a str],
    );
    let cases: [Case; 11] = [
        (
            "",
            "endpoints",
            &["NAME", "ENDPOINTS", "AGE"],
            &[],
            &["string"; 3],
        ),
        (
            "discovery.k8s.io",
            "endpointslices",
            &["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"],
            &[],
            &["string"; 5],
        ),
        (
            "",
            "serviceaccounts",
            &["NAME", "SECRETS", "AGE"],
            &[],
            &["string"; 3],
        ),
        (
            "",
            "persistentvolumes",
            &[
                "NAME",
                "CAPACITY",
                "ACCESS MODES",
                "RECLAIM POLICY",
                "STATUS",
                "CLAIM",
                "STORAGECLASS",
                "VOLUMEATTRIBUTESCLASS",
                "REASON",
                "AGE",
            ],
            &["VOLUMEMODE"],
            &["string"; 11],
        ),
        (
            "",
            "persistentvolumeclaims",
            &[
                "NAME",
                "STATUS",
                "VOLUME",
                "CAPACITY",
                "ACCESS MODES",
                "STORAGECLASS",
                "VOLUMEATTRIBUTESCLASS",
                "AGE",
            ],
            &["VOLUMEMODE"],
            &["string"; 9],
        ),
        (
            "",
            "resourcequotas",
            &["NAME", "REQUEST", "LIMIT", "AGE"],
            &[],
            &["string"; 4],
        ),
        (
            "",
            "limitranges",
            &["NAME", "CREATED AT"],
            &[],
            &["string", "date"],
        ),
        (
            "policy",
            "poddisruptionbudgets",
            &[
                "NAME",
                "MIN AVAILABLE",
                "MAX UNAVAILABLE",
                "ALLOWED DISRUPTIONS",
                "AGE",
            ],
            &[],
            &["string", "string", "string", "integer", "string"],
        ),
        (
            "apps",
            "controllerrevisions",
            &["NAME", "CONTROLLER", "REVISION", "AGE"],
            &[],
            &["string"; 4],
        ),
        (
            "",
            "replicationcontrollers",
            &["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
            &["CONTAINERS", "IMAGES", "SELECTOR"],
            &[
                "string", "integer", "integer", "integer", "string", "string", "string", "string",
            ],
        ),
        (
            "apps",
            "replicasets",
            &["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
            &["CONTAINERS", "IMAGES", "SELECTOR"],
            &[
                "string", "integer", "integer", "integer", "string", "string", "string", "string",
            ],
        ),
    ];
    for (group, plural, normal, wide_only, types) in cases {
        let table = render(
            &resource(group, plural),
            &json!({"metadata": {"name": "x"}}),
            "v1",
            true,
        );
        assert_eq!(headers(&table, false), normal, "{plural}");
        assert_eq!(
            &headers(&table, true)[normal.len()..],
            wide_only,
            "{plural}"
        );
        let kinds: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, types, "{plural}");
        assert_eq!(table["columnDefinitions"][0]["format"], "name", "{plural}");
        let cells = table["rows"][0]["cells"].as_array().unwrap();
        assert_eq!(cells.len(), types.len(), "{plural}");
    }
}

/// A ReplicationController's selector is a label map; `-o wide` prints it as
/// `k=v` pairs sorted by key.
#[test]
fn replication_controller_cells() {
    let rc = json!({
        "kind": "ReplicationController",
        "metadata": {"name": "rc1"},
        "spec": {"replicas": 3, "selector": {"tier": "web", "app": "shop"},
                 "template": {"spec": {"containers": [
                     {"name": "a", "image": "nginx:1"}, {"name": "b", "image": "busybox"}]}}},
        "status": {"replicas": 2, "readyReplicas": 1}
    });
    let table = render(&resource("", "replicationcontrollers"), &rc, "v1", true);
    assert_eq!(
        table["rows"][0]["cells"],
        json!([
            "rc1",
            3,
            2,
            1,
            "<unknown>",
            "a,b",
            "nginx:1,busybox",
            "app=shop,tier=web"
        ])
    );
}

/// Cells kube prints as text: a CronJob's SUSPEND (`True`, `False`, `<unset>`) and a
/// node's STATUS (`Unknown` before it reports a Ready condition).
#[test]
fn cron_job_suspend_and_node_status_text() {
    let cases = [
        (
            json!({"spec": {"schedule": "0/5 * * * ?", "suspend": false}}),
            "False",
        ),
        (
            json!({"spec": {"schedule": "0/5 * * * ?", "suspend": true}}),
            "True",
        ),
        (json!({"spec": {"schedule": "0/5 * * * ?"}}), "<unset>"),
    ];
    for (cron_job, suspend) in cases {
        let table = render(&resource("batch", "cronjobs"), &cron_job, "v1", true);
        assert_eq!(table["rows"][0]["cells"][3], suspend, "{cron_job}");
    }
    let nodes = [
        (json!({"status": {"conditions": []}}), "Unknown"),
        (
            json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
            "NotReady",
        ),
        (
            json!({"spec": {"unschedulable": true},
                   "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
            "Ready,SchedulingDisabled",
        ),
    ];
    for (node, status) in nodes {
        let table = render(&resource("", "nodes"), &node, "v1", true);
        assert_eq!(table["rows"][0]["cells"][1], status, "{node}");
    }
}

/// A node's roles are sorted and deduplicated; a CRD prints its creation time in
/// RFC 3339 (kube's default table), not an age.
#[test]
fn node_roles_and_crd_creation_time() {
    let node = json!({"metadata": {"labels": {
        "node-role.kubernetes.io/worker": "",
        "node-role.kubernetes.io/control-plane": "",
        "kubernetes.io/role": "worker",
        "node-role.kubernetes.io/": ""
    }}});
    let table = render(&resource("", "nodes"), &node, "v1", true);
    assert_eq!(table["rows"][0]["cells"][2], "control-plane,worker");
    let crd = json!({"metadata": {"name": "widgets.example.com",
                                  "creationTimestamp": "2024-05-06T09:08:09+02:00"}});
    let table = render(
        &resource("apiextensions.k8s.io", "customresourcedefinitions"),
        &crd,
        "v1",
        true,
    );
    assert_eq!(
        table["rows"][0]["cells"],
        json!(["widgets.example.com", "2024-05-06T07:08:09Z"])
    );
    assert_eq!(table["columnDefinitions"][1]["format"], "");
}

/// Selectors print as kube's `labels.Selector`: requirements sorted by key, values
/// sorted.
#[test]
fn selectors_sort_requirements_and_values() {
    let rs = json!({"spec": {"selector": {
    "matchLabels": {"tier": "web", "app": "shop"},
    "matchExpressions": [
        {"key": "legacy", "operator": "DoesNotExist"},
        {"key": "env", "operator": "In", "values": ["prod", "dev"]},
        {"key": "zone", "operator": "NotIn", "values": ["b", "a"]},
        {"key": "canary", "operator": "Exists"}
    ]}}});
    let table = render(&resource("apps", "replicasets"), &rs, "v1", true);
    assert_eq!(
        table["rows"][0]["cells"][7],
        "app=shop,canary,env in (dev,prod),!legacy,tier=web,zone notin (a,b)"
    );
}

/// A service's EXTERNAL-IP by type, as kube's printer gives it.
#[test]
fn service_external_ip_by_type() {
    let cases = [
        (json!({"type": "ClusterIP"}), json!({}), "<none>"),
        (
            json!({"type": "NodePort", "externalIPs": ["1.2.3.4", "5.6.7.8"]}),
            json!({}),
            "1.2.3.4,5.6.7.8",
        ),
        (json!({"type": "LoadBalancer"}), json!({}), "<pending>"),
        (
            json!({"type": "LoadBalancer", "externalIPs": ["9.9.9.9"]}),
            json!({"loadBalancer": {"ingress": [
                {"ip": "10.0.0.2"}, {"ip": "", "hostname": "lb.example.com"}, {"ip": "10.0.0.1"},
                {"ip": "10.0.0.2"}]}}),
            "10.0.0.1,10.0.0.2,lb.example.com,9.9.9.9",
        ),
        (
            json!({"type": "ExternalName", "externalName": "db.example.com"}),
            json!({}),
            "db.example.com",
        ),
        (json!({"type": "Bogus"}), json!({}), "<unknown>"),
    ];
    for (spec, status, expected) in cases {
        let svc = json!({"metadata": {"name": "s"}, "spec": spec, "status": status});
        let table = render(&resource("", "services"), &svc, "v1", true);
        assert_eq!(table["rows"][0]["cells"][3], expected, "{svc}");
    }
}
