//! Two schedulers against one API server with leader election: only the holder of
//! the `kube-system/kube-scheduler` Lease binds pods; when it stops (releasing the
//! lease), the other takes over.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{add_node, add_pod, server, wait_for};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use skiff_core::client::{Api, Client};
use skiff_core::runtime::leader::LeaseConfig;
use skiff_sched::scheduler::{RunOutcome, Scheduler, SchedulerConfig, LEASE_NAME, LEASE_NAMESPACE};

const WAIT: Duration = Duration::from_secs(30);

fn lease() -> LeaseConfig {
    LeaseConfig {
        lease_duration: Duration::from_secs(3),
        renew_deadline: Duration::from_secs(2),
        retry_period: Duration::from_millis(200),
    }
}

fn candidate(
    client: Arc<dyn Client>,
    identity: &'static str,
) -> (
    Scheduler,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<RunOutcome>,
) {
    let scheduler = Scheduler::new(client, SchedulerConfig::default()).expect("scheduler builds");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = scheduler.clone();
    let task = tokio::spawn(async move {
        runner
            .run_with_leader_election(identity, lease(), async {
                let _ = stopped.await;
            })
            .await
    });
    (scheduler, stop, task)
}

async fn all_bound(pods: &Api<Pod>, names: &[String]) -> Option<()> {
    for n in names {
        pods.get(n).await.ok()?.spec?.node_name?;
    }
    Some(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_binds_and_the_other_takes_over() {
    let (_server, client) = server().await;
    add_node(&client, "n1", json!({}), "100").await;
    let (a, stop_a, task_a) = candidate(client.clone(), "sched-a");
    let (b, stop_b, task_b) = candidate(client.clone(), "sched-b");

    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let holder = wait_for(WAIT, "a lease holder", || async {
        leases.get(LEASE_NAME).await.ok()?.spec?.holder_identity
    })
    .await;
    let (leader, stop_leader, task_leader, follower, stop_follower, task_follower) =
        if holder == "sched-a" {
            (a, stop_a, task_a, b, stop_b, task_b)
        } else {
            (b, stop_b, task_b, a, stop_a, task_a)
        };

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let first: Vec<String> = (0..5).map(|i| format!("first-{i}")).collect();
    for n in &first {
        add_pod(&client, n, "100m", json!({}), json!({})).await;
    }
    wait_for(WAIT, "the first pods bound", || all_bound(&pods, &first)).await;
    wait_for(WAIT, "the leader's count", || async {
        (leader.bound_pods() == 5).then_some(())
    })
    .await;
    assert_eq!(follower.bound_pods(), 0, "only the leader binds");

    // The leader stops and releases the lease; the follower takes over.
    let _ = stop_leader.send(());
    assert_eq!(task_leader.await.expect("leader task"), RunOutcome::Stopped);
    let other = if holder == "sched-a" {
        "sched-b"
    } else {
        "sched-a"
    };
    wait_for(WAIT, "the follower to hold the lease", || async {
        let h = leases.get(LEASE_NAME).await.ok()?.spec?.holder_identity?;
        (h == other).then_some(())
    })
    .await;
    let second: Vec<String> = (0..3).map(|i| format!("second-{i}")).collect();
    for n in &second {
        add_pod(&client, n, "100m", json!({}), json!({})).await;
    }
    wait_for(WAIT, "the second pods bound", || all_bound(&pods, &second)).await;
    wait_for(WAIT, "the follower's count", || async {
        (follower.bound_pods() == 3).then_some(())
    })
    .await;
    assert_eq!(leader.bound_pods(), 5);

    let _ = stop_follower.send(());
    assert_eq!(
        task_follower.await.expect("follower task"),
        RunOutcome::Stopped
    );
}
