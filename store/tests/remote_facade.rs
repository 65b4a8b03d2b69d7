//! The conformance suite through the whole Skiff stack: `RemoteStore` -> gRPC ->
//! `EtcdServer` -> `MvccStore`, so the facade and the client are checked against the
//! same expectations as the real etcd.

mod conformance;

use std::sync::Arc;

use skiff_store::grpc::{serve, ServerIdentity};
use skiff_store::{KvStore, MvccStore, RemoteOptions, RemoteStore};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_through_the_grpc_facade() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let engine: Arc<dyn KvStore> = Arc::new(MvccStore::in_memory().await);
    let (stop, stopped) = oneshot::channel::<()>();
    let identity = ServerIdentity::new("facade", vec![url.clone()]);
    let server = tokio::spawn(serve(engine, identity, listener, async {
        let _ = stopped.await;
    }));

    let store = RemoteStore::connect(vec![url], RemoteOptions::default())
        .await
        .expect("connect");
    conformance::run("facade", Arc::new(store)).await;

    let _ = stop.send(());
    server
        .await
        .expect("server task")
        .expect("server stopped cleanly");
}
