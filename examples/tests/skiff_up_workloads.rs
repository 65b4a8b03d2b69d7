//! `skiff up --nodes 2` driven only by the real kubectl: a CronJob fires on its
//! schedule (every minute: cron has no seconds field, as in Kubernetes, so this takes
//! up to a minute of real time); a DaemonSet has a pod on every node; a StatefulSet's
//! pods come up one at a time in order (web-0 Ready before web-1 exists) with stable
//! names, and a deleted member comes back under its name. Skips when kubectl is
//! missing.

mod cluster;

use std::time::Duration;

use cluster::{free_port, kubectl_binary, wait_until, Kubectl, Skiff};

/// How long the cluster may take to be ready.
const READY: Duration = Duration::from_secs(60);
/// How long a condition may take to become true.
const SETTLE: Duration = Duration::from_secs(60);
/// A schedule of `* * * * *` fires at the next minute boundary: at most 60 s, plus
/// the time to create and run its Job.
const CRON: Duration = Duration::from_secs(100);

const DAEMONSET: &str = "apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
      - name: agent
        image: busybox
        command: [sleep, '3606']
";

/// web-0 needs 3 s to be Ready (readiness probe delay), so a controller that did
/// not wait would create web-1 before web-0 is Ready.
const STATEFULSET: &str = "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: busybox
        command: [sleep, '3607']
        readinessProbe:
          exec: {command: ['true']}
          initialDelaySeconds: 3
          periodSeconds: 1
";

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write manifest");
    path.display().to_string()
}

fn lines(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// RFC 3339 timestamps as the API server writes them (`2026-11-23T20:30:05Z`, UTC,
/// whole seconds) order as strings.
fn not_before(later: &str, earlier: &str) -> bool {
    let (later, earlier) = (later.trim(), earlier.trim());
    later.len() == 20 && earlier.len() == 20 && later.ends_with('Z') && later >= earlier
}

#[test]
fn up_runs_cronjobs_daemonsets_and_statefulsets() {
    let Some(binary) = kubectl_binary() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port().to_string();
    let data_dir = dir.path().display().to_string();
    let mut up = Skiff::start(
        "up",
        &[
            "up",
            "--nodes",
            "2",
            "--secure-port",
            &port,
            "--data-dir",
            &data_dir,
        ],
    );
    up.wait_for_line(&["cluster ready"], READY);
    let kubectl = Kubectl::new(
        binary,
        dir.path().join("admin.kubeconfig"),
        dir.path().join("kubectl-cache"),
    );
    assert_eq!(kubectl.ready_nodes(), 2);

    // The CronJob first: its minute runs while the rest is checked.
    kubectl.ok(&[
        "create",
        "cronjob",
        "tick",
        "--image=busybox",
        "--schedule=* * * * *",
        "--",
        "sh",
        "-c",
        "exit 0",
    ]);

    // A DaemonSet: one pod on each node.
    kubectl.ok(&["apply", "-f", &write(dir.path(), "ds.yaml", DAEMONSET)]);
    let nodes = lines(&kubectl.ok(&["get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"]));
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    wait_until("a Running agent pod on every node", SETTLE, || {
        let out = kubectl.ok(&[
            "get",
            "pods",
            "-l",
            "app=agent",
            "-o",
            r#"jsonpath={range .items[*]}{.spec.nodeName}={.status.phase}{"\n"}{end}"#,
        ]);
        let mut on: Vec<String> = out
            .lines()
            .filter_map(|l| l.strip_suffix("=Running"))
            .map(str::to_owned)
            .collect();
        on.sort();
        let mut want = nodes.clone();
        want.sort();
        on == want
    });
    kubectl.ok(&["rollout", "status", "daemonset/agent", "--timeout=60s"]);

    // A StatefulSet: ordered, stable names.
    kubectl.ok(&[
        "create",
        "service",
        "clusterip",
        "web",
        "--clusterip=None",
        "--tcp=80:80",
    ]);
    kubectl.ok(&["apply", "-f", &write(dir.path(), "sts.yaml", STATEFULSET)]);
    kubectl.ok(&["rollout", "status", "statefulset/web", "--timeout=60s"]);
    let names = lines(&kubectl.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]));
    assert_eq!(names, ["web-0", "web-1"]);
    let ready_0 = kubectl.ok(&[
        "get",
        "pod",
        "web-0",
        "-o",
        r#"jsonpath={.status.conditions[?(@.type=="Ready")].lastTransitionTime}"#,
    ]);
    let created_1 = kubectl.ok(&[
        "get",
        "pod",
        "web-1",
        "-o",
        "jsonpath={.metadata.creationTimestamp}",
    ]);
    assert!(
        not_before(&created_1, &ready_0),
        "web-1 created at {created_1}, before web-0 was Ready at {ready_0}"
    );
    let uid_0 = kubectl.ok(&["get", "pod", "web-0", "-o", "jsonpath={.metadata.uid}"]);
    kubectl.ok(&["delete", "pod", "web-0", "--grace-period=1"]);
    wait_until("web-0 back under its name, Ready", SETTLE, || {
        let out = kubectl.run(&[
            "get",
            "pod",
            "web-0",
            "-o",
            r#"jsonpath={.metadata.uid} {.status.conditions[?(@.type=="Ready")].status}"#,
        ]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut parts = text.split_whitespace();
        let uid = parts.next().unwrap_or_default();
        !uid.is_empty() && uid != uid_0 && parts.next() == Some("True")
    });

    // The CronJob has fired: a Job it owns ran to completion.
    wait_until("a Job of the CronJob completes", CRON, || {
        let out = kubectl.ok(&[
            "get",
            "jobs",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.ownerReferences[0].name}={.status.succeeded}{"\n"}{end}"#,
        ]);
        out.lines().any(|l| l == "tick=1")
    });
    let last = kubectl.ok(&[
        "get",
        "cronjob",
        "tick",
        "-o",
        "jsonpath={.status.lastScheduleTime}",
    ]);
    assert!(!last.trim().is_empty(), "lastScheduleTime is set");

    kubectl.ok(&["delete", "cronjob", "tick"]);
    let status = up.terminate(Duration::from_secs(45));
    assert!(status.success(), "skiff up exited with {status}");
}
