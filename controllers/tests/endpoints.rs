//! The Endpoints and EndpointSlice controllers against an in-process API server:
//! addresses follow pods becoming ready and not ready and being deleted; named target
//! ports; slices with their labels and conditions; selectorless services left alone.

mod common;

use std::time::Duration;

use common::{cluster, wait_for};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;
use skiff_controllers::endpoints::{self, MANAGED_BY_LABEL, MANAGED_BY_VALUE, SERVICE_NAME_LABEL};
use skiff_core::client::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};

const WAIT: Duration = Duration::from_secs(20);

fn service(name: &str, extra: serde_json::Value) -> Service {
    let mut v = json!({"metadata": {"name": name, "labels": {"team": "a"}},
        "spec": {"selector": {"app": name}, "ports": [
            {"name": "http", "port": 80, "targetPort": "http"},
            {"name": "admin", "port": 9000, "targetPort": 9001}]}});
    if let (Some(spec), Some(extra)) = (v["spec"].as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    serde_json::from_value(v).unwrap()
}

fn pod(name: &str, app: &str, http_port: i32) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": app}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox",
            "ports": [{"name": "http", "containerPort": http_port}]}]}}))
    .unwrap()
}

/// Sets the pod's IP and readiness, as a node agent would.
async fn set_status(pods: &Api<Pod>, name: &str, ip: &str, ready: bool) {
    let status = if ready { "True" } else { "False" };
    let patch = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": status}]}});
    pods.patch_status(name, &Patch::Merge(patch), &PatchParams::default())
        .await
        .unwrap();
}

/// (ready IPs, not-ready IPs) of the Endpoints, when it exists.
async fn addresses(eps: &Api<Endpoints>, name: &str) -> Option<(Vec<String>, Vec<String>)> {
    let ep = eps.get_opt(name).await.unwrap()?;
    let mut ready = Vec::new();
    let mut not_ready = Vec::new();
    for s in ep.subsets.unwrap_or_default() {
        ready.extend(s.addresses.unwrap_or_default().into_iter().map(|a| a.ip));
        not_ready.extend(
            s.not_ready_addresses
                .unwrap_or_default()
                .into_iter()
                .map(|a| a.ip),
        );
    }
    ready.sort();
    not_ready.sort();
    Some((ready, not_ready))
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn endpoints_follow_pod_readiness_and_deletion() {
    let (_server, client) = cluster().await;
    let ctl = tokio::spawn(endpoints::run_endpoints(client.clone()).for_each(|_| async {}));
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let eps: Api<Endpoints> = Api::namespaced(client.clone(), "default");

    services
        .create(&service("web", json!({})), &PostParams::default())
        .await
        .unwrap();
    // An empty Endpoints first, labelled like the service.
    let ep = wait_for("empty endpoints", WAIT, || {
        let eps = eps.clone();
        async move { eps.get_opt("web").await.unwrap() }
    })
    .await;
    assert!(ep.subsets.unwrap_or_default().is_empty());
    assert_eq!(ep.metadata.labels.unwrap()["team"], "a");

    pods.create(&pod("web-1", "web", 8080), &PostParams::default())
        .await
        .unwrap();
    pods.create(&pod("web-2", "web", 8081), &PostParams::default())
        .await
        .unwrap();
    pods.create(&pod("no-ip", "web", 8082), &PostParams::default())
        .await
        .unwrap();
    pods.create(&pod("other", "db", 8080), &PostParams::default())
        .await
        .unwrap();
    set_status(&pods, "other", "10.1.0.9", true).await;
    set_status(&pods, "web-1", "10.1.0.1", true).await;
    set_status(&pods, "web-2", "10.1.0.2", false).await;

    wait_for("one ready and one not-ready address", WAIT, || {
        let eps = eps.clone();
        async move {
            (addresses(&eps, "web").await? == (strings(&["10.1.0.1"]), strings(&["10.1.0.2"])))
                .then_some(())
        }
    })
    .await;
    // Named target ports resolve per pod: the two pods differ, so two subsets.
    let ep = eps.get("web").await.unwrap();
    let subsets = ep.subsets.unwrap();
    assert_eq!(subsets.len(), 2);
    for s in &subsets {
        let addr = s
            .addresses
            .iter()
            .chain(s.not_ready_addresses.iter())
            .flatten()
            .next()
            .unwrap();
        let mut ports: Vec<(String, i32)> = s
            .ports
            .iter()
            .flatten()
            .map(|p| (p.name.clone().unwrap(), p.port))
            .collect();
        ports.sort();
        let http = if addr.ip == "10.1.0.1" { 8080 } else { 8081 };
        assert_eq!(
            ports,
            [("admin".to_owned(), 9001), ("http".to_owned(), http)]
        );
        assert_eq!(addr.node_name.as_deref(), Some("node-1"));
        let target = addr.target_ref.clone().unwrap();
        assert_eq!(target.kind.as_deref(), Some("Pod"));
        assert!(target.uid.is_some());
    }

    // web-1 stops being ready, web-2 becomes ready.
    set_status(&pods, "web-1", "10.1.0.1", false).await;
    set_status(&pods, "web-2", "10.1.0.2", true).await;
    wait_for("readiness to swap", WAIT, || {
        let eps = eps.clone();
        async move {
            (addresses(&eps, "web").await? == (strings(&["10.1.0.2"]), strings(&["10.1.0.1"])))
                .then_some(())
        }
    })
    .await;

    // Deleting a pod (immediately) removes it.
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    pods.delete("web-2", &now).await.unwrap();
    wait_for("web-2 to be gone", WAIT, || {
        let eps = eps.clone();
        async move {
            (addresses(&eps, "web").await? == (vec![], strings(&["10.1.0.1"]))).then_some(())
        }
    })
    .await;

    // A terminating pod (grace period) leaves the Endpoints at once.
    set_status(&pods, "web-1", "10.1.0.1", true).await;
    wait_for("web-1 ready", WAIT, || {
        let eps = eps.clone();
        async move { (addresses(&eps, "web").await? == (strings(&["10.1.0.1"]), vec![])).then_some(()) }
    })
    .await;
    pods.delete("web-1", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("terminating web-1 to be dropped", WAIT, || {
        let eps = eps.clone();
        async move { (addresses(&eps, "web").await? == (vec![], vec![])).then_some(()) }
    })
    .await;

    // Deleting the service deletes its Endpoints.
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("endpoints to be deleted", WAIT, || {
        let eps = eps.clone();
        async move { eps.get_opt("web").await.unwrap().is_none().then_some(()) }
    })
    .await;
    ctl.abort();
}

#[tokio::test]
async fn publish_not_ready_and_selectorless_services() {
    let (_server, client) = cluster().await;
    let ctl = tokio::spawn(endpoints::run_endpoints(client.clone()).for_each(|_| async {}));
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let eps: Api<Endpoints> = Api::namespaced(client.clone(), "default");

    // A selectorless service's Endpoints are the user's: left as they are.
    let manual: Service = serde_json::from_value(
        json!({"metadata": {"name": "manual"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .unwrap();
    services
        .create(&manual, &PostParams::default())
        .await
        .unwrap();
    let user_ep: Endpoints = serde_json::from_value(json!({"metadata": {"name": "manual"},
        "subsets": [{"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 80}]}]}))
    .unwrap();
    eps.create(&user_ep, &PostParams::default()).await.unwrap();

    services
        .create(
            &service("db", json!({"publishNotReadyAddresses": true})),
            &PostParams::default(),
        )
        .await
        .unwrap();
    pods.create(&pod("db-1", "db", 5432), &PostParams::default())
        .await
        .unwrap();
    set_status(&pods, "db-1", "10.1.0.7", false).await;
    wait_for("a not-ready pod published as ready", WAIT, || {
        let eps = eps.clone();
        async move { (addresses(&eps, "db").await? == (strings(&["10.1.0.7"]), vec![])).then_some(()) }
    })
    .await;
    // By now the controller has synced every service; the manual Endpoints is intact.
    assert_eq!(
        addresses(&eps, "manual").await,
        Some((strings(&["192.0.2.1"]), vec![]))
    );

    // Someone deletes the db Endpoints: the controller puts it back.
    eps.delete("db", &DeleteParams::default()).await.unwrap();
    wait_for("endpoints to be recreated", WAIT, || {
        let eps = eps.clone();
        async move { (addresses(&eps, "db").await? == (strings(&["10.1.0.7"]), vec![])).then_some(()) }
    })
    .await;
    ctl.abort();
}

async fn slices(api: &Api<EndpointSlice>, svc: &str) -> Vec<EndpointSlice> {
    api.list(&ListParams::default().labels(&format!("{SERVICE_NAME_LABEL}={svc}")))
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn endpoint_slices_follow_pods() {
    let (_server, client) = cluster().await;
    let ctl = tokio::spawn(endpoints::run_slices(client.clone()).for_each(|_| async {}));
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");

    let svc = services
        .create(&service("web", json!({})), &PostParams::default())
        .await
        .unwrap();
    // A placeholder slice for a service with no endpoints.
    let placeholder = wait_for("a placeholder slice", WAIT, || {
        let api = api.clone();
        async move { slices(&api, "web").await.into_iter().next() }
    })
    .await;
    assert!(placeholder.endpoints.is_empty());
    let labels = placeholder.metadata.labels.clone().unwrap();
    assert_eq!(labels[MANAGED_BY_LABEL], MANAGED_BY_VALUE);
    assert_eq!(labels["team"], "a");
    assert!(placeholder.metadata.name.unwrap().starts_with("web-"));
    let owner = &placeholder.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Service", svc.metadata.uid.as_deref().unwrap())
    );

    for (name, ip, ready) in [("web-1", "10.1.0.1", true), ("web-2", "10.1.0.2", false)] {
        pods.create(&pod(name, "web", 8080), &PostParams::default())
            .await
            .unwrap();
        set_status(&pods, name, ip, ready).await;
    }
    pods.create(&pod("no-ip", "web", 8080), &PostParams::default())
        .await
        .unwrap();
    let conditions = |s: &[EndpointSlice]| {
        let mut out: Vec<(String, bool, bool, bool)> = s
            .iter()
            .flat_map(|s| s.endpoints.iter())
            .map(|e| {
                let c = e.conditions.clone().unwrap_or_default();
                (
                    e.addresses[0].clone(),
                    c.ready.unwrap_or(false),
                    c.serving.unwrap_or(false),
                    c.terminating.unwrap_or(false),
                )
            })
            .collect();
        out.sort();
        out
    };
    let found = wait_for("two endpoints in one slice", WAIT, || {
        let api = api.clone();
        async move {
            let s = slices(&api, "web").await;
            (conditions(&s).len() == 2).then_some(s)
        }
    })
    .await;
    assert_eq!(found.len(), 1, "the placeholder is reused: {found:?}");
    assert_eq!(
        conditions(&found),
        [
            ("10.1.0.1".to_owned(), true, true, false),
            ("10.1.0.2".to_owned(), false, false, false)
        ]
    );
    let slice = &found[0];
    assert_eq!(slice.address_type, "IPv4");
    let mut ports: Vec<(String, i32)> = slice
        .ports
        .iter()
        .flatten()
        .map(|p| (p.name.clone().unwrap(), p.port.unwrap()))
        .collect();
    ports.sort();
    assert_eq!(
        ports,
        [("admin".to_owned(), 9001), ("http".to_owned(), 8080)]
    );
    let web1 = slice
        .endpoints
        .iter()
        .find(|e| e.addresses[0] == "10.1.0.1")
        .unwrap();
    assert_eq!(web1.node_name.as_deref(), Some("node-1"));
    assert_eq!(
        web1.target_ref.as_ref().unwrap().name.as_deref(),
        Some("web-1")
    );

    // A terminating pod stays, marked terminating and not ready.
    pods.delete("web-1", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("web-1 terminating", WAIT, || {
        let api = api.clone();
        async move {
            let s = slices(&api, "web").await;
            conditions(&s)
                .contains(&("10.1.0.1".to_owned(), false, true, true))
                .then_some(())
        }
    })
    .await;
    // Deleted for good, it goes.
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    pods.delete("web-1", &now).await.unwrap();
    wait_for("web-1 gone", WAIT, || {
        let api = api.clone();
        async move {
            let s = slices(&api, "web").await;
            (conditions(&s) == [("10.1.0.2".to_owned(), false, false, false)]).then_some(())
        }
    })
    .await;
    ctl.abort();
}

#[tokio::test]
async fn a_hundred_and_fifty_pods_make_two_slices() {
    let (_server, client) = cluster().await;
    let ctl = tokio::spawn(endpoints::run_slices(client.clone()).for_each(|_| async {}));
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    for i in 0..150 {
        let name = format!("big-{i}");
        pods.create(&pod(&name, "big", 8080), &PostParams::default())
            .await
            .unwrap();
        set_status(
            &pods,
            &name,
            &format!("10.2.{}.{}", i / 200, i % 200 + 1),
            true,
        )
        .await;
    }
    services
        .create(&service("big", json!({})), &PostParams::default())
        .await
        .unwrap();
    let found = wait_for("150 endpoints", WAIT, || {
        let api = api.clone();
        async move {
            let s = slices(&api, "big").await;
            (s.iter().map(|s| s.endpoints.len()).sum::<usize>() == 150).then_some(s)
        }
    })
    .await;
    let mut sizes: Vec<usize> = found.iter().map(|s| s.endpoints.len()).collect();
    sizes.sort();
    assert_eq!(sizes, [50, 100]);
    ctl.abort();
}
