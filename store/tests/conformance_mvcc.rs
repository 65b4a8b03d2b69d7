//! The conformance suite (etcd's semantics, checked against the real etcd by
//! `remote_etcd.rs`) run against the in-process engine.

mod conformance;

use std::sync::Arc;

use skiff_store::MvccStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_against_in_memory_mvcc_store() {
    let store = MvccStore::in_memory().await;
    conformance::run("mvcc", Arc::new(store)).await;
}
