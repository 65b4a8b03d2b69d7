//! The conformance suite (etcd's semantics, checked against the real etcd by
//! `remote_etcd.rs`) run against the in-process engine, in memory and on redb.

mod conformance;

use std::sync::Arc;

use skiff_store::MvccStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_against_in_memory_mvcc_store() {
    let store = MvccStore::in_memory().await;
    conformance::run("mvcc", Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_against_mvcc_store_on_redb() {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend =
        skiff_store::RedbBackend::open(dir.path().join(skiff_store::backend::DATA_FILE_NAME))
            .expect("open redb");
    let store = MvccStore::open(backend, skiff_store::StoreConfig::default())
        .await
        .expect("open store");
    conformance::run("mvcc-redb", Arc::new(store)).await;
}
