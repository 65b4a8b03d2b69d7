//! Services through the real kubectl against `skiff apiserver`: `create service
//! clusterip` and `nodeport`, `expose`, `get svc` with the allocated addresses, a
//! requested address that is taken (422), headless services, the `kubernetes`
//! Service, and the range flags; `get endpoints` and `get pdb` with the columns
//! kube-apiserver's printers give them. Skips when kubectl is missing.

mod kubectl;

use kubectl::{deployment, headers, ApiServer};

fn jsonpath(server: &ApiServer, what: &str, path: &str) -> String {
    server.ok(&["get", what, "-o", &format!("jsonpath={path}")])
}

fn in_range(ip: &str, prefix: &str) -> bool {
    ip.starts_with(prefix) && ip.parse::<std::net::Ipv4Addr>().is_ok()
}

#[test]
fn services_get_cluster_ips_and_node_ports() {
    let Some(server) = ApiServer::start(&[
        "--service-cluster-ip-range",
        "10.55.0.0/24",
        "--service-node-port-range",
        "31000-31099",
    ]) else {
        return;
    };

    // The API server's own Service: the first address of the range.
    assert_eq!(
        jsonpath(&server, "service/kubernetes", "{.spec.clusterIP}"),
        "10.55.0.1"
    );
    let endpoints = jsonpath(
        &server,
        "endpoints/kubernetes",
        "{.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}",
    );
    let port = server.url.rsplit(':').next().unwrap_or_default();
    assert_eq!(endpoints, format!("127.0.0.1:{port}"));

    server.ok(&["create", "service", "clusterip", "web", "--tcp=80:8080"]);
    let web_ip = jsonpath(&server, "service/web", "{.spec.clusterIP}");
    assert!(in_range(&web_ip, "10.55.0."), "{web_ip}");
    assert_ne!(web_ip, "10.55.0.1");

    let table = server.ok(&["get", "svc", "web"]);
    assert_eq!(
        headers(&table),
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ],
        "{table}"
    );
    assert!(
        table.contains(&web_ip) && table.contains("80/TCP"),
        "{table}"
    );

    // A requested address that is taken.
    let taken = server.fails(&[
        "create",
        "service",
        "clusterip",
        "copy",
        "--tcp=80:8080",
        &format!("--clusterip={web_ip}"),
    ]);
    assert!(
        taken.contains("provided IP is already allocated"),
        "{taken}"
    );
    let outside = server.fails(&[
        "create",
        "service",
        "clusterip",
        "copy",
        "--tcp=80:8080",
        "--clusterip=10.56.0.9",
    ]);
    assert!(outside.contains("not in the valid range"), "{outside}");

    // Headless.
    server.ok(&[
        "create",
        "service",
        "clusterip",
        "db",
        "--clusterip=None",
        "--tcp=5432:5432",
    ]);
    assert_eq!(jsonpath(&server, "service/db", "{.spec.clusterIP}"), "None");

    // NodePort: a port of the range, shown as 80:PORT/TCP.
    server.ok(&["create", "service", "nodeport", "edge", "--tcp=80:8080"]);
    let node_port: u16 = jsonpath(&server, "service/edge", "{.spec.ports[0].nodePort}")
        .parse()
        .expect("a node port");
    assert!((31000..=31099).contains(&node_port), "{node_port}");
    let table = server.ok(&["get", "svc", "edge"]);
    assert!(table.contains(&format!("80:{node_port}/TCP")), "{table}");
    let clash = server.fails(&[
        "create",
        "service",
        "nodeport",
        "edge2",
        "--tcp=80:8080",
        &format!("--node-port={node_port}"),
    ]);
    assert!(
        clash.contains("provided port is already allocated"),
        "{clash}"
    );

    // expose: a Service for a Deployment's selector, with an address.
    let manifest = server.write("app.yaml", &deployment("app", "nginx:1.25"));
    server.ok(&["create", "-f", &manifest]);
    server.ok(&[
        "expose",
        "deployment",
        "app",
        "--port=80",
        "--target-port=8080",
    ]);
    let app_ip = jsonpath(&server, "service/app", "{.spec.clusterIP}");
    assert!(in_range(&app_ip, "10.55.0."), "{app_ip}");
    assert_ne!(app_ip, web_ip);

    // Deleting a Service gives its address back.
    server.ok(&["delete", "service", "web"]);
    server.ok(&[
        "create",
        "service",
        "clusterip",
        "again",
        "--tcp=80:8080",
        &format!("--clusterip={web_ip}"),
    ]);
    assert_eq!(
        jsonpath(&server, "service/again", "{.spec.clusterIP}"),
        web_ip
    );
}

/// The cells of a table's first row (columns are separated by at least two spaces).
fn first_row(table: &str) -> Vec<String> {
    table
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn get_prints_endpoints_and_disruption_budget_columns() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    let port = server.url.rsplit(':').next().unwrap_or_default();

    // The API server's own Endpoints: NAME ENDPOINTS AGE, as against kube-apiserver.
    let table = server.ok(&["get", "endpoints", "kubernetes"]);
    assert_eq!(headers(&table), ["NAME", "ENDPOINTS", "AGE"], "{table}");
    let row = first_row(&table);
    assert_eq!(
        row[..2],
        ["kubernetes", &format!("127.0.0.1:{port}")],
        "{table}"
    );

    server.ok(&[
        "create",
        "poddisruptionbudget",
        "web",
        "--selector=app=web",
        "--min-available=1",
    ]);
    let table = server.ok(&["get", "pdb", "web"]);
    assert_eq!(
        headers(&table),
        [
            "NAME",
            "MIN AVAILABLE",
            "MAX UNAVAILABLE",
            "ALLOWED DISRUPTIONS",
            "AGE"
        ],
        "{table}"
    );
    assert_eq!(first_row(&table)[..4], ["web", "1", "N/A", "0"], "{table}");
}
