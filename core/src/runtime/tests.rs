//! The runtime against the fake client: watcher recovery, controllers, leader
//! election, events.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent, Pod};
use serde_json::json;

use super::fake::FakeClient;
use super::watcher::{self, Event};
use super::*;
use crate::client::{Api, Client, ObjectTarget, PostParams, ResourceRef};

fn cms() -> ObjectTarget {
    ObjectTarget::collection(&ResourceRef::of::<ConfigMap>(), Some("ns"))
}

async fn put(client: &FakeClient, name: &str, labels: serde_json::Value) {
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}});
    client
        .create(&cms(), obj, &PostParams::default())
        .await
        .unwrap();
}

async fn del(client: &FakeClient, name: &str) {
    let t = ObjectTarget::object(&ResourceRef::of::<ConfigMap>(), Some("ns"), name);
    client.delete(&t, &Default::default()).await.unwrap();
}

fn name<K: Object>(k: &K) -> String {
    k.meta().name.clone().unwrap_or_default()
}

/// The next event, with a timeout, as a short string: `init`, `+a` (init apply),
/// `done`, `a` (apply), `-a` (delete), `err`.
async fn next<S>(s: &mut S) -> String
where
    S: futures::Stream<Item = Result<Event<ConfigMap>, watcher::Error>> + Unpin,
{
    let e = tokio::time::timeout(Duration::from_secs(60), s.next())
        .await
        .expect("an event in time")
        .expect("the watcher never ends");
    match e {
        Ok(Event::Init) => "init".into(),
        Ok(Event::InitApply(o)) => format!("+{}", name(&o)),
        Ok(Event::InitDone) => "done".into(),
        Ok(Event::Apply(o)) => name(&o),
        Ok(Event::Delete(o)) => format!("-{}", name(&o)),
        Err(_) => "err".into(),
    }
}

#[tokio::test]
async fn lists_in_pages_then_watches() {
    let client = FakeClient::new();
    for n in ["a", "b", "c", "d", "e"] {
        put(&client, n, json!({})).await;
    }
    let mut w = watcher::watcher::<ConfigMap>(
        client.clone(),
        cms(),
        watcher::Config::default().page_size(2),
    );
    let mut seen = vec![];
    for _ in 0..7 {
        seen.push(next(&mut w).await);
    }
    assert_eq!(seen, ["init", "+a", "+b", "+c", "+d", "+e", "done"]);
    assert_eq!(client.list_calls(), 3, "three pages of two");
    put(&client, "f", json!({})).await;
    assert_eq!(next(&mut w).await, "f");
    del(&client, "a").await;
    assert_eq!(next(&mut w).await, "-a");
}

#[tokio::test]
async fn resumes_a_dropped_watch_without_relisting() {
    let client = FakeClient::new();
    put(&client, "a", json!({})).await;
    let mut w = watcher::watcher::<ConfigMap>(client.clone(), cms(), watcher::Config::default());
    for want in ["init", "+a", "done"] {
        assert_eq!(next(&mut w).await, want);
    }
    put(&client, "b", json!({})).await;
    assert_eq!(next(&mut w).await, "b");
    client.drop_watches();
    // Changes while the watch is down arrive once it resumes from b's version.
    put(&client, "c", json!({})).await;
    assert_eq!(next(&mut w).await, "c");
    assert_eq!(client.list_calls(), 1);
    assert!(client.watch_calls() >= 2);
}

#[tokio::test(start_paused = true)]
async fn relists_after_410_and_forgets_what_was_deleted_meanwhile() {
    let client = FakeClient::new();
    put(&client, "a", json!({})).await;
    put(&client, "b", json!({})).await;
    let mut writer = reflector::Writer::<ConfigMap>::default();
    let store = writer.as_reader();
    let mut w = watcher::watcher::<ConfigMap>(client.clone(), cms(), watcher::Config::default());
    for _ in 0..4 {
        let e = w.next().await.unwrap().unwrap();
        writer.apply_watcher_event(&e);
    }
    assert_eq!(store.len(), 2);
    client.drop_watches();
    del(&client, "a").await;
    put(&client, "c", json!({})).await;
    client.compact();
    // Resuming answers 410: an error, then a whole new list.
    let mut seen = vec![];
    loop {
        let e = tokio::time::timeout(Duration::from_secs(60), w.next())
            .await
            .unwrap()
            .unwrap();
        if let Ok(ev) = &e {
            writer.apply_watcher_event(ev);
        }
        let done = matches!(e, Ok(Event::InitDone));
        seen.push(match e {
            Ok(Event::Init) => "init".to_owned(),
            Ok(Event::InitDone) => "done".to_owned(),
            Ok(Event::InitApply(o)) => format!("+{}", name(&o)),
            Ok(other) => format!("{other:?}"),
            Err(_) => "err".to_owned(),
        });
        if done {
            break;
        }
    }
    assert_eq!(seen, ["err", "init", "+b", "+c", "done"]);
    assert!(store.get(&ObjectRef::new("a").within("ns")).is_none());
    assert_eq!(client.list_calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn backs_off_on_failing_lists_then_recovers() {
    let client = FakeClient::new();
    put(&client, "a", json!({})).await;
    client.fail_next_lists(3);
    let config = watcher::Config::default().backoff(Backoff::new(
        Duration::from_secs(1),
        Duration::from_secs(10),
    ));
    let start = tokio::time::Instant::now();
    let mut w = watcher::watcher::<ConfigMap>(client.clone(), cms(), config);
    let mut seen = vec![];
    for _ in 0..6 {
        seen.push(next(&mut w).await);
    }
    assert_eq!(seen, ["init", "err", "err", "err", "+a", "done"]);
    // 1s + 2s + 4s of back-off between the four attempts.
    assert_eq!(start.elapsed().as_secs(), 7);
}

#[tokio::test]
async fn label_selectors_filter_list_and_watch() {
    let client = FakeClient::new();
    put(&client, "a", json!({"app": "web"})).await;
    put(&client, "b", json!({"app": "db"})).await;
    let mut w = watcher::watcher::<ConfigMap>(
        client.clone(),
        cms(),
        watcher::Config::default().labels("app=web"),
    );
    for want in ["init", "+a", "done"] {
        assert_eq!(next(&mut w).await, want);
    }
    put(&client, "c", json!({"app": "db"})).await;
    put(&client, "d", json!({"app": "web"})).await;
    assert_eq!(next(&mut w).await, "d");
}

#[derive(Debug, thiserror::Error)]
#[error("injected")]
struct Injected;

struct Counts {
    total: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
    fail_first: AtomicUsize,
}

#[tokio::test]
async fn controller_reconciles_owners_of_changed_children_one_at_a_time() {
    let client = FakeClient::new();
    let pods = ResourceRef::of::<Pod>();
    let owner = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}});
    client
        .create(&cms(), owner, &PostParams::default())
        .await
        .unwrap();
    let ctx = Arc::new(Counts {
        total: AtomicUsize::new(0),
        running: AtomicUsize::new(0),
        max_running: AtomicUsize::new(0),
        fail_first: AtomicUsize::new(1),
    });
    async fn reconcile(_cm: Arc<ConfigMap>, ctx: Arc<Counts>) -> Result<Action, Injected> {
        let now = ctx.running.fetch_add(1, Ordering::SeqCst) + 1;
        ctx.max_running.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        ctx.running.fetch_sub(1, Ordering::SeqCst);
        ctx.total.fetch_add(1, Ordering::SeqCst);
        if ctx.fail_first.fetch_sub(1, Ordering::SeqCst) == 1 {
            return Err(Injected);
        }
        Ok(Action::await_change())
    }
    let mut results =
        Controller::<ConfigMap>::new(client.clone(), Some("ns"), watcher::Config::default())
            .owns::<Pod>(Some("ns"), watcher::Config::default())
            .concurrency(4)
            .run(
                reconcile,
                |_, _, _| Action::requeue_rate_limited(),
                ctx.clone(),
            );
    let first = tokio::time::timeout(Duration::from_secs(30), results.next())
        .await
        .unwrap()
        .unwrap();
    assert!(first.is_err(), "the injected failure");
    let second = tokio::time::timeout(Duration::from_secs(30), results.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        second.unwrap().0,
        ObjectRef::new("owner").within("ns"),
        "rate-limited retry"
    );

    // Ten children change at once: their owner is reconciled, never twice at a time.
    let uid = client
        .get(&ObjectTarget::object(
            &ResourceRef::of::<ConfigMap>(),
            Some("ns"),
            "owner",
        ))
        .await
        .unwrap()["metadata"]["uid"]
        .clone();
    for i in 0..10 {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("p{i}"),
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid, "controller": true}]}});
        client
            .create(
                &ObjectTarget::collection(&pods, Some("ns")),
                pod,
                &PostParams::default(),
            )
            .await
            .unwrap();
    }
    let stray = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stray"}});
    client
        .create(
            &ObjectTarget::collection(&pods, Some("ns")),
            stray,
            &PostParams::default(),
        )
        .await
        .unwrap();
    let third = tokio::time::timeout(Duration::from_secs(30), results.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.unwrap().0.name, "owner");
    assert_eq!(ctx.max_running.load(Ordering::SeqCst), 1);
    // Deduplication: far fewer reconciles than events (2 before + at most a couple).
    let settle = tokio::time::timeout(Duration::from_millis(300), async {
        while results.next().await.is_some() {}
    })
    .await;
    assert!(settle.is_err(), "the controller keeps running");
    assert!(
        ctx.total.load(Ordering::SeqCst) <= 5,
        "{}",
        ctx.total.load(Ordering::SeqCst)
    );
}

#[tokio::test(start_paused = true)]
async fn one_leader_at_a_time_and_takeover_after_the_lease_expires() {
    let client = FakeClient::new();
    let config = leader::LeaseConfig::default();
    let mut a = leader::LeaderElector::new(client.clone(), "kube-system", "cm", "a", config);
    let mut b = leader::LeaderElector::new(client.clone(), "kube-system", "cm", "b", config);
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(!b.try_acquire_or_renew().await.unwrap());
    assert!(a.try_acquire_or_renew().await.unwrap(), "renewal");
    // a stops renewing; b may take over only a lease duration after it last saw the
    // lease change (its own clock; the lease's timestamps are not trusted).
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        !b.try_acquire_or_renew().await.unwrap(),
        "b sees a's renewal now"
    );
    tokio::time::sleep(Duration::from_secs(14)).await;
    assert!(!b.try_acquire_or_renew().await.unwrap());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(b.try_acquire_or_renew().await.unwrap());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let spec = leases.get("cm").await.unwrap().spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("b"));
    assert_eq!(spec.lease_transitions, Some(1));
    // a, back, sees b's fresh lease and stays out.
    assert!(!a.try_acquire_or_renew().await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn run_hands_over_when_the_leader_finishes() {
    let client = FakeClient::new();
    let config = leader::LeaseConfig::default();
    let a = leader::LeaderElector::new(client.clone(), "kube-system", "cm", "a", config);
    let outcome = a.run(tokio::time::sleep(Duration::from_secs(30))).await;
    assert_eq!(outcome, leader::Outcome::WorkFinished);
    // Released: b acquires at once, no lease duration to wait out.
    let mut b = leader::LeaderElector::new(client.clone(), "kube-system", "cm", "b", config);
    let start = tokio::time::Instant::now();
    b.acquire().await;
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn repeated_events_are_aggregated() {
    let client = FakeClient::new();
    let recorder = events::Recorder::new(client.clone(), events::Reporter::new("test-controller"));
    let mut pod = Pod::default();
    pod.metadata.name = Some("web".into());
    pod.metadata.namespace = Some("ns".into());
    pod.metadata.uid = Some("u1".into());
    let r = events::Recorder::reference_of(&pod);
    for _ in 0..3 {
        recorder
            .publish(&r, events::EventType::Warning, "BackOff", "restarting")
            .await
            .unwrap();
    }
    recorder
        .publish(&r, events::EventType::Normal, "Pulled", "pulled")
        .await
        .unwrap();
    let events: Api<CoreEvent> = Api::namespaced(client.clone(), "ns");
    let list = events.list(&Default::default()).await.unwrap().items;
    assert_eq!(list.len(), 2);
    let backoff = list
        .iter()
        .find(|e| e.reason.as_deref() == Some("BackOff"))
        .unwrap();
    assert_eq!(backoff.count, Some(3));
    assert_eq!(backoff.involved_object.name.as_deref(), Some("web"));
    assert_eq!(backoff.type_.as_deref(), Some("Warning"));
}
