//! Watches served from the watch cache: from a revision, from now with initial
//! events, 410 for revisions older than the window, selectors, bookmarks, timeouts.

mod common;

use std::time::Duration;

use common::*;
use http::Method;
use serde_json::json;
use skiff_api::watch_cache::WatchCacheConfig;
use skiff_api::ApiServerConfig;

const PODS: &str = "/api/v1/namespaces/default/pods";

#[tokio::test]
async fn watch_from_a_revision_sees_added_modified_deleted() {
    let t = server().await;
    let (_, a) = t.post(PODS, pod("a")).await;
    let mut w = t
        .watch(&format!("{PODS}?watch=true&resourceVersion={}", rv(&a)))
        .await;
    t.post(PODS, pod("b")).await;
    t.call(
        Method::PATCH,
        &format!("{PODS}/b"),
        Some(json!({"metadata": {"labels": {"x": "1"}}})),
    )
    .await;
    t.delete(&format!("{PODS}/b")).await;
    let added = w.next().await.unwrap();
    assert_eq!(
        (
            added["type"].as_str(),
            added["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("b"))
    );
    let modified = w.next().await.unwrap();
    assert_eq!(modified["type"], "MODIFIED");
    assert_eq!(modified["object"]["metadata"]["labels"]["x"], "1");
    let deleted = w.next().await.unwrap();
    assert_eq!(deleted["type"], "DELETED");
    assert!(rv(&deleted["object"]) > rv(&modified["object"]));
    // Nothing about "a": it changed before the watch's revision.
    assert!(w.next_within(Duration::from_millis(200)).await.is_err());
}

#[tokio::test]
async fn watch_from_zero_starts_with_the_current_state() {
    let t = server().await;
    t.post(PODS, pod("a")).await;
    t.post(PODS, pod("b")).await;
    // Without resourceVersion the watch is consistent: both pods are there.
    let mut w = t.watch(&format!("{PODS}?watch=true")).await;
    let names: Vec<_> = [w.next().await.unwrap(), w.next().await.unwrap()]
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["object"]["metadata"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [("ADDED".into(), "a".into()), ("ADDED".into(), "b".into())]
    );
    t.post(PODS, pod("c")).await;
    assert_eq!(w.next().await.unwrap()["object"]["metadata"]["name"], "c");
    // Another namespace is not seen.
    t.post("/api/v1/namespaces/kube-system/pods", pod("other"))
        .await;
    t.post(PODS, pod("d")).await;
    assert_eq!(w.next().await.unwrap()["object"]["metadata"]["name"], "d");
}

#[tokio::test]
async fn revisions_older_than_the_window_are_expired() {
    let config = ApiServerConfig {
        watch_cache: WatchCacheConfig {
            window: 2,
            ..Default::default()
        },
        ..Default::default()
    };
    let t = server_with(config).await;
    let (_, first) = t.post(PODS, pod("p0")).await;
    for i in 1..6 {
        t.post(PODS, pod(&format!("p{i}"))).await;
    }
    // Wait for the cache to apply every write (a consistent watch does).
    let mut all = t
        .watch(&format!("{PODS}?watch=true&labelSelector=none"))
        .await;
    assert!(all.next_within(Duration::from_millis(100)).await.is_err());
    let mut w = t
        .watch(&format!("{PODS}?watch=true&resourceVersion={}", rv(&first)))
        .await;
    let err = w.next().await.unwrap();
    assert_eq!(err["type"], "ERROR");
    assert_eq!(err["object"]["code"], 410);
    assert_eq!(err["object"]["reason"], "Expired");
    assert!(w.next().await.is_none(), "the stream ends after the error");
}

#[tokio::test]
async fn selectors_apply_to_events() {
    let t = server().await;
    let (_, web) = t.post(PODS, pod("web")).await;
    let mut w = t
        .watch(&format!(
            "{PODS}?watch=true&labelSelector=app%3Dweb&resourceVersion={}",
            rv(&web)
        ))
        .await;
    let mut other = pod("other");
    other["metadata"]["labels"] = json!({"app": "db"});
    t.post(PODS, other).await;
    // "other" starts matching: ADDED; stops matching: DELETED.
    t.call(
        Method::PATCH,
        &format!("{PODS}/other"),
        Some(json!({"metadata": {"labels": {"app": "web"}}})),
    )
    .await;
    t.call(
        Method::PATCH,
        &format!("{PODS}/other"),
        Some(json!({"metadata": {"labels": {"app": "db"}}})),
    )
    .await;
    let e = w.next().await.unwrap();
    assert_eq!(
        (e["type"].as_str(), e["object"]["metadata"]["name"].as_str()),
        (Some("ADDED"), Some("other"))
    );
    let e = w.next().await.unwrap();
    assert_eq!(e["type"], "DELETED");
    assert_eq!(e["object"]["metadata"]["labels"]["app"], "db");
    // A watch on an object path follows that object only.
    let mut one = t
        .watch(&format!(
            "{PODS}/web?watch=true&resourceVersion={}",
            rv(&web)
        ))
        .await;
    t.call(
        Method::PATCH,
        &format!("{PODS}/other"),
        Some(json!({"metadata": {"labels": {"z": "1"}}})),
    )
    .await;
    t.call(
        Method::PATCH,
        &format!("{PODS}/web"),
        Some(json!({"metadata": {"labels": {"z": "1"}}})),
    )
    .await;
    let e = one.next().await.unwrap();
    assert_eq!(
        (e["type"].as_str(), e["object"]["metadata"]["name"].as_str()),
        (Some("MODIFIED"), Some("web"))
    );
}

#[tokio::test]
async fn streaming_lists_bookmarks_and_timeouts() {
    let config = ApiServerConfig {
        watch_cache: WatchCacheConfig {
            progress_interval: Duration::from_millis(200),
            ..Default::default()
        },
        ..Default::default()
    };
    let t = server_with(config).await;
    t.post(PODS, pod("a")).await;
    let mut w = t
        .watch(&format!(
            "{PODS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
        ))
        .await;
    assert_eq!(w.next().await.unwrap()["type"], "ADDED");
    let end = w.next().await.unwrap();
    assert_eq!(end["type"], "BOOKMARK");
    assert_eq!(
        end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(end["object"]["kind"], "Pod");
    // A write, then a periodic bookmark at or after it.
    let (_, b) = t.post(PODS, pod("b")).await;
    assert_eq!(w.next().await.unwrap()["type"], "ADDED");
    let bookmark = w.next().await.unwrap();
    assert_eq!(bookmark["type"], "BOOKMARK");
    assert!(rv(&bookmark["object"]) >= rv(&b));

    // sendInitialEvents needs bookmarks and NotOlderThan.
    let (code, _) = t
        .get(&format!("{PODS}?watch=true&sendInitialEvents=true"))
        .await;
    assert_eq!(code, http::StatusCode::UNPROCESSABLE_ENTITY);

    let mut short = t
        .watch(&format!(
            "{PODS}?watch=true&resourceVersion={}&timeoutSeconds=1",
            rv(&b)
        ))
        .await;
    assert!(short
        .next_within(Duration::from_secs(5))
        .await
        .expect("ends in time")
        .is_none());
}

#[tokio::test]
async fn a_thousand_watchers_share_one_store_watch() {
    let t = server().await;
    let (_, a) = t.post(PODS, pod("a")).await;
    let mut watchers = Vec::new();
    for _ in 0..1000 {
        watchers.push(
            t.watch(&format!("{PODS}?watch=true&resourceVersion={}", rv(&a)))
                .await,
        );
    }
    t.post(PODS, pod("b")).await;
    for w in &mut watchers {
        let e = w.next().await.unwrap();
        assert_eq!(e["object"]["metadata"]["name"], "b");
    }
}
