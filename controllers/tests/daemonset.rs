//! The DaemonSet controller against an in-process API server. With no scheduler or
//! node agent, the tests read the node a pod is pinned to from its affinity, bind a
//! pod through `pods/binding` as the scheduler would, and mark pods Running and Ready
//! through the status subresource as a kubelet would.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{cluster, wait_for};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};
use skiff_controllers::daemonset::placement::target_node;
use skiff_controllers::revisions::HASH_LABEL;
use skiff_core::client::{Api, Patch, PostParams};

const WAIT: Duration = Duration::from_secs(30);

async fn add_node(nodes: &Api<Node>, name: &str, labels: Value, taints: Value) {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints}
    }))
    .unwrap();
    nodes.create(&node, &PostParams::default()).await.unwrap();
}

fn daemon_set(name: &str, node_selector: Value, strategy: Value) -> DaemonSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "updateStrategy": strategy,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"nodeSelector": node_selector,
                         "containers": [{"name": "c", "image": "agent:1"}]}
            }
        }
    }))
    .unwrap()
}

/// The live (not terminating) pods by the node they are for.
async fn pods_by_node(pods: &Api<Pod>) -> BTreeMap<String, Vec<Pod>> {
    let mut by_node: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
    for p in pods.list(&Default::default()).await.unwrap().items {
        if p.metadata.deletion_timestamp.is_none() {
            by_node
                .entry(target_node(&p).unwrap_or_default())
                .or_default()
                .push(p);
        }
    }
    by_node
}

async fn wait_on_nodes(pods: &Api<Pod>, want: &[&str]) -> BTreeMap<String, Vec<Pod>> {
    wait_for(&format!("one pod on each of {want:?}"), WAIT, || {
        let pods = pods.clone();
        async move {
            let by_node = pods_by_node(&pods).await;
            let nodes: Vec<&str> = by_node.keys().map(String::as_str).collect();
            (nodes == want && by_node.values().all(|p| p.len() == 1)).then_some(by_node)
        }
    })
    .await
}

async fn mark_ready(pods: &Api<Pod>, name: &str) {
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(skiff_core::runtime::now());
    let status = json!({"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": now}]}});
    pods.patch_status(name, &Patch::Merge(status), &Default::default())
        .await
        .unwrap();
}

async fn wait_status(
    sets: &Api<DaemonSet>,
    name: &str,
    what: &str,
    check: impl Fn(&DaemonSetStatus) -> bool,
) -> DaemonSetStatus {
    wait_for(what, WAIT, || {
        let sets = sets.clone();
        let check = &check;
        async move {
            let s = sets.get(name).await.unwrap().status?;
            check(&s).then_some(s)
        }
    })
    .await
}

fn name(p: &Pod) -> String {
    p.metadata.name.clone().unwrap_or_default()
}

#[tokio::test]
async fn one_pod_per_eligible_node_following_node_changes() {
    let (_server, client) = cluster().await;
    let controller =
        tokio::spawn(skiff_controllers::daemonset::run(client.clone()).for_each(|_| async {}));
    let nodes: Api<Node> = Api::all(client.clone());
    let sets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    add_node(&nodes, "n1", json!({"disk": "ssd"}), json!([])).await;
    add_node(
        &nodes,
        "n2",
        json!({"disk": "ssd"}),
        json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
    )
    .await;
    add_node(&nodes, "n3", json!({"disk": "hdd"}), json!([])).await;
    // Cordoned: daemon pods tolerate that by default.
    add_node(
        &nodes,
        "n4",
        json!({"disk": "ssd"}),
        json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
    )
    .await;
    let strategy = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}});
    sets.create(
        &daemon_set("agent", json!({"disk": "ssd"}), strategy),
        &PostParams::default(),
    )
    .await
    .unwrap();

    let placed = wait_on_nodes(&pods, &["n1", "n4"]).await;
    let pod = &placed["n1"][0];
    assert!(name(pod).starts_with("agent-"));
    assert!(pod
        .metadata
        .labels
        .as_ref()
        .unwrap()
        .contains_key(HASH_LABEL));
    let spec = pod.spec.clone().unwrap();
    let terms = spec
        .affinity
        .unwrap()
        .node_affinity
        .unwrap()
        .required_during_scheduling_ignored_during_execution
        .unwrap()
        .node_selector_terms;
    let field = &terms[0].match_fields.as_ref().unwrap()[0];
    assert_eq!(
        (field.key.as_str(), field.operator.as_str()),
        ("metadata.name", "In")
    );
    assert_eq!(field.values.as_deref(), Some(&["n1".to_owned()][..]));
    let tolerated: Vec<String> = spec
        .tolerations
        .unwrap()
        .into_iter()
        .filter_map(|t| t.key)
        .collect();
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/unschedulable",
        "node.kubernetes.io/memory-pressure",
    ] {
        assert!(tolerated.iter().any(|k| k == key), "tolerates {key}");
    }

    // The scheduler binds the n1 pod; the kubelet makes both ready.
    let binding = json!({"apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": name(pod)}, "target": {"kind": "Node", "name": "n1"}});
    pods.create_subresource(&name(pod), "binding", binding, &PostParams::default())
        .await
        .unwrap();
    for p in placed.values().flatten() {
        mark_ready(&pods, &name(p)).await;
    }
    let s = wait_status(&sets, "agent", "2 ready", |s| {
        s.number_ready == 2 && s.number_available == Some(2)
    })
    .await;
    assert_eq!(s.desired_number_scheduled, 2);
    assert_eq!(s.current_number_scheduled, 2);
    assert_eq!(s.updated_number_scheduled, Some(2));
    assert_eq!(s.number_misscheduled, 0);
    assert_eq!(s.observed_generation, Some(1));
    let bound = pods.get(&name(pod)).await.unwrap();
    assert_eq!(bound.spec.unwrap().node_name.as_deref(), Some("n1"));

    // A node added gets a pod.
    add_node(&nodes, "n5", json!({"disk": "ssd"}), json!([])).await;
    wait_on_nodes(&pods, &["n1", "n4", "n5"]).await;
    // A node that stops matching loses it.
    nodes
        .patch(
            "n4",
            &Patch::Merge(json!({"metadata": {"labels": {"disk": "hdd"}}})),
            &Default::default(),
        )
        .await
        .unwrap();
    wait_on_nodes(&pods, &["n1", "n5"]).await;
    // A NoExecute taint evicts.
    nodes
        .patch(
            "n5",
            &Patch::Merge(
                json!({"spec": {"taints": [{"key": "maintenance", "effect": "NoExecute"}]}}),
            ),
            &Default::default(),
        )
        .await
        .unwrap();
    wait_on_nodes(&pods, &["n1"]).await;
    // A node removed loses its pod (bound: it is terminating, for the kubelet to end).
    nodes.delete("n1", &Default::default()).await.unwrap();
    wait_on_nodes(&pods, &[]).await;
    let s = wait_status(&sets, "agent", "nothing desired", |s| {
        s.desired_number_scheduled == 0
    })
    .await;
    assert_eq!(s.current_number_scheduled, 0);
    controller.abort();
}

#[tokio::test]
async fn rolling_update_keeps_within_max_unavailable() {
    let (_server, client) = cluster().await;
    let controller =
        tokio::spawn(skiff_controllers::daemonset::run(client.clone()).for_each(|_| async {}));
    let nodes: Api<Node> = Api::all(client.clone());
    let sets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for n in ["a", "b", "c"] {
        add_node(&nodes, n, json!({}), json!([])).await;
    }
    let strategy = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}});
    sets.create(
        &daemon_set("agent", Value::Null, strategy),
        &PostParams::default(),
    )
    .await
    .unwrap();
    for p in wait_on_nodes(&pods, &["a", "b", "c"])
        .await
        .values()
        .flatten()
    {
        mark_ready(&pods, &name(p)).await;
    }
    let s = wait_status(&sets, "agent", "3 available", |s| {
        s.number_available == Some(3)
    })
    .await;
    assert_eq!(s.updated_number_scheduled, Some(3));

    sets.patch(
        "agent",
        &Patch::Strategic(json!({"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "agent:2"}]}}}})),
        &Default::default(),
    )
    .await
    .unwrap();
    // Play the kubelet: make new pods ready; at no point may two nodes lack a ready pod.
    wait_for("every node updated and ready", WAIT, || {
        let pods = pods.clone();
        async move {
            let by_node = pods_by_node(&pods).await;
            let mut with_ready = 0;
            let mut updated_ready = 0;
            for p in by_node.values().flatten() {
                let ready = skiff_controllers::pods::is_ready(p);
                let image = p.spec.as_ref().unwrap().containers[0].image.clone();
                let new = image.as_deref() == Some("agent:2");
                if ready {
                    with_ready += 1;
                    updated_ready += usize::from(new);
                } else if new {
                    mark_ready(&pods, &name(p)).await;
                }
            }
            assert!(
                with_ready >= 2,
                "more than one node unavailable: {with_ready} ready"
            );
            (updated_ready == 3 && by_node.values().all(|v| v.len() == 1)).then_some(())
        }
    })
    .await;
    let s = wait_status(&sets, "agent", "rollout complete", |s| {
        s.updated_number_scheduled == Some(3) && s.number_available == Some(3)
    })
    .await;
    assert_eq!(s.observed_generation, Some(2));
    assert_eq!(s.desired_number_scheduled, 3);
    let revisions: Api<ControllerRevision> = Api::namespaced(client.clone(), "default");
    let mut numbers: Vec<i64> = revisions
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|r| r.revision)
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, [1, 2]);
    controller.abort();
}

#[tokio::test]
async fn on_delete_replaces_only_deleted_pods() {
    let (_server, client) = cluster().await;
    let controller =
        tokio::spawn(skiff_controllers::daemonset::run(client.clone()).for_each(|_| async {}));
    let nodes: Api<Node> = Api::all(client.clone());
    let sets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for n in ["a", "b"] {
        add_node(&nodes, n, json!({}), json!([])).await;
    }
    sets.create(
        &daemon_set("agent", Value::Null, json!({"type": "OnDelete"})),
        &PostParams::default(),
    )
    .await
    .unwrap();
    let before = wait_on_nodes(&pods, &["a", "b"]).await;
    sets.patch(
        "agent",
        &Patch::Strategic(json!({"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "agent:2"}]}}}})),
        &Default::default(),
    )
    .await
    .unwrap();
    wait_status(&sets, "agent", "new generation observed", |s| {
        s.observed_generation == Some(2) && s.updated_number_scheduled == Some(0)
    })
    .await;
    let old_a = &before["a"][0];
    pods.delete(&name(old_a), &Default::default())
        .await
        .unwrap();
    let after = wait_for("a replaced at the new revision", WAIT, || {
        let pods = pods.clone();
        async move {
            let by_node = pods_by_node(&pods).await;
            let a = by_node.get("a")?.first()?.clone();
            let image = a.spec.as_ref()?.containers[0].image.clone();
            (image.as_deref() == Some("agent:2")).then_some(by_node)
        }
    })
    .await;
    assert_eq!(
        name(&after["b"][0]),
        name(&before["b"][0]),
        "b kept its old pod"
    );
    controller.abort();
}

#[tokio::test]
async fn max_surge_starts_the_new_pod_before_the_old_one_goes() {
    let (_server, client) = cluster().await;
    let controller =
        tokio::spawn(skiff_controllers::daemonset::run(client.clone()).for_each(|_| async {}));
    let nodes: Api<Node> = Api::all(client.clone());
    let sets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    add_node(&nodes, "a", json!({}), json!([])).await;
    let strategy =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}});
    sets.create(
        &daemon_set("agent", Value::Null, strategy),
        &PostParams::default(),
    )
    .await
    .unwrap();
    let before = wait_on_nodes(&pods, &["a"]).await;
    let old = name(&before["a"][0]);
    mark_ready(&pods, &old).await;
    wait_status(&sets, "agent", "1 available", |s| {
        s.number_available == Some(1)
    })
    .await;
    sets.patch(
        "agent",
        &Patch::Strategic(json!({"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "agent:2"}]}}}})),
        &Default::default(),
    )
    .await
    .unwrap();
    // The new pod starts beside the old one, which stays until the new one is ready.
    let surged = wait_for("a second pod on a", WAIT, || {
        let pods = pods.clone();
        async move {
            let by_node = pods_by_node(&pods).await;
            let on_a = by_node.get("a")?;
            (on_a.len() == 2).then(|| on_a.clone())
        }
    })
    .await;
    let new = surged.iter().map(name).find(|n| *n != old).unwrap();
    wait_status(&sets, "agent", "surge observed", |s| {
        s.observed_generation == Some(2)
    })
    .await;
    assert!(pods.get_opt(&old).await.unwrap().is_some(), "old pod kept");
    mark_ready(&pods, &new).await;
    let after = wait_on_nodes(&pods, &["a"]).await;
    assert_eq!(name(&after["a"][0]), new);
    wait_status(&sets, "agent", "rollout complete", |s| {
        s.updated_number_scheduled == Some(1) && s.number_available == Some(1)
    })
    .await;
    controller.abort();
}
