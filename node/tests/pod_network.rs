//! Pod networking in the process runtime (needs root and network namespaces; skips
//! with a reason otherwise): pods of one node and of two nodes on one host reach
//! each other by pod IP, port-forward and httpGet probes reach a pod in its
//! namespace, exec enters the container, addresses are not reused across a restart,
//! and the agent reports the pod IP once the node has a pod CIDR.
//!
//! Each test uses bridges and address ranges of its own, and removes its bridges
//! (and, through the runtimes' `Drop`, its namespaces and veths) even when it fails.

mod common;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;
use skiff_core::client::{Api, Patch, PatchParams, PostParams};
use skiff_node::agent::{probe, AgentConfig, NodeAgent};
use skiff_node::process::network::{self, links};
use skiff_node::process::{ProcessRuntime, ProcessRuntimeConfig};
use skiff_node::runtime::{
    ContainerConfig, PodIdentity, PodSandboxConfig, RuntimeConfig, RuntimeService,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(20);
const PYTHON: &str = "/usr/bin/python3";

/// Whether the machine can run these tests; prints why not.
fn supported() -> bool {
    if let Err(why) = network::available() {
        eprintln!("skipping: {why}");
        return false;
    }
    if !std::path::Path::new(PYTHON).exists() {
        eprintln!("skipping: {PYTHON} is missing (the pods' servers and clients)");
        return false;
    }
    true
}

/// Removes the test's bridges when dropped (declare it before the runtimes, so it
/// runs after their `Drop` removed the pods' networks).
struct Bridges(Vec<String>);

impl Drop for Bridges {
    fn drop(&mut self) {
        for b in &self.0 {
            if let Err(e) = links::remove_link(b) {
                eprintln!("removing bridge {b}: {e}");
            }
            network::masquerade::disable(b);
        }
    }
}

/// A second octet of 10.x.0.0/16 unlikely to be used by another test run at once.
fn octet(test: u8) -> u8 {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    200 + ((seed % 10) as u8) * 5 + test
}

/// A node's runtime on bridge `bridge` with pod CIDR `cidr`.
async fn node(dir: &std::path::Path, bridge: &str, cidr: &str) -> ProcessRuntime {
    let mut config = ProcessRuntimeConfig::new(dir.to_owned());
    config.bridge = bridge.to_owned();
    let rt = ProcessRuntime::new(config);
    rt.update_runtime_config(&RuntimeConfig {
        pod_cidr: cidr.to_owned(),
    })
    .await
    .unwrap();
    rt
}

fn sandbox(name: &str) -> PodSandboxConfig {
    PodSandboxConfig {
        pod: PodIdentity {
            namespace: "default".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
        },
        hostname: name.into(),
        ..PodSandboxConfig::default()
    }
}

/// Starts a pod running `command`; returns (sandbox id, container id, pod IP).
async fn pod(rt: &ProcessRuntime, name: &str, command: &[&str]) -> (String, String, String) {
    let sb = sandbox(name);
    let sid = rt.run_pod_sandbox(&sb).await.unwrap();
    let ip = rt.pod_sandbox_status(&sid).await.unwrap().ip.unwrap();
    let config = ContainerConfig {
        name: "main".into(),
        command: command.iter().map(|s| s.to_string()).collect(),
        run_on_host: true,
        ..ContainerConfig::default()
    };
    let id = rt.create_container(&sid, &config, &sb).await.unwrap();
    rt.start_container(&id).await.unwrap();
    (sid, id, ip)
}

/// A pod serving HTTP on `port` on all its addresses (its root directory listing).
async fn web(rt: &ProcessRuntime, name: &str, port: u16) -> (String, String, String) {
    let port = port.to_string();
    pod(
        rt,
        name,
        &[
            PYTHON,
            "-m",
            "http.server",
            &port,
            "--bind",
            "0.0.0.0",
            "--directory",
            "/",
        ],
    )
    .await
}

/// Runs `script` with Python in container `id` until it exits 0 (servers take a
/// moment to listen); returns its stdout.
async fn python_in(rt: &ProcessRuntime, id: &str, script: &str) -> String {
    let command = vec![PYTHON.to_string(), "-c".into(), script.into()];
    common::wait_for(&format!("{script} in {id}"), WAIT, || async {
        let out = rt
            .exec_sync(id, &command, Duration::from_secs(5))
            .await
            .map_err(|e| e.to_string())?;
        if out.exit_code == 0 {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "exit {}: {}",
                out.exit_code,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    })
    .await
}

fn http_get(url: &str) -> String {
    format!("import urllib.request; print(urllib.request.urlopen('{url}', timeout=2).status)")
}

#[tokio::test]
async fn pods_of_one_node_and_of_two_nodes_reach_each_other_by_pod_ip() {
    if !supported() {
        return;
    }
    let o = octet(0);
    let (b1, b2) = (
        format!("skt{o}a{}", std::process::id() % 1000),
        format!("skt{o}b{}", std::process::id() % 1000),
    );
    let _bridges = Bridges(vec![b1.clone(), b2.clone()]);
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let n1 = node(d1.path(), &b1, &format!("10.{o}.1.0/24")).await;
    let n2 = node(d2.path(), &b2, &format!("10.{o}.2.0/24")).await;

    let (_, server, server_ip) = web(&n1, "server", 8080).await;
    let (_, client, client_ip) = pod(&n1, "client", &["sleep", "60"]).await;
    let (_, remote, remote_ip) = pod(&n2, "remote", &["sleep", "60"]).await;
    assert!(server_ip.starts_with(&format!("10.{o}.1.")), "{server_ip}");
    assert!(client_ip.starts_with(&format!("10.{o}.1.")), "{client_ip}");
    assert!(remote_ip.starts_with(&format!("10.{o}.2.")), "{remote_ip}");
    assert_ne!(server_ip, client_ip);

    // Same node: over the bridge.
    let url = format!("http://{server_ip}:8080/");
    assert_eq!(python_in(&n1, &client, &http_get(&url)).await.trim(), "200");
    // Another node on this host: routed through the host.
    assert_eq!(python_in(&n2, &remote, &http_get(&url)).await.trim(), "200");
    // The pod's own address is on its eth0, and the server sees the client's pod IP.
    let addrs = python_in(&n1, &server, "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(('10.0.0.1', 1)); print(s.getsockname()[0])").await;
    assert_eq!(addrs.trim(), server_ip);
}

#[tokio::test]
async fn port_forward_probes_and_exec_work_in_a_pod_namespace() {
    if !supported() {
        return;
    }
    let o = octet(1);
    let bridge = format!("skt{o}p{}", std::process::id() % 1000);
    let _bridges = Bridges(vec![bridge.clone()]);
    let dir = tempfile::tempdir().unwrap();
    let rt = node(dir.path(), &bridge, &format!("10.{o}.3.0/24")).await;
    // One server on all addresses, one only on the pod's loopback.
    let (sid, id, ip) = pod(
        &rt,
        "web",
        &[
            "sh",
            "-c",
            &format!("{PYTHON} -m http.server 8081 --bind 127.0.0.1 --directory / & exec {PYTHON} -m http.server 8080 --bind 0.0.0.0 --directory /"),
        ],
    )
    .await;
    python_in(&rt, &id, &http_get("http://127.0.0.1:8081/")).await;
    python_in(&rt, &id, &http_get("http://127.0.0.1:8080/")).await;
    // A second container of the pod shares its network: the loopback-only server is
    // on its localhost too.
    let sb = sandbox("web");
    let sidecar = ContainerConfig {
        name: "sidecar".into(),
        command: vec!["sleep".into(), "60".into()],
        run_on_host: true,
        ..ContainerConfig::default()
    };
    let sidecar = rt.create_container(&sid, &sidecar, &sb).await.unwrap();
    rt.start_container(&sidecar).await.unwrap();
    assert_eq!(
        python_in(&rt, &sidecar, &http_get("http://127.0.0.1:8081/"))
            .await
            .trim(),
        "200"
    );

    // httpGet and tcpSocket probes go to the pod IP from the host.
    let container: k8s_openapi::api::core::v1::Container = serde_json::from_value(
        json!({"name": "main", "ports": [{"name": "http", "containerPort": 8080}]}),
    )
    .unwrap();
    let http: k8s_openapi::api::core::v1::Probe = serde_json::from_value(
        json!({"httpGet": {"path": "/", "port": "http"}, "timeoutSeconds": 3}),
    )
    .unwrap();
    let tcp: k8s_openapi::api::core::v1::Probe =
        serde_json::from_value(json!({"tcpSocket": {"port": 8080}})).unwrap();
    let target = probe::Target {
        pod_ip: &ip,
        runtime: &rt,
        container_id: &id,
    };
    assert_eq!(probe::run(&http, &container, &target).await, Ok(()));
    assert_eq!(probe::run(&tcp, &container, &target).await, Ok(()));
    // Loopback-only: not reachable from the host ...
    let closed: k8s_openapi::api::core::v1::Probe =
        serde_json::from_value(json!({"tcpSocket": {"port": 8081}})).unwrap();
    assert!(probe::run(&closed, &container, &target).await.is_err());
    // ... but port-forward connects inside the pod's namespace.
    for port in [8080, 8081] {
        let mut conn = rt.port_forward(&sid, port).await.unwrap();
        conn.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let mut reply = Vec::new();
        tokio::time::timeout(WAIT, conn.read_to_end(&mut reply))
            .await
            .unwrap()
            .unwrap();
        let reply = String::from_utf8_lossy(&reply);
        assert!(reply.starts_with("HTTP/1.0 200"), "port {port}: {reply}");
    }

    // exec runs inside the container: its hostname, its PID namespace (its init is
    // PID 1, few processes in /proc), its root (a file written in /tmp is not on
    // the host), the pod's network.
    let marker = format!("skiff-exec-marker-{}", std::process::id());
    let sh = |s: &str| vec!["sh".to_string(), "-c".into(), s.into()];
    let out = rt
        .exec_sync(
            &id,
            &sh(&format!(
                "hostname; echo $$; test -d /proc/1 && echo has-pid-1; echo hi > /tmp/{marker}; ls /proc | grep -c '^[0-9]'"
            )),
            WAIT,
        )
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        out.exit_code,
        0,
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines[0], "web", "{text}");
    // The shell's PID is its PID in the container's namespace (how high it is
    // depends on how many processes the container and earlier execs started, so
    // only the few entries of /proc below tell the namespace from the host's).
    let pid: u32 = lines[1].parse().unwrap();
    assert!(pid > 1, "the exec'd shell is PID {pid}");
    assert_eq!(lines[2], "has-pid-1", "{text}");
    let procs: u32 = lines[3].parse().unwrap();
    assert!(procs < 20, "{procs} processes visible: the host's /proc?");
    assert!(!std::path::Path::new("/tmp").join(&marker).exists());
    let again = rt
        .exec_sync(&id, &sh(&format!("cat /tmp/{marker}")), WAIT)
        .await
        .unwrap();
    assert_eq!(again.stdout, b"hi\n");
    let addr = python_in(&rt, &id, "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(('10.0.0.1', 1)); print(s.getsockname()[0])").await;
    assert_eq!(addr.trim(), ip);
}

#[tokio::test]
async fn addresses_are_not_reused_across_restarts_and_leftovers_are_reclaimed() {
    if !supported() {
        return;
    }
    let o = octet(2);
    let bridge = format!("skt{o}r{}", std::process::id() % 1000);
    let _bridges = Bridges(vec![bridge.clone()]);
    let dir = tempfile::tempdir().unwrap();
    let cidr = format!("10.{o}.4.0/24");
    let ip_of = |rt: ProcessRuntime, sid: String| async move {
        rt.pod_sandbox_status(&sid).await.unwrap().ip.unwrap()
    };

    let first = node(dir.path(), &bridge, &cidr).await;
    let s1 = first.run_pod_sandbox(&sandbox("a")).await.unwrap();
    let s2 = first.run_pod_sandbox(&sandbox("b")).await.unwrap();
    let ip1 = ip_of(first.clone(), s1.clone()).await;
    let ip2 = ip_of(first.clone(), s2.clone()).await;
    assert_ne!(ip1, ip2);
    first.remove_pod_sandbox(&s1).await.unwrap();
    // Removing twice is fine.
    first.remove_pod_sandbox(&s1).await.unwrap();
    drop(first);

    let second = node(dir.path(), &bridge, &cidr).await;
    let s3 = second.run_pod_sandbox(&sandbox("c")).await.unwrap();
    let ip3 = ip_of(second.clone(), s3.clone()).await;
    assert!(
        ip3 != ip1 && ip3 != ip2,
        "{ip3} handed out again (had {ip1}, {ip2})"
    );
    // A crash: nothing removes the sandbox's namespace or releases its address.
    std::mem::forget(second);
    let netns_dir = dir.path().join("netns");
    assert_eq!(std::fs::read_dir(&netns_dir).unwrap().count(), 1);

    let third = node(dir.path(), &bridge, &cidr).await;
    let s4 = third.run_pod_sandbox(&sandbox("d")).await.unwrap();
    let ip4 = ip_of(third.clone(), s4.clone()).await;
    assert_ne!(ip4, ip3);
    // The crashed run's namespace is gone and its address released: only d's left.
    let left: Vec<_> = std::fs::read_dir(&netns_dir).unwrap().flatten().collect();
    assert_eq!(left.len(), 1, "{left:?}");
    let ipam = network::ipam::HostLocalIpam::open(
        &dir.path().join("network").join("ipam"),
        cidr.parse().unwrap(),
    )
    .unwrap();
    let held: Vec<String> = ipam
        .allocations()
        .unwrap()
        .into_iter()
        .map(|(ip, _)| ip.to_string())
        .collect();
    assert_eq!(held, vec![ip4.clone()]);
    third.remove_pod_sandbox(&s4).await.unwrap();
    assert!(ipam.allocations().unwrap().is_empty());
    assert_eq!(std::fs::read_dir(&netns_dir).unwrap().count(), 0);
}

#[tokio::test]
async fn the_agent_waits_for_the_pod_cidr_and_reports_the_pod_ip() {
    if !supported() {
        return;
    }
    let o = octet(3);
    let bridge = format!("skt{o}g{}", std::process::id() % 1000);
    let _bridges = Bridges(vec![bridge.clone()]);
    let c = common::cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let mut rc = ProcessRuntimeConfig::new(dir.path().to_owned());
    rc.bridge = bridge.clone();
    let runtime = ProcessRuntime::new(rc);
    let mut config = AgentConfig::new("net-node");
    config.sync_period = Duration::from_millis(100);
    config.pod_cidr_wait = WAIT;
    config.root_dir = dir.path().join("agent");
    let agent = NodeAgent::new(c.client.clone(), Arc::new(runtime.clone()), config).start();
    // What the node IPAM controller does once the node registers.
    let nodes: Api<Node> = Api::all(c.client.clone());
    let cidr = format!("10.{o}.5.0/24");
    common::wait_for("the node registered", WAIT, || async {
        nodes
            .patch(
                "net-node",
                &Patch::Merge(json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})),
                &PatchParams::default(),
            )
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let spec = json!({
        "containers": [{
            "name": "web", "image": "none",
            "command": [PYTHON, "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", "/"],
            "ports": [{"containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1},
        }],
    });
    pods.create(
        &common::pod("web", "net-node", spec),
        &PostParams::default(),
    )
    .await
    .unwrap();
    let ready = common::wait_for("pod web Ready with a pod IP", WAIT, || async {
        let p = pods.get("web").await.map_err(|e| e.to_string())?;
        let status = p.status.clone().unwrap_or_default();
        let ready = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if ready {
            Ok(status)
        } else {
            Err(format!("{status:?}"))
        }
    })
    .await;
    let ip = ready.pod_ip.unwrap();
    assert!(ip.starts_with(&format!("10.{o}.5.")), "{ip}");
    assert_eq!(ready.pod_ips.unwrap()[0].ip, ip);
    assert_ne!(ready.host_ip.as_deref(), Some(ip.as_str()));
    // No note about the host's network.
    assert!(
        !ready.message.unwrap_or_default().contains("network"),
        "the pod should not share the node's network"
    );
    agent.stop().await;
    drop(runtime);
}

#[tokio::test]
async fn without_a_pod_cidr_or_with_host_network_pods_share_the_node_network() {
    if !supported() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rt = ProcessRuntime::new(ProcessRuntimeConfig::new(dir.path().to_owned()));
    // No pod CIDR yet: the node's address, and the containers say why.
    let (_, id, ip) = pod(&rt, "early", &["sleep", "60"]).await;
    assert_eq!(ip, "127.0.0.1");
    let status = rt.container_status(&id).await.unwrap();
    assert!(
        status.message.contains("shares the node's network") && status.message.contains("podCIDR"),
        "{}",
        status.message
    );
    // hostNetwork: the node's network even with a pod CIDR, and nothing to say.
    let o = octet(4);
    rt.update_runtime_config(&RuntimeConfig {
        pod_cidr: format!("10.{o}.6.0/24"),
    })
    .await
    .unwrap();
    let sb = PodSandboxConfig {
        host_network: true,
        ..sandbox("host")
    };
    let sid = rt.run_pod_sandbox(&sb).await.unwrap();
    assert_eq!(
        rt.pod_sandbox_status(&sid).await.unwrap().ip.as_deref(),
        Some("127.0.0.1")
    );
    let config = ContainerConfig {
        name: "main".into(),
        command: vec!["sleep".into(), "60".into()],
        run_on_host: true,
        ..ContainerConfig::default()
    };
    let id = rt.create_container(&sid, &config, &sb).await.unwrap();
    assert_eq!(rt.container_status(&id).await.unwrap().message, "");
    // A bad pod CIDR is refused.
    assert!(rt
        .update_runtime_config(&RuntimeConfig {
            pod_cidr: "fd00::/64".into()
        })
        .await
        .is_err());
}
