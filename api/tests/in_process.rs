//! The in-process client (handlers called with values) against the same server over
//! HTTP requests to its router: the same writes store the same objects, the same
//! watches see the same events (through `watch` and `watch_shared`), the same
//! mistakes get the same `Status`.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use skiff_api::{ApiServer, ApiServerConfig};
use skiff_core::client::{
    Client, ClientError, DeleteParams, ListParams, ObjectTarget, Patch, PatchParams, PostParams,
    ResourceRef, SharedWatchStream, WatchEvent, WatchStream,
};
use skiff_store::MvccStore;

async fn api_server() -> ApiServer {
    let store = Arc::new(MvccStore::in_memory().await);
    ApiServer::new(store, ApiServerConfig::default())
        .await
        .expect("the server starts")
}

/// Both transports: (label, client).
fn transports(server: &ApiServer) -> [(&'static str, Arc<dyn Client>); 2] {
    [("direct", server.client()), ("http", server.http_client())]
}

fn deployments() -> ResourceRef {
    ResourceRef::new("apps", "v1", "deployments", true)
}

fn configmaps() -> ResourceRef {
    ResourceRef::new("", "v1", "configmaps", true)
}

fn deployment(name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}
            }
        }
    })
}

/// The object without what differs between two objects written the same way: name,
/// uid, resourceVersion, timestamps.
fn comparable(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in ["name", "uid", "resourceVersion", "creationTimestamp"] {
            meta.remove(field);
        }
        if let Some(entries) = meta.get_mut("managedFields").and_then(Value::as_array_mut) {
            for entry in entries {
                if let Some(entry) = entry.as_object_mut() {
                    entry.remove("time");
                }
            }
        }
    }
    obj
}

/// Writes one object through `client` as a controller would: create (no field
/// manager), strategic merge patch (a manager), server-side apply, status replace;
/// returns every answer and the object as stored at the end.
async fn write_sequence(client: &Arc<dyn Client>, name: &str) -> Result<Vec<Value>, ClientError> {
    let collection = ObjectTarget::collection(&deployments(), Some("default"));
    let object = ObjectTarget::object(&deployments(), Some("default"), name);
    let mut answers = Vec::new();
    answers.push(
        client
            .create(&collection, deployment(name), &PostParams::default())
            .await?,
    );
    let patched = client
        .patch(
            &object,
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "c", "image": "nginx:2"}
            ]}}}})),
            &PatchParams {
                field_manager: Some("patcher".into()),
                ..PatchParams::default()
            },
        )
        .await?;
    answers.push(patched);
    let applied = client
        .patch(
            &object,
            &Patch::Apply(json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "labels": {"tier": "front"}},
            })),
            &PatchParams::apply("applier"),
        )
        .await?;
    answers.push(applied);
    let mut current = client.get(&object).await?;
    current["status"] = json!({"replicas": 0, "observedGeneration": 1});
    answers.push(
        client
            .replace(
                &object.clone().with_subresource("status"),
                current,
                &PostParams::default(),
            )
            .await?,
    );
    answers.push(client.get(&object).await?);
    Ok(answers)
}

#[tokio::test]
async fn writes_store_identical_objects() {
    let server = api_server().await;
    let direct = write_sequence(&server.client(), "via-direct")
        .await
        .expect("writes through the in-process client");
    let http = write_sequence(&server.http_client(), "via-http")
        .await
        .expect("writes through HTTP");
    assert_eq!(direct.len(), http.len());
    for (i, (d, h)) in direct.iter().zip(&http).enumerate() {
        assert_eq!(comparable(d), comparable(h), "answer {i} differs");
    }
    // The defaults were applied and the managers recorded on both paths.
    let stored = direct.last().expect("a stored object");
    assert_eq!(stored["spec"]["replicas"], 1, "{stored}");
    assert_eq!(stored["spec"]["strategy"]["type"], "RollingUpdate");
    let managers: Vec<&str> = stored["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .filter_map(|e| e["manager"].as_str())
        .collect();
    assert!(managers.contains(&"patcher"), "{managers:?}");
    assert!(managers.contains(&"applier"), "{managers:?}");
    // Stored bytes: the same object read back from the store.
    for (name, answers) in [("via-direct", &direct), ("via-http", &http)] {
        let key = format!("/registry/deployments/default/{name}");
        let got = server
            .store()
            .range(skiff_store::RangeRequest {
                range: skiff_store::KeyRange::key(key.into_bytes()),
                ..Default::default()
            })
            .await
            .expect("store read");
        let kv = got.kvs.first().expect("stored");
        let stored: Value = serde_json::from_slice(&kv.value).expect("stored JSON");
        assert_eq!(
            comparable(&stored),
            comparable(answers.last().expect("an answer")),
            "{name}: the store holds what the client was answered"
        );
    }
}

#[tokio::test]
async fn errors_are_the_same_status() {
    let server = api_server().await;
    let mut seen: Vec<Vec<Option<(u16, String, String)>>> = Vec::new();
    for (_, client) in transports(&server) {
        let missing = ObjectTarget::object(&configmaps(), Some("default"), "missing");
        let cms = ObjectTarget::collection(&configmaps(), Some("default"));
        let nowhere = ObjectTarget::collection(
            &ResourceRef::new("", "v1", "nothings", true),
            Some("default"),
        );
        let outcomes = vec![
            client.get(&missing).await.err(),
            client
                .create(
                    &cms,
                    json!({"metadata": {"name": "Bad Name"}}),
                    &PostParams::default(),
                )
                .await
                .err(),
            client
                .create(&cms, json!([1, 2]), &PostParams::default())
                .await
                .err(),
            client.list(&nowhere, &ListParams::default()).await.err(),
            client
                .patch(
                    &missing,
                    &Patch::Merge(json!({"data": {"a": "b"}})),
                    &PatchParams::default(),
                )
                .await
                .err(),
            client
                .delete(&missing, &DeleteParams::default())
                .await
                .err(),
            client
                .list(&cms, &ListParams::default().labels("a in (b"))
                .await
                .err(),
        ];
        seen.push(
            outcomes
                .into_iter()
                .map(|e| match e {
                    Some(ClientError::Api(e)) => {
                        Some((e.code, e.reason.clone(), e.message.clone()))
                    }
                    Some(other) => Some((0, String::new(), other.to_string())),
                    None => None,
                })
                .collect(),
        );
    }
    assert_eq!(seen[0], seen[1]);
    assert!(seen[0].iter().all(Option::is_some), "{:?}", seen[0]);
    let codes: Vec<u16> = seen[0].iter().flatten().map(|e| e.0).collect();
    assert_eq!(codes, vec![404, 422, 400, 404, 404, 404, 400]);
}

/// A shared watch as a plain one, each object copied out of its `Arc` (to compare).
fn owned(stream: SharedWatchStream) -> WatchStream {
    stream
        .map(|event| event.map(|e| e.map(Arc::unwrap_or_clone)))
        .boxed()
}

/// The events of a stream up to the ADDED event of `last`, bookmarks other than the
/// end of the initial events left out (progress marks come when they come).
async fn events_until_added(stream: &mut WatchStream, last: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let next = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("the events arrive in time")
            .expect("the stream stays open")
            .expect("no transport error");
        let (kind, obj) = match next {
            WatchEvent::Added(o) => ("ADDED", o),
            WatchEvent::Modified(o) => ("MODIFIED", o),
            WatchEvent::Deleted(o) => ("DELETED", o),
            WatchEvent::Bookmark(o) => {
                if o["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true" {
                    out.push(("BOOKMARK".to_owned(), o));
                }
                continue;
            }
            WatchEvent::Error(e) => panic!("watch error {e:?}"),
        };
        let done = kind == "ADDED" && obj["metadata"]["name"] == last;
        out.push((kind.to_owned(), obj));
        if done {
            return out;
        }
    }
}

#[tokio::test]
async fn watches_see_the_same_events() {
    let server = api_server().await;
    let client = server.client();
    let cms = ObjectTarget::collection(&configmaps(), Some("default"));
    let cm = |name: &str, app: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "labels": {"app": app}}})
    };
    client
        .create(&cms, cm("before", "web"), &PostParams::default())
        .await
        .expect("create");
    let params = ListParams {
        label_selector: Some("app=web".into()),
        resource_version_match: Some("NotOlderThan".into()),
        send_initial_events: true,
        bookmarks: true,
        ..ListParams::default()
    };
    let mut streams = Vec::new();
    for (label, c) in transports(&server) {
        let stream = c.watch(&cms, &params).await.expect("watch");
        streams.push((label, stream));
        let shared = c.watch_shared(&cms, &params).await.expect("watch_shared");
        streams.push((label, owned(shared)));
    }
    let moved = ObjectTarget::object(&configmaps(), Some("default"), "moved");
    client
        .create(&cms, cm("moved", "web"), &PostParams::default())
        .await
        .expect("create");
    client
        .create(&cms, cm("other", "db"), &PostParams::default())
        .await
        .expect("create");
    for app in ["db", "web"] {
        // Stops matching (DELETED), then matches again (ADDED).
        client
            .patch(
                &moved,
                &Patch::Merge(json!({"metadata": {"labels": {"app": app}}})),
                &PatchParams::default(),
            )
            .await
            .expect("patch");
    }
    client
        .delete(&moved, &DeleteParams::default())
        .await
        .expect("delete");
    client
        .create(&cms, cm("end", "web"), &PostParams::default())
        .await
        .expect("create");
    let mut seen = Vec::new();
    for (label, stream) in &mut streams {
        let events = events_until_added(stream, "end").await;
        seen.push((*label, events));
    }
    let kinds: Vec<(&str, &str)> = seen[0]
        .1
        .iter()
        .map(|(k, o)| (k.as_str(), o["metadata"]["name"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("ADDED", "before"),
            ("BOOKMARK", ""),
            ("ADDED", "moved"),
            ("DELETED", "moved"),
            ("ADDED", "moved"),
            ("DELETED", "moved"),
            ("ADDED", "end"),
        ]
    );
    // direct watch, direct watch_shared, http watch, http watch_shared.
    assert_eq!(seen.len(), 4);
    for (n, (label, events)) in seen.iter().enumerate().skip(1) {
        let form = if n % 2 == 1 { "watch_shared" } else { "watch" };
        assert_eq!(
            &seen[0].1, events,
            "the direct watch and the {label} {form} differ"
        );
    }
}

/// The next event of a stream, within a deadline.
async fn next_shared(stream: &mut SharedWatchStream) -> WatchEvent<Arc<Value>> {
    tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("the event arrives in time")
        .expect("the stream stays open")
        .expect("no transport error")
}

#[tokio::test]
async fn shared_watches_hand_out_the_caches_objects() {
    let server = api_server().await;
    let client = server.client();
    let cms = ObjectTarget::collection(&configmaps(), Some("default"));
    let cm =
        |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
    client
        .create(&cms, cm("before"), &PostParams::default())
        .await
        .expect("create");
    // From now: the initial state (ADDED "before"), then live events.
    let mut direct = Vec::new();
    for _ in 0..2 {
        let stream = client
            .watch_shared(&cms, &ListParams::default())
            .await
            .expect("watch_shared");
        direct.push(stream);
    }
    let mut http = server
        .http_client()
        .watch_shared(&cms, &ListParams::default())
        .await
        .expect("watch_shared over http");
    client
        .create(&cms, cm("after"), &PostParams::default())
        .await
        .expect("create");
    for name in ["before", "after"] {
        let a = next_shared(&mut direct[0]).await;
        let b = next_shared(&mut direct[1]).await;
        let c = next_shared(&mut http).await;
        let (WatchEvent::Added(a), WatchEvent::Added(b), WatchEvent::Added(c)) = (a, b, c) else {
            panic!("ADDED {name} expected on every stream");
        };
        assert_eq!(a["metadata"]["name"], name);
        // Two in-process watchers hold the one object the cache holds, not copies.
        assert!(
            Arc::ptr_eq(&a, &b),
            "{name}: the in-process objects are copies"
        );
        // Over HTTP the object is decoded from the line: equal, not shared.
        assert_eq!(a, c, "{name}: the HTTP watch sent another object");
        assert!(!Arc::ptr_eq(&a, &c));
    }
}

#[tokio::test]
async fn watches_end_at_their_timeout_and_refuse_bad_params() {
    let server = api_server().await;
    let cms = ObjectTarget::collection(&configmaps(), Some("default"));
    for (label, client) in transports(&server) {
        let params = ListParams {
            timeout_seconds: Some(1),
            ..ListParams::default()
        };
        let mut stream = client.watch(&cms, &params).await.expect("watch");
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            while stream.next().await.is_some() {}
        })
        .await;
        assert!(ended.is_ok(), "{label}: the watch ends at timeoutSeconds");

        // sendInitialEvents without bookmarks: 422 before any stream.
        let bad = ListParams {
            send_initial_events: true,
            resource_version_match: Some("NotOlderThan".into()),
            ..ListParams::default()
        };
        match client.watch(&cms, &bad).await {
            Err(e) => assert_eq!(e.code(), Some(422), "{label}: {e:?}"),
            Ok(_) => panic!("{label}: sendInitialEvents without bookmarks is refused"),
        }
    }
}

#[tokio::test]
async fn paginated_lists_are_the_same() {
    let server = api_server().await;
    let client = server.client();
    let cms = ObjectTarget::collection(&configmaps(), Some("default"));
    for i in 0..5 {
        client
            .create(
                &cms,
                json!({"metadata": {"name": format!("cm-{i}")}}),
                &PostParams::default(),
            )
            .await
            .expect("create");
    }
    let mut pages = Vec::new();
    for (_, c) in transports(&server) {
        let first = c
            .list(&cms, &ListParams::default().limit(2))
            .await
            .expect("first page");
        let token = first["metadata"]["continue"]
            .as_str()
            .expect("a continue token")
            .to_owned();
        let second = c
            .list(
                &cms,
                &ListParams {
                    limit: 2,
                    continue_token: Some(token),
                    ..ListParams::default()
                },
            )
            .await
            .expect("second page");
        pages.push((first, second));
    }
    // The same snapshot revision on both: the pages are equal, token aside (both
    // tokens name the same key and revision).
    assert_eq!(pages[0].0["items"], pages[1].0["items"]);
    assert_eq!(pages[0].1["items"], pages[1].1["items"]);
    assert_eq!(pages[0].0["kind"], "ConfigMapList");
    assert_eq!(pages[0].0["metadata"]["remainingItemCount"], 3);
    assert_eq!(pages[0].1["items"].as_array().map(Vec::len), Some(2));
}
