//! Test helpers: an in-process API server over an in-memory store and its in-process
//! client (`ApiServer::client`).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use skiff_api::{ApiServer, ApiServerConfig};
use skiff_core::client::Client;
use skiff_store::MvccStore;

pub async fn server() -> (ApiServer, Arc<dyn Client>) {
    let store = Arc::new(MvccStore::in_memory().await);
    let server = ApiServer::new(store, ApiServerConfig::default())
        .await
        .expect("server starts");
    let client: Arc<dyn Client> = server.client();
    (server, client)
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `timeout`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
