//! Test helpers: an API server in the process over an in-memory store, its in-process
//! client (`ApiServer::client`), and condition waits.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use skiff_api::{ApiServer, ApiServerConfig};
use skiff_core::client::Client;
use skiff_store::MvccStore;

/// An API server over a fresh in-memory store, and a client of it.
pub async fn cluster() -> (ApiServer, Arc<dyn Client>) {
    let store = Arc::new(MvccStore::in_memory().await);
    let server = ApiServer::new(store, ApiServerConfig::default())
        .await
        .expect("server starts");
    let client: Arc<dyn Client> = server.client();
    (server, client)
}

/// Polls `check` until it returns `Some`, for at most `timeout`; panics with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
