//! Lists: selectors, pagination consistent across pages while others write,
//! resourceVersion semantics, 410 for a compacted continue token.

mod common;

use common::*;
use http::StatusCode;
use serde_json::json;
use skiff_store::KvStore;

fn names(list: &serde_json::Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn selectors() {
    let t = server().await;
    let base = "/api/v1/namespaces/default/pods";
    for (name, app, node) in [("a", "web", "n1"), ("b", "web", ""), ("c", "db", "n1")] {
        let mut p = pod(name);
        p["metadata"]["labels"] = json!({"app": app});
        if !node.is_empty() {
            p["spec"]["nodeName"] = json!(node);
        }
        assert_eq!(t.post(base, p).await.0, StatusCode::CREATED);
    }
    let (_, list) = t.get(&format!("{base}?labelSelector=app%3Dweb")).await;
    assert_eq!(names(&list), ["a", "b"]);
    let (_, list) = t
        .get(&format!("{base}?labelSelector=app%20in%20(db,x)"))
        .await;
    assert_eq!(names(&list), ["c"]);
    let (_, list) = t
        .get(&format!("{base}?fieldSelector=spec.nodeName%3Dn1"))
        .await;
    assert_eq!(names(&list), ["a", "c"]);
    let (_, list) = t
        .get(&format!("{base}?fieldSelector=spec.nodeName%3D"))
        .await;
    assert_eq!(names(&list), ["b"]);
    let (_, list) = t
        .get("/api/v1/pods?fieldSelector=metadata.name%3Db,metadata.namespace%3Ddefault")
        .await;
    assert_eq!(names(&list), ["b"]);
    let (_, list) = t
        .get(&format!(
            "{base}?labelSelector=app%3Dweb&fieldSelector=status.phase%3DPending"
        ))
        .await;
    assert_eq!(names(&list), ["a", "b"]);
    let (code, _) = t.get(&format!("{base}?fieldSelector=bogus%3D1")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    // From the watch cache (resourceVersion=0), with selectors too.
    // (resourceVersion=0 means "any": the cache may lag the store for a moment.)
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, list) = t
            .get(&format!("{base}?resourceVersion=0&labelSelector=app%3Ddb"))
            .await;
        if names(&list) == ["c"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cache never served c: {list}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // deletecollection by label.
    let (code, deleted) = t
        .call(
            http::Method::DELETE,
            &format!("{base}?labelSelector=app%3Dweb"),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(deleted["items"].as_array().unwrap().len(), 2);
    let (_, list) = t.get(base).await;
    // "a" is bound to a node: graceful deletion keeps it until the node confirms.
    assert_eq!(names(&list), ["a", "c"]);
}

#[tokio::test]
async fn pagination_is_consistent_while_others_write() {
    let t = server().await;
    let base = "/api/v1/namespaces/default/configmaps";
    for i in 0..10 {
        t.post(base, configmap(&format!("cm-{i:02}"), json!({})))
            .await;
    }
    let (_, first) = t.get(&format!("{base}?limit=4")).await;
    assert_eq!(names(&first), ["cm-00", "cm-01", "cm-02", "cm-03"]);
    assert_eq!(first["metadata"]["remainingItemCount"], 6);
    let list_rv = rv(&first);
    // Concurrent writes: a new object, a deletion, an update.
    t.post(base, configmap("cm-05a", json!({}))).await;
    t.delete(&format!("{base}/cm-06")).await;
    t.put(
        &format!("{base}/cm-07"),
        configmap("cm-07", json!({"changed": "yes"})),
    )
    .await;

    let mut seen = names(&first);
    let mut token = first["metadata"]["continue"].as_str().unwrap().to_owned();
    loop {
        let (code, page) = t.get(&format!("{base}?limit=4&continue={token}")).await;
        assert_eq!(code, StatusCode::OK, "{page}");
        assert_eq!(
            rv(&page),
            list_rv,
            "every page reads the first page's revision"
        );
        for item in page["items"].as_array().unwrap() {
            if item["metadata"]["name"] == "cm-07" {
                assert!(
                    item.get("data").unwrap().get("changed").is_none(),
                    "old version of cm-07"
                );
            }
        }
        seen.extend(names(&page));
        match page["metadata"].get("continue").and_then(|c| c.as_str()) {
            Some(c) => token = c.to_owned(),
            None => break,
        }
    }
    let want: Vec<String> = (0..10).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(seen, want);

    // Filtered pagination: limit counts matches.
    let (_, filtered) = t
        .get(&format!(
            "{base}?limit=2&fieldSelector=metadata.name!%3Dcm-00"
        ))
        .await;
    assert_eq!(names(&filtered), ["cm-01", "cm-02"]);
    assert!(filtered["metadata"]["continue"].is_string());
}

#[tokio::test]
async fn resource_versions_and_expired_continue() {
    let t = server().await;
    let base = "/api/v1/namespaces/default/configmaps";
    let (_, a) = t.post(base, configmap("a", json!({}))).await;
    t.post(base, configmap("b", json!({}))).await;
    // Exact: the list as it was at a's revision.
    let (code, then) = t
        .get(&format!(
            "{base}?resourceVersion={}&resourceVersionMatch=Exact",
            rv(&a)
        ))
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(names(&then), ["a"]);
    assert_eq!(rv(&then), rv(&a));
    let (code, _) = t.get(&format!("{base}?resourceVersionMatch=Exact")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, _) = t.get(&format!("{base}?resourceVersion=abc")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);

    let (_, first) = t.get(&format!("{base}?limit=1")).await;
    let token = first["metadata"]["continue"].as_str().unwrap().to_owned();
    t.post(base, configmap("c", json!({}))).await;
    let current = t.store.status().await.unwrap().header.revision;
    t.store.compact(current).await.unwrap();
    let (code, err) = t.get(&format!("{base}?limit=1&continue={token}")).await;
    assert_eq!(code, StatusCode::GONE, "{err}");
    assert_eq!(err["reason"], "Expired");
    let (code, _) = t.get(&format!("{base}?limit=1&continue=garbage")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn cache_and_store_lists_agree() {
    let t = server().await;
    let base = "/api/v1/namespaces/default/configmaps";
    for i in 0..7 {
        t.post(
            base,
            configmap(&format!("cm-{i}"), json!({"i": i.to_string()})),
        )
        .await;
    }
    // A list right after a write sees it (consistent read from the cache).
    let (_, created) = t.post(base, configmap("last", json!({}))).await;
    let (code, cached) = t.get(base).await;
    assert_eq!(code, StatusCode::OK);
    assert!(names(&cached).contains(&"last".to_owned()));
    assert!(rv(&cached) >= rv(&created));
    // The store read at the same revision is the same list, byte for byte as JSON.
    let (_, stored) = t
        .get(&format!(
            "{base}?resourceVersion={}&resourceVersionMatch=Exact",
            rv(&cached)
        ))
        .await;
    assert_eq!(cached, stored);

    // A continue token from a store-read page (no cache snapshot kept for it) is
    // served from the store at its revision, and the pages add up.
    let (_, first) = t
        .get(&format!(
            "{base}?limit=3&resourceVersion={}&resourceVersionMatch=Exact",
            rv(&cached)
        ))
        .await;
    let mut seen = names(&first);
    let mut token = first["metadata"]["continue"].as_str().unwrap().to_owned();
    t.delete(&format!("{base}/cm-5")).await;
    loop {
        let (code, page) = t.get(&format!("{base}?limit=3&continue={token}")).await;
        assert_eq!(code, StatusCode::OK, "{page}");
        assert_eq!(rv(&page), rv(&cached));
        seen.extend(names(&page));
        match page["metadata"].get("continue").and_then(|c| c.as_str()) {
            Some(c) => token = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, names(&cached));

    // Selectors and resourceVersion=0 from the cache.
    let (_, zero) = t
        .get(&format!("{base}?resourceVersion=0&labelSelector=missing"))
        .await;
    assert_eq!(zero["items"], json!([]));
    assert_eq!(zero["kind"], "ConfigMapList");
}
