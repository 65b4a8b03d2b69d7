//! Service cluster IP and node port allocation: allocation, requested values,
//! conflicts, out-of-range values, release on delete, headless services, updates,
//! two API servers on one store, a restart; the `kubernetes` Service; the default
//! toleration seconds.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::*;
use http::StatusCode;
use serde_json::{json, Value};
use skiff_api::service_alloc::{kubernetes_service, Ranges, NODE_PORT_PREFIX, SERVICE_IP_PREFIX};
use skiff_api::strategy::default_tolerations::TolerationSeconds;
use skiff_api::{ApiServer, ApiServerConfig};
use skiff_store::{KvStore, MvccStore};

const BASE: &str = "/api/v1/namespaces/default/services";

fn svc(name: &str, spec: Value) -> Value {
    let mut spec = spec;
    if spec.get("ports").is_none() {
        spec["ports"] = json!([{"port": 80}]);
    }
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec})
}

fn small_ranges() -> ApiServerConfig {
    ApiServerConfig {
        service_ranges: Ranges::new("10.0.0.0/29", "30000-30002").unwrap(),
        ..ApiServerConfig::default()
    }
}

async fn on_store(store: Arc<MvccStore>, config: ApiServerConfig) -> TestServer {
    let server = ApiServer::new(store.clone(), config)
        .await
        .expect("server starts");
    TestServer {
        router: server.router(),
        server,
        store,
    }
}

async fn has_key(store: &MvccStore, key: String) -> bool {
    store.get(key.as_bytes()).await.unwrap().is_some()
}

fn ip_of(v: &Value) -> String {
    v["spec"]["clusterIP"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn message(v: &Value) -> &str {
    v["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn cluster_ips_are_allocated_checked_and_released() {
    let t = server().await;
    let (code, a) = t.post(BASE, svc("a", json!({}))).await;
    assert_eq!(code, StatusCode::CREATED, "{a}");
    let ip = ip_of(&a);
    let addr: std::net::IpAddr = ip.parse().expect("an address");
    let range: ipnet_free::Range = "10.96.0.0/12".into();
    assert!(range.contains(addr), "{ip} in 10.96.0.0/12");
    assert_ne!(
        ip, "10.96.0.1",
        "the first address is the kubernetes Service's"
    );
    assert_eq!(a["spec"]["clusterIPs"], json!([ip]));
    assert_eq!(a["spec"]["ipFamilies"], json!(["IPv4"]));
    assert!(has_key(&t.store, format!("{SERVICE_IP_PREFIX}{ip}")).await);

    let (_, b) = t.post(BASE, svc("b", json!({}))).await;
    assert_ne!(ip_of(&b), ip);

    // A requested address: granted when free, 422 when taken or out of range.
    let (code, c) = t
        .post(BASE, svc("c", json!({"clusterIP": "10.96.0.50"})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{c}");
    assert_eq!(ip_of(&c), "10.96.0.50");
    let (code, taken) = t
        .post(BASE, svc("d", json!({"clusterIP": "10.96.0.50"})))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{taken}");
    assert_eq!(taken["reason"], "Invalid");
    assert!(
        message(&taken).contains("provided IP is already allocated"),
        "{taken}"
    );
    assert_eq!(taken["details"]["causes"][0]["field"], "spec.clusterIPs");
    let (code, outside) = t
        .post(BASE, svc("d", json!({"clusterIP": "10.0.0.1"})))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{outside}");
    assert!(
        message(&outside)
            .contains("is not in the valid range. The range of valid IPs is 10.96.0.0/12"),
        "{outside}"
    );
    let (code, _) = t.get(&format!("{BASE}/d")).await;
    assert_eq!(
        code,
        StatusCode::NOT_FOUND,
        "a refused create stores nothing"
    );

    // Delete releases; the address can be requested again.
    let (code, _) = t.delete(&format!("{BASE}/c")).await;
    assert_eq!(code, StatusCode::OK);
    assert!(!has_key(&t.store, format!("{SERVICE_IP_PREFIX}10.96.0.50")).await);
    let (code, again) = t
        .post(BASE, svc("d", json!({"clusterIP": "10.96.0.50"})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{again}");

    // Headless services take nothing.
    let keys_before = t
        .store
        .range(skiff_store::RangeRequest::prefix(SERVICE_IP_PREFIX))
        .await
        .unwrap()
        .count;
    let (code, headless) = t
        .post(BASE, svc("headless", json!({"clusterIP": "None"})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{headless}");
    assert_eq!(ip_of(&headless), "None");
    let keys_after = t
        .store
        .range(skiff_store::RangeRequest::prefix(SERVICE_IP_PREFIX))
        .await
        .unwrap()
        .count;
    assert_eq!(keys_before, keys_after);

    // The address is immutable; an update that omits it keeps it.
    let mut changed = a.clone();
    changed["spec"]["clusterIP"] = json!("10.96.0.77");
    changed["spec"]["clusterIPs"] = json!(["10.96.0.77"]);
    let (code, refused) = t.put(&format!("{BASE}/a"), changed).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (code, kept) = t
        .put(
            &format!("{BASE}/a"),
            svc("a", json!({"ports": [{"port": 81}]})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{kept}");
    assert_eq!(ip_of(&kept), ip);

    // ExternalName services have no address; turning one into it releases the address.
    let (code, ext) = t
        .post(
            BASE,
            svc(
                "ext",
                json!({"type": "ExternalName", "externalName": "example.com"}),
            ),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{ext}");
    assert!(ext["spec"].get("clusterIP").is_none());
    let mut to_external = kept.clone();
    to_external["spec"]["type"] = json!("ExternalName");
    to_external["spec"]["externalName"] = json!("example.com");
    let (code, moved) = t.put(&format!("{BASE}/a"), to_external).await;
    assert_eq!(code, StatusCode::OK, "{moved}");
    assert!(!has_key(&t.store, format!("{SERVICE_IP_PREFIX}{ip}")).await);
}

#[tokio::test]
async fn node_ports_are_allocated_checked_and_released() {
    let t = server_with(small_ranges()).await;
    let (code, np) = t
        .post(
            BASE,
            svc(
                "np",
                json!({"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}),
            ),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{np}");
    let ports: HashSet<i64> = np["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["nodePort"].as_i64().unwrap())
        .collect();
    assert_eq!(ports.len(), 2);
    assert!(
        ports.iter().all(|p| (30000..=30002).contains(p)),
        "{ports:?}"
    );
    let free = (30000..=30002).find(|p| !ports.contains(p)).unwrap();
    let used = *ports.iter().next().unwrap();

    let (code, taken) = t
        .post(
            BASE,
            svc(
                "x",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": used}]}),
            ),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{taken}");
    assert!(
        message(&taken).contains("provided port is already allocated"),
        "{taken}"
    );
    let (code, outside) = t
        .post(
            BASE,
            svc(
                "x",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 31000}]}),
            ),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{outside}");
    assert!(message(&outside).contains("The range of valid ports is 30000-30002"));
    let (code, forbidden) = t
        .post(
            BASE,
            svc("x", json!({"ports": [{"port": 80, "nodePort": free}]})),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{forbidden}");

    // The last free port, then a full range.
    let (code, last) = t
        .post(
            BASE,
            svc(
                "last",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": free}]}),
            ),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{last}");
    let (code, full) = t.post(BASE, svc("full", json!({"type": "NodePort"}))).await;
    assert!(code.is_server_error(), "{code} {full}");
    let (code, _) = t.get(&format!("{BASE}/full")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // Back to ClusterIP releases the node ports.
    let mut back = np.clone();
    back["spec"]["type"] = json!("ClusterIP");
    let (code, back) = t.put(&format!("{BASE}/np"), back).await;
    assert_eq!(code, StatusCode::OK, "{back}");
    assert!(back["spec"]["ports"][0].get("nodePort").is_none(), "{back}");
    for p in &ports {
        assert!(!has_key(&t.store, format!("{NODE_PORT_PREFIX}{p}")).await);
    }
    let (code, reused) = t
        .post(
            BASE,
            svc(
                "reused",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": used}]}),
            ),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{reused}");
}

#[tokio::test]
async fn two_api_servers_on_one_store_never_share_an_address() {
    let store = Arc::new(MvccStore::in_memory().await);
    let a = on_store(store.clone(), small_ranges()).await;
    let b = on_store(store.clone(), small_ranges()).await;
    // 10.0.0.0/29: offsets 2..=6 are handed out dynamically (1 is the kubernetes
    // Service's): five services, created at once through both servers.
    let creates = (0..5).map(|i| {
        let server = if i % 2 == 0 { &a } else { &b };
        async move { server.post(BASE, svc(&format!("s{i}"), json!({}))).await }
    });
    let results = futures::future::join_all(creates).await;
    let mut ips = HashSet::new();
    for (code, body) in &results {
        assert_eq!(*code, StatusCode::CREATED, "{body}");
        assert!(ips.insert(ip_of(body)), "{} handed out twice", ip_of(body));
    }
    let (code, full) = b.post(BASE, svc("s5", json!({}))).await;
    assert!(code.is_server_error(), "the range is full: {code} {full}");

    // Both ask for the same address at once: exactly one gets it.
    let (code, _) = a.delete(&format!("{BASE}/s0")).await;
    assert_eq!(code, StatusCode::OK);
    let wanted = ip_of(&results[0].1);
    let (ra, rb) = tokio::join!(
        a.post(BASE, svc("p", json!({"clusterIP": wanted}))),
        b.post(BASE, svc("q", json!({"clusterIP": wanted}))),
    );
    let codes = [ra.0, rb.0];
    assert_eq!(
        codes.iter().filter(|c| **c == StatusCode::CREATED).count(),
        1,
        "{ra:?} {rb:?}"
    );
    assert!(codes.contains(&StatusCode::UNPROCESSABLE_ENTITY));

    // A server started later on the same store (a restart) sees every allocation.
    let c = on_store(store.clone(), small_ranges()).await;
    let (code, taken) = c.post(BASE, svc("r", json!({"clusterIP": wanted}))).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{taken}");
    let (code, full) = c.post(BASE, svc("r", json!({}))).await;
    assert!(code.is_server_error(), "{full}");
}

#[tokio::test]
async fn the_kubernetes_service_lists_every_api_server() {
    let t = server().await;
    let a = "127.0.0.1:6443".parse().unwrap();
    let b = "127.0.0.1:6444".parse().unwrap();
    kubernetes_service::ensure(&t.server, a).await.unwrap();
    kubernetes_service::ensure(&t.server, b).await.unwrap();
    let (code, svc) = t.get(&format!("{BASE}/kubernetes")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(ip_of(&svc), "10.96.0.1");
    assert_eq!(svc["spec"]["ports"][0]["port"], 443);
    let (_, ep) = t
        .get("/api/v1/namespaces/default/endpoints/kubernetes")
        .await;
    assert_eq!(ep["subsets"].as_array().unwrap().len(), 2, "{ep}");
    assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], "127.0.0.1");
    kubernetes_service::withdraw(&t.server, b).await.unwrap();
    let (_, ep) = t
        .get("/api/v1/namespaces/default/endpoints/kubernetes")
        .await;
    assert_eq!(ep["subsets"][0]["ports"][0]["port"], 6443, "{ep}");
    assert_eq!(ep["subsets"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn default_toleration_seconds_are_configurable() {
    let t = server_with(ApiServerConfig {
        default_toleration_seconds: TolerationSeconds {
            not_ready: 5,
            unreachable: 7,
        },
        ..ApiServerConfig::default()
    })
    .await;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    let (code, created) = t.post("/api/v1/namespaces/default/pods", pod).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let seconds: Vec<(String, i64)> = created["spec"]["tolerations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap().to_owned(),
                t["tolerationSeconds"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seconds,
        vec![
            ("node.kubernetes.io/not-ready".to_owned(), 5),
            ("node.kubernetes.io/unreachable".to_owned(), 7)
        ]
    );
}

/// A CIDR membership check written independently of the server's, for the asserts.
mod ipnet_free {
    use std::net::IpAddr;

    pub struct Range(u32, u32);

    impl From<&str> for Range {
        fn from(cidr: &str) -> Range {
            let (ip, bits) = cidr.split_once('/').unwrap();
            let ip: std::net::Ipv4Addr = ip.parse().unwrap();
            let bits: u32 = bits.parse().unwrap();
            let mask = u32::MAX << (32 - bits);
            Range(u32::from(ip) & mask, mask)
        }
    }

    impl Range {
        pub fn contains(&self, ip: IpAddr) -> bool {
            match ip {
                IpAddr::V4(v4) => u32::from(v4) & self.1 == self.0,
                IpAddr::V6(_) => false,
            }
        }
    }
}
