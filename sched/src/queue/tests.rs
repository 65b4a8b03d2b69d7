//! Tests of the scheduling queue, on tokio's paused clock.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use super::*;
use crate::framework::ClusterEvent;

fn pod(uid: &str, priority: i32) -> Arc<Pod> {
    Arc::new(
        serde_json::from_value(
            json!({"metadata": {"name": uid, "namespace": "d", "uid": uid},
            "spec": {"containers": [], "priority": priority}}),
        )
        .unwrap(),
    )
}

async fn pop_now(q: &SchedulingQueue) -> Option<QueuedPodInfo> {
    tokio::time::timeout(Duration::from_millis(1), q.pop())
        .await
        .ok()
        .flatten()
}

#[tokio::test(start_paused = true)]
async fn priority_then_age() {
    let q = SchedulingQueue::new(QueueConfig::default(), None);
    q.add(pod("low", 0));
    tokio::time::advance(Duration::from_millis(1)).await;
    q.add(pod("high", 100));
    q.add(pod("low2", 0));
    let order: Vec<String> = [pop_now(&q).await, pop_now(&q).await, pop_now(&q).await]
        .into_iter()
        .map(|p| p.unwrap().key)
        .collect();
    assert_eq!(order, vec!["high", "low", "low2"]);
    assert!(pop_now(&q).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn unschedulable_waits_for_a_helpful_event() {
    let q = SchedulingQueue::new(QueueConfig::default(), None);
    q.add(pod("a", 0));
    let mut info = q.pop().await.unwrap();
    let cycle = q.scheduling_cycle();
    info.unschedulable_plugins.insert("NodeResourcesFit".into());
    q.add_unschedulable(info, cycle);
    assert_eq!(q.lengths().unschedulable, 1);
    // Back-off of 1s passes, but nothing happened: still unschedulable.
    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(pop_now(&q).await.is_none());
    // An event that does not help leaves it.
    q.move_all_on_event(ClusterEvent::NodeUpdate, &|_, _| false);
    assert!(pop_now(&q).await.is_none());
    // One that helps moves it to active (its back-off is over).
    q.move_all_on_event(ClusterEvent::NodeAdd, &|i, _| {
        i.unschedulable_plugins.contains("NodeResourcesFit")
    });
    let again = pop_now(&q).await.unwrap();
    assert_eq!(again.attempts, 2);
}

#[tokio::test(start_paused = true)]
async fn errors_back_off_exponentially() {
    let q = SchedulingQueue::new(QueueConfig::default(), None);
    q.add(pod("a", 0));
    let start = tokio::time::Instant::now();
    let mut waits = Vec::new();
    for _ in 0..5 {
        let info = q.pop().await.unwrap();
        waits.push((tokio::time::Instant::now() - start).as_secs());
        let cycle = q.scheduling_cycle();
        // No rejecting plugins: an error, straight to backoff.
        q.add_unschedulable(info, cycle);
    }
    // Attempt n waits 2^(n-1) s after the previous: 0, +1, +2, +4, +8.
    assert_eq!(waits, vec![0, 1, 3, 7, 15]);
    let info = q.pop().await.unwrap();
    let cycle = q.scheduling_cycle();
    let t = tokio::time::Instant::now();
    q.add_unschedulable(info, cycle);
    q.pop().await.unwrap();
    // Capped at 10s.
    assert_eq!((tokio::time::Instant::now() - t).as_secs(), 10);
}

#[tokio::test(start_paused = true)]
async fn event_during_flight_sends_rejection_to_backoff() {
    let q = SchedulingQueue::new(QueueConfig::default(), None);
    q.add(pod("a", 0));
    let mut info = q.pop().await.unwrap();
    let cycle = q.scheduling_cycle();
    q.move_all_on_event(ClusterEvent::NodeAdd, &|_, _| true);
    info.unschedulable_plugins.insert("X".into());
    q.add_unschedulable(info, cycle);
    let l = q.lengths();
    assert_eq!((l.backoff, l.unschedulable), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn deleted_pods_are_not_requeued_and_updates_are_kept() {
    let q = SchedulingQueue::new(QueueConfig::default(), None);
    q.add(pod("a", 0));
    let info = q.pop().await.unwrap();
    let cycle = q.scheduling_cycle();
    q.delete("a");
    q.add_unschedulable(info, cycle);
    assert_eq!(q.lengths(), QueueLengths::default());

    q.add(pod("b", 0));
    let mut info = q.pop().await.unwrap();
    q.update(pod("b", 7));
    let cycle = q.scheduling_cycle();
    info.unschedulable_plugins.insert("X".into());
    q.add_unschedulable(info, cycle);
    // A status-only update of an unschedulable pod does not move it.
    let mut status_only = (*pod("b", 7)).clone();
    status_only.status = Some(Default::default());
    q.update(Arc::new(status_only));
    assert_eq!(q.lengths().unschedulable, 1);
    // A spec change does.
    tokio::time::advance(Duration::from_secs(2)).await;
    q.update(pod("b", 9));
    let got = pop_now(&q).await.unwrap();
    assert_eq!(got.priority, 9);
}

#[tokio::test(start_paused = true)]
async fn unschedulable_pods_retry_after_the_limit() {
    let q = SchedulingQueue::new(QueueConfig::default(), None);
    q.add(pod("a", 0));
    let mut info = q.pop().await.unwrap();
    let cycle = q.scheduling_cycle();
    info.unschedulable_plugins.insert("X".into());
    q.add_unschedulable(info, cycle);
    let t = tokio::time::Instant::now();
    let again = q.pop().await.unwrap();
    let waited = tokio::time::Instant::now() - t;
    assert!(
        waited >= Duration::from_secs(300) && waited <= Duration::from_secs(331),
        "{waited:?}"
    );
    assert_eq!(again.key, "a");
}

#[tokio::test(start_paused = true)]
async fn close_ends_pop() {
    let q = Arc::new(SchedulingQueue::new(QueueConfig::default(), None));
    let q2 = q.clone();
    let waiter = tokio::spawn(async move { q2.pop().await });
    tokio::task::yield_now().await;
    q.close();
    assert!(waiter.await.unwrap().is_none());
}
