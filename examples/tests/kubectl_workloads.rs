//! StatefulSets and DaemonSets driven by the real kubectl against `skiff apiserver`
//! and `skiff controller-manager`: `kubectl rollout status` finishes, `rollout history`
//! lists the ControllerRevisions and `rollout undo` brings an old template back. The
//! test plays the kubelet (there is no node agent): it marks pods Running and Ready
//! with `kubectl patch --subresource=status`. Skips when kubectl is missing.

mod kubectl;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kubectl::ApiServer;
use serde_json::Value;

/// A running `skiff controller-manager`, killed on drop.
struct Manager(Child);

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_manager(server: &ApiServer) -> Manager {
    let child = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args([
            "controller-manager",
            "--controllers",
            "statefulset,daemonset,garbagecollector",
            "--kubeconfig",
        ])
        .arg(&server.kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn skiff controller-manager");
    Manager(child)
}

/// Marks every pod that is not Ready yet Running and Ready.
fn mark_pods_ready(server: &ApiServer) {
    let out = server.ok(&["get", "pods", "-o", "json"]);
    let list: Value = serde_json::from_str(&out).expect("pod list");
    for pod in list["items"].as_array().into_iter().flatten() {
        let ready = pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        let terminating = !pod["metadata"]["deletionTimestamp"].is_null();
        let Some(name) = pod["metadata"]["name"].as_str() else {
            continue;
        };
        if !ready && !terminating {
            // The pod may be replaced meanwhile; the next round catches up.
            let _ = server.kubectl(&[
                "patch",
                "pod",
                name,
                "--subresource=status",
                "--type=merge",
                "-p",
                r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#,
            ]);
        }
    }
}

/// Runs `kubectl rollout status` while playing the kubelet; returns its output.
fn rollout_status(server: &ApiServer, what: &str) -> String {
    let mut child = server
        .kubectl_command(&["rollout", "status", what, "--timeout=60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kubectl rollout status");
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().expect("wait for kubectl").is_none() {
        assert!(Instant::now() < deadline, "rollout status of {what} hangs");
        mark_pods_ready(server);
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().expect("kubectl output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "rollout status {what} failed\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

const STATEFUL_SET: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  replicas: 2
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: busybox:1
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
"#;

#[test]
fn statefulset_rollout_status_history_and_undo() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    let _manager = start_manager(&server);
    let manifest = server.write("web.yaml", STATEFUL_SET);
    server.ok(&["apply", "-f", &manifest]);
    let out = rollout_status(&server, "statefulset/web");
    assert!(out.contains("roll out complete: 2 new pods"), "{out}");
    let pods = server.ok(&["get", "pods", "-o", "name"]);
    assert_eq!(pods.lines().collect::<Vec<_>>(), ["pod/web-0", "pod/web-1"]);
    let claims = server.ok(&["get", "pvc", "-o", "name"]);
    assert!(
        claims.contains("data-web-0") && claims.contains("data-web-1"),
        "{claims}"
    );

    server.ok(&["set", "image", "statefulset/web", "c=busybox:2"]);
    let out = rollout_status(&server, "statefulset/web");
    assert!(out.contains("roll out complete: 2 new pods"), "{out}");
    let image = server.ok(&[
        "get",
        "pod",
        "web-0",
        "-o",
        "jsonpath={.spec.containers[0].image}",
    ]);
    assert_eq!(image, "busybox:2");
    let history = server.ok(&["rollout", "history", "statefulset/web"]);
    assert!(
        history.contains("\n1 ") && history.contains("\n2 "),
        "{history}"
    );

    server.ok(&["rollout", "undo", "statefulset/web"]);
    rollout_status(&server, "statefulset/web");
    let image = server.ok(&[
        "get",
        "statefulset",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(image, "busybox:1");
    server.wait_until("pods back at busybox:1", || {
        let images = server.ok(&[
            "get",
            "pods",
            "-o",
            "jsonpath={.items[*].spec.containers[0].image}",
        ]);
        images == "busybox:1 busybox:1"
    });
    let history = server.ok(&["rollout", "history", "statefulset/web"]);
    assert!(
        history.contains("\n2 ") && history.contains("\n3 "),
        "{history}"
    );
}

const DAEMON_SET: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: c
        image: agent:1
"#;

const NODES: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: node-a}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
"#;

#[test]
fn daemonset_rollout_status() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    let _manager = start_manager(&server);
    let nodes = server.write("nodes.yaml", NODES);
    server.ok(&["apply", "-f", &nodes]);
    let manifest = server.write("agent.yaml", DAEMON_SET);
    server.ok(&["apply", "-f", &manifest]);
    let out = rollout_status(&server, "daemonset/agent");
    assert!(out.contains("successfully rolled out"), "{out}");
    let ds = server.ok(&["get", "daemonset", "agent", "--no-headers"]);
    let columns: Vec<&str> = ds.split_whitespace().collect();
    assert_eq!(&columns[1..6], ["2", "2", "2", "2", "2"], "{ds}");

    server.ok(&["set", "image", "daemonset/agent", "c=agent:2"]);
    let out = rollout_status(&server, "daemonset/agent");
    assert!(out.contains("successfully rolled out"), "{out}");
    let images = server.ok(&[
        "get",
        "pods",
        "-o",
        "jsonpath={.items[*].spec.containers[0].image}",
    ]);
    assert_eq!(images, "agent:2 agent:2");
    let history = server.ok(&["rollout", "history", "daemonset/agent"]);
    assert!(
        history.contains("\n1 ") && history.contains("\n2 "),
        "{history}"
    );

    server.ok(&["rollout", "undo", "daemonset/agent"]);
    rollout_status(&server, "daemonset/agent");
    server.wait_until("pods back at agent:1", || {
        let images = server.ok(&[
            "get",
            "pods",
            "-o",
            "jsonpath={.items[*].spec.containers[0].image}",
        ]);
        images == "agent:1 agent:1"
    });
}
