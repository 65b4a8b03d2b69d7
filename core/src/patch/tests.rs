//! Cases modelled on Kubernetes' `strategicpatch` tests and on what `kubectl apply`,
//! `kubectl patch` and `kubectl scale` send.

use serde_json::{json, Value};

use super::*;

fn gvk(group: &str, kind: &str) -> GroupVersionKind {
    GroupVersionKind::new(group, "v1", kind)
}

fn pod_smp(live: Value, patch: Value) -> Value {
    apply_strategic_merge_patch(&live, &patch, &gvk("", "Pod"))
        .unwrap_or_else(|e| panic!("patch failed: {e}"))
}

fn deployment(containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers}
            }
        }
    })
}

#[test]
fn kubectl_apply_changes_one_container_image() {
    // What kubectl apply sends after the image of one container changed in the file.
    let live = deployment(json!([
        {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]},
        {"name": "sidecar", "image": "busybox", "args": ["sleep", "inf"]},
    ]));
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}"}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
            "containers": [{"name": "nginx", "image": "nginx:1.27"}]
        }}}
    });
    let patched = apply_strategic_merge_patch(&live, &patch, &gvk("apps", "Deployment")).unwrap();
    let containers = &patched["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        containers,
        &json!([
            {"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]},
            {"name": "sidecar", "image": "busybox", "args": ["sleep", "inf"]},
        ])
    );
    assert_eq!(
        patched["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        "{...}"
    );
    assert_eq!(patched["metadata"]["labels"]["app"], "web");
    assert_eq!(patched["spec"]["replicas"], 1);
}

#[test]
fn kubectl_apply_removes_a_container_and_an_env_var() {
    let live = deployment(json!([
        {"name": "a", "image": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
        {"name": "b", "image": "b"},
    ]));
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "a"}],
        "containers": [
            {"name": "a", "$setElementOrder/env": [{"name": "X"}], "env": [{"name": "Y", "$patch": "delete"}]},
            {"name": "b", "$patch": "delete"}
        ]
    }}}});
    let patched = apply_strategic_merge_patch(&live, &patch, &gvk("apps", "Deployment")).unwrap();
    assert_eq!(
        patched["spec"]["template"]["spec"]["containers"],
        json!([{"name": "a", "image": "a", "env": [{"name": "X", "value": "1"}]}])
    );
}

#[test]
fn lists_with_merge_keys_merge_by_key() {
    let live = json!({"spec": {"containers": [
        {"name": "a", "image": "a:1", "env": [{"name": "E1", "value": "1"}]},
        {"name": "b", "image": "b:1"},
    ]}});
    let patch = json!({"spec": {"containers": [
        {"name": "a", "env": [{"name": "E2", "value": "2"}, {"name": "E1", "value": "one"}]},
        {"name": "c", "image": "c:1"},
    ]}});
    let patched = pod_smp(live, patch);
    // Patch items in patch order; server-only `b` goes after them, since Kubernetes only
    // places a server-only item before a patch item that was also in the live list
    // after it (`c` is new, so `b` follows it).
    assert_eq!(
        patched["spec"]["containers"],
        json!([
            {"name": "a", "image": "a:1", "env": [{"name": "E2", "value": "2"}, {"name": "E1", "value": "one"}]},
            {"name": "c", "image": "c:1"},
            {"name": "b", "image": "b:1"},
        ])
    );
}

#[test]
fn merge_keys_of_builtin_fields() {
    let live = json!({"spec": {
        "containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "http"}],
                         "volumeMounts": [{"mountPath": "/data", "name": "d"}]}],
        "volumes": [{"name": "d", "emptyDir": {}}],
        "tolerations": [{"key": "k1", "operator": "Exists"}],
        "imagePullSecrets": [{"name": "s1"}],
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a"]}]
    }});
    let patch = json!({"spec": {
        "containers": [{"name": "a", "ports": [{"containerPort": 443, "name": "https"}],
                         "volumeMounts": [{"mountPath": "/data", "readOnly": true}]}],
        "volumes": [{"name": "e", "emptyDir": {}}],
        "tolerations": [{"key": "k2", "operator": "Exists"}],
        "imagePullSecrets": [{"name": "s2"}],
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["b"]}]
    }});
    let patched = pod_smp(live, patch);
    let spec = &patched["spec"];
    assert_eq!(
        spec["containers"][0]["ports"],
        json!([{"containerPort": 443, "name": "https"}, {"containerPort": 80, "name": "http"}])
    );
    assert_eq!(
        spec["containers"][0]["volumeMounts"],
        json!([{"mountPath": "/data", "name": "d", "readOnly": true}])
    );
    assert_eq!(
        spec["volumes"],
        json!([{"name": "e", "emptyDir": {}}, {"name": "d", "emptyDir": {}}])
    );
    // Tolerations have no patch strategy: replaced.
    assert_eq!(
        spec["tolerations"],
        json!([{"key": "k2", "operator": "Exists"}])
    );
    assert_eq!(
        spec["imagePullSecrets"],
        json!([{"name": "s2"}, {"name": "s1"}])
    );
    // hostnames has no strategy inside a merged host alias: replaced.
    assert_eq!(
        spec["hostAliases"],
        json!([{"ip": "10.0.0.1", "hostnames": ["b"]}])
    );
}

#[test]
fn services_merge_ports_by_port() {
    let live =
        json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": "a"}}});
    let patch = json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}});
    let patched = apply_strategic_merge_patch(&live, &patch, &gvk("", "Service")).unwrap();
    assert_eq!(
        patched["spec"]["ports"],
        json!([{"port": 80, "targetPort": 9090}, {"port": 443}])
    );
    assert_eq!(patched["spec"]["selector"], json!({"app": "a"}));
}

#[test]
fn status_conditions_merge_by_type() {
    let live = json!({"status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "True"},
        {"type": "Ready", "status": "False"},
    ]}});
    let patch = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
    let patched = pod_smp(live, patch);
    assert_eq!(
        patched["status"],
        json!({"phase": "Running", "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True"},
        ]})
    );
    let node = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}],
                                  "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}});
    let patched = apply_strategic_merge_patch(
        &node,
        &json!({"status": {"conditions": [{"type": "Ready", "status": "True"}],
                            "addresses": [{"type": "Hostname", "address": "n1"}]}}),
        &gvk("", "Node"),
    )
    .unwrap();
    assert_eq!(
        patched["status"]["conditions"],
        json!([{"type": "Ready", "status": "True"}])
    );
    assert_eq!(patched["status"]["addresses"].as_array().unwrap().len(), 2);
}

#[test]
fn null_deletes_and_maps_merge() {
    let live = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}}, "spec": {"nodeName": "n"}});
    let patch = json!({"metadata": {"labels": {"a": null, "c": "3"}, "annotations": null}, "spec": {"missing": null}});
    let patched = pod_smp(live, patch);
    assert_eq!(
        patched,
        json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"nodeName": "n"}})
    );
}

#[test]
fn finalizers_and_owner_references() {
    let live = json!({"metadata": {
        "finalizers": ["a", "b"],
        "ownerReferences": [{"uid": "1", "name": "rs", "controller": true}]
    }});
    let patch = json!({"metadata": {
        "finalizers": ["c", "a"],
        "ownerReferences": [{"uid": "2", "name": "other"}]
    }});
    let patched = apply_strategic_merge_patch(&live, &patch, &gvk("", "ConfigMap")).unwrap();
    assert_eq!(patched["metadata"]["finalizers"], json!(["c", "a", "b"]));
    assert_eq!(
        patched["metadata"]["ownerReferences"],
        json!([{"uid": "2", "name": "other"}, {"uid": "1", "name": "rs", "controller": true}])
    );
    let removed = apply_strategic_merge_patch(
        &patched,
        &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "zz"]}}),
        &gvk("", "ConfigMap"),
    )
    .unwrap();
    assert_eq!(removed["metadata"]["finalizers"], json!(["c", "b"]));
}

#[test]
fn patch_directives() {
    let live = json!({"spec": {
        "containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}],
        "securityContext": {"runAsUser": 1, "fsGroup": 2},
        "affinity": {"nodeAffinity": {}}
    }});
    // $patch: replace on a list replaces it with the other items.
    let patched = pod_smp(
        live.clone(),
        json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "c", "image": "c"}]}}),
    );
    assert_eq!(
        patched["spec"]["containers"],
        json!([{"name": "c", "image": "c"}])
    );
    // $patch: replace on a map replaces the map.
    let patched = pod_smp(
        live.clone(),
        json!({"spec": {"securityContext": {"$patch": "replace", "runAsUser": 5}}}),
    );
    assert_eq!(patched["spec"]["securityContext"], json!({"runAsUser": 5}));
    // $patch: delete on a map empties it.
    let patched = pod_smp(
        live.clone(),
        json!({"spec": {"affinity": {"$patch": "delete"}}}),
    );
    assert_eq!(patched["spec"]["affinity"], json!({}));
    // $patch: delete on a list item removes it.
    let patched = pod_smp(
        live.clone(),
        json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}),
    );
    assert_eq!(
        patched["spec"]["containers"],
        json!([{"name": "b", "image": "b"}])
    );
    // $retainKeys drops the keys it does not list.
    let patched = pod_smp(
        live.clone(),
        json!({"spec": {"securityContext": {"$retainKeys": ["runAsUser"], "runAsUser": 7}}}),
    );
    assert_eq!(patched["spec"]["securityContext"], json!({"runAsUser": 7}));
    // Directives in a new subtree do not leak into the object.
    let patched = pod_smp(
        json!({}),
        json!({"spec": {"containers": [{"name": "x", "$patch": "delete"}, {"name": "y"}]}}),
    );
    assert_eq!(patched, json!({"spec": {"containers": [{"name": "y"}]}}));
}

#[test]
fn deployment_strategy_switch_with_retain_keys() {
    // kubectl apply switching from RollingUpdate to Recreate sends $retainKeys.
    let live =
        json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}});
    let patched = apply_strategic_merge_patch(&live, &patch, &gvk("apps", "Deployment")).unwrap();
    assert_eq!(patched["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn set_element_order_reorders() {
    let live = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}});
    let patched = pod_smp(
        live.clone(),
        json!({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}}),
    );
    assert_eq!(
        patched["spec"]["containers"],
        json!([{"name": "c"}, {"name": "a"}, {"name": "b"}])
    );
    // A server-only item goes before the first ordered item it preceded in the live
    // list (`b` was before `c`), as Kubernetes' best-effort ordering does.
    let patched = pod_smp(
        live,
        json!({"spec": {
            "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "d"}],
            "containers": [{"name": "d", "image": "d"}]
        }}),
    );
    assert_eq!(
        patched["spec"]["containers"],
        json!([{"name": "b"}, {"name": "c"}, {"name": "a"}, {"name": "d", "image": "d"}])
    );
    let finalizers = apply_strategic_merge_patch(
        &json!({"metadata": {"finalizers": ["x", "y"]}}),
        &json!({"metadata": {"$setElementOrder/finalizers": ["y", "z", "x"], "finalizers": ["z"]}}),
        &gvk("", "Secret"),
    )
    .unwrap();
    assert_eq!(finalizers["metadata"]["finalizers"], json!(["y", "z", "x"]));
}

#[test]
fn bad_patches_are_bad_requests_not_panics() {
    let live = json!({"spec": {"containers": [{"name": "a"}]}});
    let cases = [
        (json!({"spec": {"containers": [{"image": "no-name"}]}}), 400),
        (json!({"spec": {"containers": [{"$patch": "merge"}]}}), 400),
        (
            json!({"spec": {"containers": [{"$patch": "bogus", "name": "a"}]}}),
            400,
        ),
        (
            json!({"spec": {"containers": [{"name": "a"}, "scalar"]}}),
            400,
        ),
        (json!({"spec": {"containers": [[1]]}}), 422),
        (json!({"spec": {"$patch": "bogus"}}), 400),
        (json!({"spec": {"$retainKeys": "x"}}), 400),
        (json!({"spec": {"$retainKeys": ["a"], "b": 1}}), 400),
        (json!({"spec": {"$setElementOrder/containers": "x"}}), 400),
        (json!({"spec": {"$setElementOrder/": []}}), 400),
        (json!({"spec": {"$deleteFromPrimitiveList": []}}), 400),
        (
            json!({"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "b"}]}}),
            400,
        ),
        (
            json!({"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": {"x": 1}}}),
            400,
        ),
        (json!("not an object"), 400),
    ];
    for (patch, code) in cases {
        let err = apply_strategic_merge_patch(&live, &patch, &gvk("", "Pod"))
            .expect_err(&patch.to_string());
        assert_eq!(err.code, code, "{patch}: {err}");
    }
}

#[test]
fn custom_kinds_have_no_merge_keys() {
    let crd_kind = GroupVersionKind::new("example.com", "v1", "Widget");
    assert!(!supports_strategic_merge_patch(&crd_kind));
    assert!(supports_strategic_merge_patch(&gvk("apps", "Deployment")));
    assert!(supports_strategic_merge_patch(&gvk("", "Pod")));
    let live = json!({"spec": {"items": [{"name": "a"}]}});
    let patched = apply_strategic_merge_patch(
        &live,
        &json!({"spec": {"items": [{"name": "b"}]}}),
        &crd_kind,
    )
    .unwrap();
    assert_eq!(patched["spec"]["items"], json!([{"name": "b"}]));
    // A kind of the same name in another group is not the built-in one.
    let fake_pod = GroupVersionKind::new("example.com", "v1", "Pod");
    let patched = apply_strategic_merge_patch(
        &json!({"spec": {"containers": [{"name": "a"}]}}),
        &json!({"spec": {"containers": [{"name": "b"}]}}),
        &fake_pod,
    )
    .unwrap();
    assert_eq!(patched["spec"]["containers"], json!([{"name": "b"}]));
}

#[test]
fn cronjob_reaches_pod_spec_through_job_template() {
    let live = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}
    ]}}}}}});
    let patch = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
        {"name": "b", "image": "b:2"}
    ]}}}}}});
    let patched = apply_strategic_merge_patch(&live, &patch, &gvk("batch", "CronJob")).unwrap();
    assert_eq!(
        patched["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"],
        json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}])
    );
}

#[test]
fn json_patch() {
    let doc = json!({"metadata": {"annotations": {"a": "1"}}, "spec": {"replicas": 1, "template": {"x": 1}}});
    // What kubectl rollout undo sends.
    let patch = json!([
        {"op": "replace", "path": "/spec/template", "value": {"y": 2}},
        {"op": "replace", "path": "/metadata/annotations", "value": {"b": "2"}}
    ]);
    let patched = apply_json_patch(&doc, &patch).unwrap();
    assert_eq!(patched["spec"]["template"], json!({"y": 2}));
    assert_eq!(patched["metadata"]["annotations"], json!({"b": "2"}));

    let cases = [
        (
            json!([{"op": "add", "path": "/spec/paused", "value": true}]),
            Ok(json!(true)),
        ),
        (
            json!([{"op": "test", "path": "/spec/replicas", "value": 2}]),
            Err(422),
        ),
        (json!([{"op": "remove", "path": "/spec/nothing"}]), Err(422)),
        (json!([{"op": "explode", "path": "/"}]), Err(400)),
        (json!({"op": "add"}), Err(400)),
    ];
    for (patch, want) in cases {
        let got = apply_json_patch(&doc, &patch)
            .map(|d| d["spec"]["paused"].clone())
            .map_err(|e| e.code);
        assert_eq!(got, want, "{patch}");
    }
    // Atomic: a failing second operation leaves nothing of the first.
    let partial = json!([
        {"op": "add", "path": "/spec/paused", "value": true},
        {"op": "test", "path": "/spec/replicas", "value": 9}
    ]);
    assert!(apply_json_patch(&doc, &partial).is_err());
}

#[test]
fn merge_patch() {
    let doc = json!({"spec": {"replicas": 1, "containers": [{"name": "a"}, {"name": "b"}]}, "metadata": {"labels": {"x": "1"}}});
    // What kubectl scale sends to /scale.
    let patched = apply_merge_patch(&doc, &json!({"spec": {"replicas": 5}})).unwrap();
    assert_eq!(patched["spec"]["replicas"], 5);
    assert_eq!(patched["spec"]["containers"].as_array().unwrap().len(), 2);
    // Lists are replaced, null deletes.
    let patched = apply_merge_patch(
        &doc,
        &json!({"spec": {"containers": [{"name": "c"}]}, "metadata": {"labels": {"x": null, "y": "2"}}}),
    )
    .unwrap();
    assert_eq!(patched["spec"]["containers"], json!([{"name": "c"}]));
    assert_eq!(patched["metadata"]["labels"], json!({"y": "2"}));
    assert_eq!(apply_merge_patch(&doc, &json!([1])).unwrap_err().code, 400);
}
