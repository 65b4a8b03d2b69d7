//! A custom scheduler beside the default one, in-process: a `PreferLabel` Score
//! plugin (see `support/prefer_label.rs`) in a profile named `fast-scheduler`
//! prefers nodes labelled `tier=fast`; pods that ask for `fast-scheduler` land there,
//! the others are placed by the default scheduler as usual.
//!
//! `cargo run -p skiff-sched --example custom_scheduler`

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/prefer_label.rs"]
mod prefer_label;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use skiff_core::client::Api;
use skiff_sched::scheduler::{Scheduler, SchedulerConfig};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (_server, client) = common::server().await;
    common::add_node(&client, "fast-1", json!({"tier": "fast"}), "4").await;
    common::add_node(&client, "slow-1", json!({"tier": "slow"}), "16").await;
    common::add_node(&client, "slow-2", json!({"tier": "slow"}), "16").await;

    let config = prefer_label::config("fast-scheduler", "tier", "fast");
    for config in [SchedulerConfig::default(), config] {
        match Scheduler::new(client.clone(), config) {
            Ok(s) => drop(tokio::spawn(async move {
                s.run(std::future::pending::<()>()).await
            })),
            Err(e) => return eprintln!("building a scheduler: {e}"),
        }
    }
    for i in 0..3 {
        common::add_pod(
            &client,
            &format!("default-{i}"),
            "500m",
            json!({}),
            json!({}),
        )
        .await;
        common::add_pod(
            &client,
            &format!("fast-{i}"),
            "500m",
            json!({}),
            json!({"schedulerName": "fast-scheduler"}),
        )
        .await;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let list = match pods.list(&Default::default()).await {
            Ok(l) => l.items,
            Err(e) => return eprintln!("listing pods: {e}"),
        };
        let node = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.clone());
        if list.iter().all(|p| node(p).is_some()) || tokio::time::Instant::now() > deadline {
            for p in &list {
                let by = p
                    .spec
                    .as_ref()
                    .and_then(|s| s.scheduler_name.as_deref())
                    .unwrap_or("default-scheduler");
                let name = p.metadata.name.as_deref().unwrap_or("?");
                println!(
                    "{name:10} scheduled by {by:18} -> {}",
                    node(p).unwrap_or_else(|| "(pending)".into())
                );
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
