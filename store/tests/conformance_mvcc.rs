//! The conformance suite (etcd's semantics, checked against the real etcd by
//! `remote_etcd.rs`) run against the in-process engine.

mod conformance;

use std::sync::Arc;

use skiff_store::MvccStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_against_in_memory_mvcc_store() {
    let store = MvccStore::in_memory().await;
    let known = [(
        "kv::every_key_spellings",
        "MvccStore answers EmptyKey for an empty key with range end [0], which KeyRange's \
         documentation defines as every key",
    )];
    conformance::run_with_known_differences("mvcc", Arc::new(store), &known).await;
}
