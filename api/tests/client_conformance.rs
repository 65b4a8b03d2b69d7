//! The client contract (`skiff_core::client::conformance`) against every implementation:
//! the in-process client (handlers called with values), the same over the router as
//! HTTP requests, and the HTTPS client from the admin kubeconfig against a
//! real HTTPS server on a loopback port (client certificate, then bearer token).

use std::sync::Arc;

use skiff_api::auth::{
    AuthState, Authenticator, ClientCertAuthenticator, TokenFileAuthenticator, UnionAuthenticator,
};
use skiff_api::serve::{app_router, serve_https, AppParts, HealthChecks, Metrics};
use skiff_api::tls::{server_config, ClusterPki};
use skiff_api::watch_cache::WatchCacheConfig;
use skiff_api::{ApiServer, ApiServerConfig};
use skiff_core::client::conformance::{self, Config};
use skiff_core::client::https::HttpsClient;
use skiff_core::client::{
    ByteStream, Client, ClientError, DeleteParams, ListParams, LogParams, ObjectTarget, Patch,
    PatchParams, PostParams, ResourceRef, WatchStream,
};
use skiff_store::MvccStore;
use tokio::net::TcpListener;

/// Events per resource the test servers keep for watches: small, so the 410 check
/// needs few writes.
const WINDOW: usize = 16;

fn server_config_small_window() -> ApiServerConfig {
    ApiServerConfig {
        watch_cache: WatchCacheConfig {
            window: WINDOW,
            ..WatchCacheConfig::default()
        },
        ..ApiServerConfig::default()
    }
}

fn suite_config() -> Config {
    Config {
        watch_window: WINDOW,
        ..Config::default()
    }
}

async fn api_server() -> ApiServer {
    let store = Arc::new(MvccStore::in_memory().await);
    ApiServer::new(store, server_config_small_window())
        .await
        .expect("the server starts")
}

#[tokio::test]
async fn in_process_client_conforms() {
    let server = api_server().await;
    if let Err(e) = conformance::run(server.client(), &suite_config()).await {
        panic!("{e}");
    }
}

#[tokio::test]
async fn in_process_http_client_conforms() {
    let server = api_server().await;
    if let Err(e) = conformance::run(server.http_client(), &suite_config()).await {
        panic!("{e}");
    }
}

/// A server on HTTPS at 127.0.0.1:PORT with the cluster PKI in `dir`, accepting the
/// admin client certificate and the bearer token `t0ken`; answers the admin kubeconfig.
async fn https_server(dir: &std::path::Path) -> (String, tokio::sync::oneshot::Sender<()>) {
    let pki =
        ClusterPki::load_or_create(dir, &["localhost".into(), "127.0.0.1".into()]).expect("pki");
    let tls = Arc::new(server_config(&pki).expect("tls config"));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("address"));
    let server = api_server().await;
    let tokens =
        TokenFileAuthenticator::parse("t0ken,tester,u1,\"system:masters\"\n").expect("token file");
    let authenticators: Vec<Box<dyn Authenticator>> =
        vec![Box::new(ClientCertAuthenticator), Box::new(tokens)];
    let router = app_router(
        &server,
        AppParts {
            auth: Some(AuthState::new(UnionAuthenticator::new(authenticators))),
            health: HealthChecks::default(),
            metrics: Metrics::new(),
            extra: None,
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_https(router, listener, tls, async move {
        let _ = stopped.await;
    }));
    (skiff_api::kubeconfig::admin_kubeconfig(&url, &pki), stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_client_conforms_with_a_client_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (kubeconfig, _stop) = https_server(dir.path()).await;
    let client = HttpsClient::from_kubeconfig_str(&kubeconfig, None).expect("client");
    if let Err(e) = conformance::run(Arc::new(client), &suite_config()).await {
        panic!("{e}");
    }
}

#[tokio::test]
async fn https_client_with_a_token_from_a_kubeconfig_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (admin, _stop) = https_server(dir.path()).await;
    // The same cluster with the CA as a file next to the kubeconfig and a token user.
    let admin: serde_json::Value = serde_yaml::from_str(&admin).expect("yaml");
    let server = admin["clusters"][0]["cluster"]["server"]
        .as_str()
        .expect("server");
    let kubeconfig = format!(
        r#"
apiVersion: v1
kind: Config
current-context: t
contexts: [{{name: t, context: {{cluster: c, user: token}}}}]
clusters: [{{name: c, cluster: {{server: "{server}", certificate-authority: pki/ca.crt}}}}]
users: [{{name: token, user: {{token: t0ken}}}}]
"#
    );
    let path = dir.path().join("token.kubeconfig");
    std::fs::write(&path, &kubeconfig).expect("write");
    let client = HttpsClient::from_kubeconfig(&path).expect("client");
    let namespaces =
        ObjectTarget::collection(&ResourceRef::new("", "v1", "namespaces", false), None);
    let list = client
        .list(&namespaces, &ListParams::default())
        .await
        .expect("list namespaces with a token");
    assert!(
        list["items"].as_array().is_some_and(|i| !i.is_empty()),
        "{list}"
    );

    // A wrong token is a 401 Status, not a transport error.
    let wrong = kubeconfig.replace("token: t0ken", "token: wrong");
    let client = HttpsClient::from_kubeconfig_str(&wrong, Some(dir.path())).expect("client");
    let err = client
        .list(&namespaces, &ListParams::default())
        .await
        .expect_err("a wrong token is refused");
    assert_eq!(err.code(), Some(401), "{err:?}");

    // A CA that did not sign the server's certificate: the handshake fails.
    let other = tempfile::tempdir().expect("tempdir");
    ClusterPki::load_or_create(other.path(), &["localhost".into()]).expect("pki");
    let foreign = kubeconfig.replace(
        "certificate-authority: pki/ca.crt",
        &format!(
            "certificate-authority: {}",
            other.path().join("pki/ca.crt").display()
        ),
    );
    let client = HttpsClient::from_kubeconfig_str(&foreign, Some(dir.path())).expect("client");
    let err = client
        .list(&namespaces, &ListParams::default())
        .await
        .expect_err("an unknown CA is refused");
    assert!(
        matches!(err, skiff_core::client::ClientError::Transport(_)),
        "{err:?}"
    );
}

/// A client that forgets label selectors on list: the suite must notice.
struct IgnoresLabelSelectors(Arc<dyn Client>);

#[async_trait::async_trait]
impl Client for IgnoresLabelSelectors {
    async fn get(&self, t: &ObjectTarget) -> Result<serde_json::Value, ClientError> {
        self.0.get(t).await
    }
    async fn list(
        &self,
        t: &ObjectTarget,
        p: &ListParams,
    ) -> Result<serde_json::Value, ClientError> {
        let mut p = p.clone();
        p.label_selector = None;
        self.0.list(t, &p).await
    }
    async fn watch(&self, t: &ObjectTarget, p: &ListParams) -> Result<WatchStream, ClientError> {
        self.0.watch(t, p).await
    }
    async fn create(
        &self,
        t: &ObjectTarget,
        o: serde_json::Value,
        p: &PostParams,
    ) -> Result<serde_json::Value, ClientError> {
        self.0.create(t, o, p).await
    }
    async fn replace(
        &self,
        t: &ObjectTarget,
        o: serde_json::Value,
        p: &PostParams,
    ) -> Result<serde_json::Value, ClientError> {
        self.0.replace(t, o, p).await
    }
    async fn patch(
        &self,
        t: &ObjectTarget,
        patch: &Patch,
        p: &PatchParams,
    ) -> Result<serde_json::Value, ClientError> {
        self.0.patch(t, patch, p).await
    }
    async fn delete(
        &self,
        t: &ObjectTarget,
        p: &DeleteParams,
    ) -> Result<serde_json::Value, ClientError> {
        self.0.delete(t, p).await
    }
    async fn delete_collection(
        &self,
        t: &ObjectTarget,
        l: &ListParams,
        p: &DeleteParams,
    ) -> Result<serde_json::Value, ClientError> {
        self.0.delete_collection(t, l, p).await
    }
    async fn logs(&self, t: &ObjectTarget, p: &LogParams) -> Result<ByteStream, ClientError> {
        self.0.logs(t, p).await
    }
}

#[tokio::test]
async fn the_suite_catches_a_broken_client() {
    let server = api_server().await;
    let broken = Arc::new(IgnoresLabelSelectors(server.client()));
    let err = conformance::run(broken, &suite_config())
        .await
        .expect_err("a client ignoring label selectors fails");
    let failed: Vec<&str> = err.failures.iter().map(|(name, _)| *name).collect();
    assert!(failed.contains(&"create_get_list"), "{err}");
    assert!(
        !failed.contains(&"scale"),
        "unrelated checks still pass: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_over_http2_and_over_http1() {
    use hyper_util::client::legacy::connect::Connection;
    use skiff_core::client::https::{client_config, ClusterAccess, HttpsConnector};
    use tower::Service;

    let dir = tempfile::tempdir().expect("tempdir");
    let (kubeconfig, _stop) = https_server(dir.path()).await;
    let access = ClusterAccess::from_kubeconfig_str(&kubeconfig, None).expect("kubeconfig");

    // By default ALPN settles on HTTP/2.
    let tls = Arc::new(client_config(&access).expect("tls"));
    let mut connector = HttpsConnector::new(tls, None);
    let stream = connector
        .call(access.server.clone())
        .await
        .expect("connect");
    assert!(stream.connected().is_negotiated_h2());

    // A client offering only HTTP/1.1 passes the suite too.
    let mut tls = client_config(&access).expect("tls");
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut connector = HttpsConnector::new(Arc::new(tls), None);
    let stream = connector
        .call(access.server.clone())
        .await
        .expect("connect");
    assert!(!stream.connected().is_negotiated_h2());
    let service = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(connector);
    let client = skiff_core::client::ServiceClient::new(service).with_base_uri(&access.server);
    if let Err(e) = conformance::run(Arc::new(client), &suite_config()).await {
        panic!("{e}");
    }
}
