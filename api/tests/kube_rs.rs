//! kube-rs against Skiff: a `kube::Client` over an in-process server
//! (`skiff_api::testing::TestApiServer`), with typed `Api`s and `kube::runtime::watcher`
//! as operators use them.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use serde_json::json;
use skiff_api::testing::TestApiServer;
use skiff_api::watch_cache::WatchCacheConfig;
use skiff_api::ApiServerConfig;

/// How long to wait for one watcher event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

fn configmap(name: &str, labels: &[(&str, &str)], data: &[(&str, &str)]) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    cm.metadata.labels = Some(
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    cm.data = Some(
        data.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    cm
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
    }))
    .expect("pod")
}

async fn client(env: &TestApiServer) -> kube::Client {
    kube::Client::new(env.service(), "default")
}

#[tokio::test]
async fn typed_crud_on_pods_and_configmaps() {
    let env = TestApiServer::start().await.expect("server");
    let client = client(&env).await;

    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let created = pods
        .create(&PostParams::default(), &pod("web"))
        .await
        .expect("create pod");
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    let got = pods.get("web").await.expect("get pod");
    assert_eq!(
        got.spec.expect("spec").containers[0].image.as_deref(),
        Some("nginx:1.27")
    );
    let patched = pods
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "front"}}})),
        )
        .await
        .expect("patch pod");
    assert_eq!(patched.metadata.labels.expect("labels")["tier"], "front");
    let missing = pods.get("nope").await.expect_err("missing pod");
    assert!(
        matches!(&missing, kube::Error::Api(s) if s.code == 404),
        "{missing:?}"
    );

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm = cms
        .create(
            &PostParams::default(),
            &configmap("cfg", &[], &[("a", "1")]),
        )
        .await
        .expect("create configmap");
    let mut next = cm.clone();
    next.data = Some(BTreeMap::from([("a".to_string(), "2".to_string())]));
    let replaced = cms
        .replace("cfg", &PostParams::default(), &next)
        .await
        .expect("replace");
    assert_eq!(replaced.data.expect("data")["a"], "2");
    // `cm` still carries the first resourceVersion: a stale replace conflicts.
    let stale = cms
        .replace("cfg", &PostParams::default(), &cm)
        .await
        .expect_err("stale replace");
    assert!(
        matches!(&stale, kube::Error::Api(s) if s.code == 409),
        "{stale:?}"
    );
    let strategic = pods
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"annotations": {"note": "x"}}})),
        )
        .await
        .expect("strategic patch");
    assert_eq!(
        strategic.metadata.annotations.expect("annotations")["note"],
        "x"
    );

    let deleted = cms
        .delete("cfg", &DeleteParams::default())
        .await
        .expect("delete configmap");
    assert!(
        deleted.is_right(),
        "a configmap is gone at once: {deleted:?}"
    );
    assert!(cms.get_opt("cfg").await.expect("get_opt").is_none());
    // A pod not bound to a node goes at once too; the answer is the pod.
    let deleted = pods
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete pod");
    assert!(
        deleted.is_left(),
        "pods answer with the object: {deleted:?}"
    );
    assert!(pods.get_opt("web").await.expect("get_opt").is_none());
}

#[tokio::test]
async fn lists_with_selectors_and_pages() {
    let env = TestApiServer::start().await.expect("server");
    let cms: Api<ConfigMap> = Api::default_namespaced(client(&env).await);
    for i in 0..7 {
        let tier = if i % 2 == 0 { "even" } else { "odd" };
        cms.create(
            &PostParams::default(),
            &configmap(&format!("cm-{i}"), &[("app", "pages"), ("tier", tier)], &[]),
        )
        .await
        .expect("create");
    }
    cms.create(
        &PostParams::default(),
        &configmap("other", &[("app", "x")], &[]),
    )
    .await
    .expect("create");

    let names = |list: &kube::api::ObjectList<ConfigMap>| -> Vec<String> {
        list.items
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .collect()
    };
    let odd = cms
        .list(&ListParams::default().labels("app=pages,tier=odd"))
        .await
        .expect("list");
    assert_eq!(names(&odd), ["cm-1", "cm-3", "cm-5"]);
    let not_pages = cms
        .list(&ListParams::default().labels("app notin (pages)"))
        .await
        .expect("list");
    assert_eq!(names(&not_pages), ["other"]);
    let by_name = cms
        .list(&ListParams::default().fields("metadata.name=cm-4"))
        .await
        .expect("list");
    assert_eq!(names(&by_name), ["cm-4"]);

    // Pages of 3: 3 + 3 + 1, in order, one resourceVersion for all of them.
    let mut params = ListParams::default().labels("app=pages").limit(3);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = cms.list(&params).await.expect("page");
        pages += 1;
        assert!(page.items.len() <= 3);
        seen.extend(names(&page));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (0..7).map(|i| format!("cm-{i}")).collect::<Vec<_>>());
}

/// The next event of a watcher stream (errors included), or a panic after a timeout.
async fn next<S>(stream: &mut S) -> Result<Event<ConfigMap>, watcher::Error>
where
    S: Stream<Item = Result<Event<ConfigMap>, watcher::Error>> + Unpin,
{
    tokio::time::timeout(EVENT_TIMEOUT, stream.next())
        .await
        .expect("a watcher event in time")
        .expect("the watcher stream does not end")
}

/// Events until `InitDone`, returning the names listed.
async fn until_init_done<S>(stream: &mut S) -> Vec<String>
where
    S: Stream<Item = Result<Event<ConfigMap>, watcher::Error>> + Unpin,
{
    let mut listed = Vec::new();
    loop {
        match next(stream)
            .await
            .expect("no error during the initial list")
        {
            Event::Init => listed.clear(),
            Event::InitApply(cm) => listed.extend(cm.metadata.name),
            Event::InitDone => return listed,
            other => panic!("unexpected event before InitDone: {other:?}"),
        }
    }
}

#[tokio::test]
async fn watcher_sees_adds_updates_and_deletes() {
    let env = TestApiServer::start().await.expect("server");
    let cms: Api<ConfigMap> = Api::default_namespaced(client(&env).await);
    cms.create(&PostParams::default(), &configmap("before", &[], &[]))
        .await
        .expect("create");
    let mut stream = watcher::watcher(cms.clone(), watcher::Config::default()).boxed();
    assert_eq!(until_init_done(&mut stream).await, ["before"]);

    cms.create(
        &PostParams::default(),
        &configmap("live", &[], &[("v", "1")]),
    )
    .await
    .expect("create");
    match next(&mut stream).await.expect("event") {
        Event::Apply(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("live")),
        other => panic!("expected the add, got {other:?}"),
    }
    cms.patch(
        "live",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .expect("patch");
    match next(&mut stream).await.expect("event") {
        Event::Apply(cm) => assert_eq!(cm.data.expect("data")["v"], "2"),
        other => panic!("expected the update, got {other:?}"),
    }
    cms.delete("live", &DeleteParams::default())
        .await
        .expect("delete");
    match next(&mut stream).await.expect("event") {
        Event::Delete(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("live")),
        other => panic!("expected the delete, got {other:?}"),
    }
}

/// The watcher's resourceVersion ages out of a small watch window while it sees none of
/// the writes (they are not `group=watched`): between its list and its first watch (a
/// watcher only starts watching when polled again), or between two watches (each times
/// out after a second). Resuming from it, the server answers 410 Gone; the watcher
/// re-lists and converges on the object created meanwhile, then keeps following.
#[tokio::test]
async fn watcher_relists_after_410_and_converges() {
    const WINDOW: usize = 8;
    let env = TestApiServer::start_with(ApiServerConfig {
        watch_cache: WatchCacheConfig {
            window: WINDOW,
            ..WatchCacheConfig::default()
        },
        ..ApiServerConfig::default()
    })
    .await
    .expect("server");
    let cms: Api<ConfigMap> = Api::default_namespaced(client(&env).await);
    cms.create(
        &PostParams::default(),
        &configmap("w-0", &[("group", "watched")], &[]),
    )
    .await
    .expect("create");
    let config = watcher::Config::default()
        .labels("group=watched")
        .timeout(1)
        .disable_bookmarks();
    let mut stream = watcher::watcher(cms.clone(), config).boxed();
    assert_eq!(until_init_done(&mut stream).await, ["w-0"]);

    // Writes the watch does not select: they age its resourceVersion out of the window.
    cms.create(&PostParams::default(), &configmap("noise", &[], &[]))
        .await
        .expect("create");
    for i in 0..WINDOW * 3 {
        cms.patch(
            "noise",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"i": i.to_string()}})),
        )
        .await
        .expect("patch");
    }
    // Created while no watch may be open: only a re-list can find it.
    let created_in_gap = configmap("w-1", &[("group", "watched")], &[]);

    let mut saw_gone = false;
    let mut created = false;
    let mut relisted: Option<Vec<String>> = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while relisted.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no re-list after 410"
        );
        match next(&mut stream).await {
            Err(watcher::Error::WatchError(status)) if status.code == 410 => saw_gone = true,
            Err(watcher::Error::WatchStartFailed(kube::Error::Api(status)))
                if status.code == 410 =>
            {
                saw_gone = true
            }
            Err(e) => panic!("unexpected watcher error: {e:?}"),
            Ok(Event::Init) => {
                assert!(saw_gone, "the watcher re-listed without a 410");
                relisted = Some(until_init_done_after_init(&mut stream).await);
            }
            Ok(Event::Apply(cm)) if !created => {
                panic!("no event expected before the re-list, got {cm:?}")
            }
            Ok(other) => panic!("unexpected event {other:?}"),
        }
        if saw_gone && !created {
            cms.create(&PostParams::default(), &created_in_gap)
                .await
                .expect("create");
            created = true;
        }
    }
    let relisted = relisted.unwrap_or_default();
    // The object created after the 410 is either in the re-list or arrives right after.
    if relisted.contains(&"w-1".to_string()) {
        assert_eq!(relisted, ["w-0", "w-1"]);
    } else {
        assert_eq!(relisted, ["w-0"]);
        match next(&mut stream).await.expect("event") {
            Event::Apply(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("w-1")),
            other => panic!("expected w-1, got {other:?}"),
        }
    }
    // And the watcher keeps following after its recovery.
    cms.delete("w-0", &DeleteParams::default())
        .await
        .expect("delete");
    loop {
        match next(&mut stream).await {
            Ok(Event::Delete(cm)) => {
                assert_eq!(cm.metadata.name.as_deref(), Some("w-0"));
                break;
            }
            // Each 1 s watch timeout may resume (and, with noise, re-list) again.
            Ok(Event::Init | Event::InitApply(_) | Event::InitDone) | Err(_) => {}
            Ok(other) => panic!("expected the delete of w-0, got {other:?}"),
        }
    }
}

/// The rest of a re-list after its `Init`: names until `InitDone`.
async fn until_init_done_after_init<S>(stream: &mut S) -> Vec<String>
where
    S: Stream<Item = Result<Event<ConfigMap>, watcher::Error>> + Unpin,
{
    let mut listed = Vec::new();
    loop {
        match next(stream).await.expect("no error during the re-list") {
            Event::InitApply(cm) => listed.extend(cm.metadata.name),
            Event::InitDone => return listed,
            other => panic!("unexpected event during the re-list: {other:?}"),
        }
    }
}
