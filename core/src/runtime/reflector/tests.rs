use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::*;

fn pod(ns: &str, name: &str, node: &str, owner: Option<&str>) -> Pod {
    let mut p = Pod::default();
    p.metadata.name = Some(name.into());
    p.metadata.namespace = Some(ns.into());
    p.metadata.labels = Some([("app".to_owned(), name.to_owned())].into());
    p.metadata.owner_references = owner.map(|uid| {
        vec![OwnerReference {
            uid: uid.into(),
            ..OwnerReference::default()
        }]
    });
    p.spec = Some(k8s_openapi::api::core::v1::PodSpec {
        node_name: Some(node.into()),
        ..Default::default()
    });
    p
}

fn writer() -> Writer<Pod> {
    Writer::default()
        .with_index(index::NAMESPACE, index::namespace)
        .with_index(index::OWNER, index::owner_uid)
        .with_index(index::NODE, index::pod_node_name)
        .with_index(index::LABEL, index::labels)
}

#[test]
fn relist_replaces_everything_at_init_done() {
    let mut w = writer();
    let store = w.as_reader();
    w.apply_watcher_event(&Event::Init);
    w.apply_watcher_event(&Event::InitApply(pod("a", "p1", "n1", Some("u1"))));
    assert!(!store.is_ready());
    assert!(store.is_empty(), "a list is invisible until InitDone");
    w.apply_watcher_event(&Event::InitDone);
    assert!(store.is_ready());
    assert_eq!(store.len(), 1);

    // A re-list that no longer has p1 forgets it, and its index entries.
    w.apply_watcher_event(&Event::Init);
    w.apply_watcher_event(&Event::InitApply(pod("b", "p2", "n2", None)));
    assert_eq!(
        store.len(),
        1,
        "the old state stays readable during a re-list"
    );
    w.apply_watcher_event(&Event::InitDone);
    assert!(store.get(&ObjectRef::new("p1").within("a")).is_none());
    assert!(store.by_index(index::OWNER, "u1").is_empty());
    assert_eq!(store.by_index(index::NODE, "n2").len(), 1);
}

#[test]
fn indexes_follow_updates_and_deletes() {
    let mut w = writer();
    let store = w.as_reader();
    let clone = store.clone();
    w.apply_watcher_event(&Event::Apply(pod("a", "p1", "n1", Some("u1"))));
    w.apply_watcher_event(&Event::Apply(pod("a", "p2", "n1", Some("u1"))));
    assert_eq!(clone.by_index(index::OWNER, "u1").len(), 2);
    assert_eq!(clone.by_index(index::NAMESPACE, "a").len(), 2);
    assert_eq!(clone.by_index(index::LABEL, "app=p2").len(), 1);

    // p2 moves to another node and loses its owner.
    w.apply_watcher_event(&Event::Apply(pod("a", "p2", "n2", None)));
    assert_eq!(store.by_index(index::NODE, "n1").len(), 1);
    assert_eq!(store.by_index(index::NODE, "n2").len(), 1);
    assert_eq!(store.by_index(index::OWNER, "u1").len(), 1);

    w.apply_watcher_event(&Event::Delete(pod("a", "p1", "n1", Some("u1"))));
    assert!(store.by_index(index::OWNER, "u1").is_empty());
    assert!(store.by_index(index::NODE, "n1").is_empty());
    assert_eq!(store.list().len(), 1);
}

#[tokio::test]
async fn wait_until_ready_fails_when_the_writer_goes() {
    let w = writer();
    let store = w.as_reader();
    drop(w);
    assert!(store.wait_until_ready().await.is_err());
}
