//! The custom_scheduler example's setup as a test: pods naming the custom
//! `fast-scheduler` land on the `tier=fast` node its PreferLabel plugin prefers (even
//! though it is the smallest), while default pods keep going where the default
//! profile puts them (the larger, emptier nodes).

mod common;
#[path = "../examples/support/prefer_label.rs"]
mod prefer_label;

use std::time::Duration;

use common::{add_node, add_pod, server, wait_for};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use skiff_core::client::Api;
use skiff_sched::scheduler::{Scheduler, SchedulerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_profile_prefers_its_label_and_default_pods_are_unaffected() {
    let (_server, client) = server().await;
    add_node(&client, "fast-1", json!({"tier": "fast"}), "4").await;
    add_node(&client, "slow-1", json!({"tier": "slow"}), "16").await;
    add_node(&client, "slow-2", json!({"tier": "slow"}), "16").await;
    let mut tasks = Vec::new();
    for config in [
        SchedulerConfig::default(),
        prefer_label::config("fast-scheduler", "tier", "fast"),
    ] {
        let s = Scheduler::new(client.clone(), config).expect("scheduler builds");
        tasks.push(tokio::spawn(async move {
            s.run(std::future::pending::<()>()).await
        }));
    }
    for i in 0..3 {
        add_pod(
            &client,
            &format!("default-{i}"),
            "500m",
            json!({}),
            json!({}),
        )
        .await;
        add_pod(
            &client,
            &format!("fast-{i}"),
            "500m",
            json!({}),
            json!({"schedulerName": "fast-scheduler"}),
        )
        .await;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for i in 0..3 {
        for (prefix, fast) in [("fast", true), ("default", false)] {
            let name = format!("{prefix}-{i}");
            let node = wait_for(Duration::from_secs(20), &name, || async {
                pods.get(&name).await.ok()?.spec?.node_name
            })
            .await;
            assert_eq!(node == "fast-1", fast, "{name} went to {node}");
        }
    }
    for t in tasks {
        t.abort();
    }
}
