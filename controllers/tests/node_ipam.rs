//! Node IPAM against an in-process API server: unique pod CIDRs, existing ones
//! respected at start and after a restart, a deleted node's CIDR reused.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{cluster, wait_for};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use serde_json::json;
use skiff_controllers::node_ipam::{self, Config};
use skiff_core::client::{Api, DeleteParams, PostParams};

const WAIT: Duration = Duration::from_secs(20);

fn node(name: &str, cidr: Option<&str>) -> Node {
    let spec = match cidr {
        Some(c) => json!({"podCIDR": c, "podCIDRs": [c]}),
        None => json!({}),
    };
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
}

async fn cidr_of(nodes: &Api<Node>, name: &str) -> Option<String> {
    let spec = nodes.get(name).await.unwrap().spec?;
    let cidr = spec.pod_cidr?;
    assert_eq!(spec.pod_cidrs, Some(vec![cidr.clone()]));
    Some(cidr)
}

async fn wait_cidr(nodes: &Api<Node>, name: &str) -> String {
    wait_for(&format!("a pod CIDR for {name}"), WAIT, || {
        let nodes = nodes.clone();
        let name = name.to_owned();
        async move { cidr_of(&nodes, &name).await }
    })
    .await
}

#[tokio::test]
async fn nodes_get_unique_cidrs_and_deleted_ones_are_reused() {
    let (_server, client) = cluster().await;
    let nodes: Api<Node> = Api::all(client.clone());
    // A node that already has a CIDR before the controller starts.
    nodes
        .create(&node("old", Some("10.244.0.0/24")), &PostParams::default())
        .await
        .unwrap();
    let config = Config::new("10.244.0.0/16", 24).unwrap();
    let ctl = tokio::spawn(
        node_ipam::run(client.clone(), config)
            .unwrap()
            .for_each(|_| async {}),
    );

    for name in ["a", "b", "c"] {
        nodes
            .create(&node(name, None), &PostParams::default())
            .await
            .unwrap();
    }
    let mut seen = HashSet::from(["10.244.0.0/24".to_owned()]);
    for name in ["a", "b", "c"] {
        let cidr = wait_cidr(&nodes, name).await;
        let net: ipnet::IpNet = cidr.parse().unwrap();
        assert_eq!(net.prefix_len(), 24);
        assert!(config.cluster_cidr.contains(&net));
        assert!(seen.insert(cidr.clone()), "{cidr} given twice");
    }
    assert_eq!(
        cidr_of(&nodes, "old").await.as_deref(),
        Some("10.244.0.0/24")
    );

    // b is deleted; its CIDR is the first free one, so the next node gets it.
    let b_cidr = cidr_of(&nodes, "b").await.unwrap();
    nodes.delete("b", &DeleteParams::default()).await.unwrap();
    nodes
        .create(&node("d", None), &PostParams::default())
        .await
        .unwrap();
    assert_eq!(wait_cidr(&nodes, "d").await, b_cidr);

    // A restarted controller rebuilds the allocations from the nodes.
    ctl.abort();
    let _ = ctl.await;
    let ctl = tokio::spawn(
        node_ipam::run(client.clone(), config)
            .unwrap()
            .for_each(|_| async {}),
    );
    nodes
        .create(&node("e", None), &PostParams::default())
        .await
        .unwrap();
    let e = wait_cidr(&nodes, "e").await;
    let all: HashSet<String> = {
        let mut all = HashSet::new();
        for n in ["old", "a", "c", "d", "e"] {
            assert!(
                all.insert(cidr_of(&nodes, n).await.unwrap()),
                "duplicate at {n}"
            );
        }
        all
    };
    assert_eq!(all.len(), 5);
    assert_eq!(e, "10.244.4.0/24");
    ctl.abort();
}

#[tokio::test]
async fn a_full_cluster_cidr_leaves_new_nodes_without_one() {
    let (_server, client) = cluster().await;
    let nodes: Api<Node> = Api::all(client.clone());
    // Two /25s in a /24.
    let config = Config::new("10.9.0.0/24", 25).unwrap();
    let ctl = tokio::spawn(
        node_ipam::run(client.clone(), config)
            .unwrap()
            .for_each(|_| async {}),
    );
    for name in ["a", "b"] {
        nodes
            .create(&node(name, None), &PostParams::default())
            .await
            .unwrap();
        wait_cidr(&nodes, name).await;
    }
    nodes
        .create(&node("c", None), &PostParams::default())
        .await
        .unwrap();
    // Deleting a frees a CIDR for c, which the controller is retrying.
    let a = cidr_of(&nodes, "a").await.unwrap();
    assert_eq!(cidr_of(&nodes, "c").await, None);
    nodes.delete("a", &DeleteParams::default()).await.unwrap();
    assert_eq!(wait_cidr(&nodes, "c").await, a);
    ctl.abort();
}
