//! A real multi-process cluster on loopback: `skiff store`, two API servers on that
//! store (sharing one CA), two controller managers and two schedulers with leader
//! election, and three node agents with kubeconfigs issued by `skiff kubeconfig`.
//! Killing the leading controller manager or scheduler (SIGKILL, as a crash) hands the
//! work to the other within the lease duration. Killing a node agent makes its node
//! NotReady (Unknown) after `--node-monitor-grace-period`, and its pods are recreated
//! on the other nodes after the API servers' default toleration seconds. Driven by
//! the real kubectl; skips when kubectl is missing.

mod cluster;

use std::path::Path;
use std::time::Duration;

use cluster::{kubectl_binary, processes_running, wait_until, KillLeftovers, Kubectl, Skiff};

/// How long a component may take to start, or a condition to hold.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Lease duration (15 s) plus retries and a rollout: the bound on a failover.
const FAILOVER: Duration = Duration::from_secs(60);
/// The pods' command, unique to this test.
const POD_COMMAND: [&str; 2] = ["sleep", "3604"];
/// Silence after which a node is Unknown: above the node agents' 10 s lease renewal.
const NODE_GRACE: &str = "20s";
/// The pods' default toleration of an unreachable (or not-ready) node.
const TOLERATION_SECONDS: &str = "2";
/// Node grace, toleration, the taint manager's pass, a new pod scheduled and started.
const NODE_FAILOVER: Duration = Duration::from_secs(90);

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// `skiff apiserver` on `store` with its data in `dir`; its URL.
fn apiserver(name: &str, dir: &Path, store: &str) -> (Skiff, String) {
    let mut server = Skiff::start(
        name,
        &[
            "apiserver",
            "--store",
            store,
            "--secure-port",
            "0",
            "--data-dir",
            &path(dir),
            "--default-not-ready-toleration-seconds",
            TOLERATION_SECONDS,
            "--default-unreachable-toleration-seconds",
            TOLERATION_SECONDS,
        ],
    );
    let address = server.wait_for_api_address(TIMEOUT);
    (server, format!("https://{address}"))
}

/// A kubeconfig for `user` (in `group`) of the server at `url`, from the CA in `ca_dir`.
fn kubeconfig(ca_dir: &Path, user: &str, group: Option<&str>, url: &str, out: &Path) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_skiff"));
    command
        .args(["kubeconfig", "--data-dir", &path(ca_dir), "--user", user])
        .args(["--server", url, "--output", &path(out)]);
    if let Some(group) = group {
        command.args(["--group", group]);
    }
    let result = command.output().expect("run skiff kubeconfig");
    assert!(
        result.status.success(),
        "skiff kubeconfig: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    path(out)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy file");
    }
}

fn holder(kubectl: &Kubectl, lease: &str) -> String {
    let out = kubectl.run(&[
        "-n",
        "kube-system",
        "get",
        "lease",
        lease,
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `(name, node, phase, terminating)` of the Deployment's pods.
fn pods(kubectl: &Kubectl) -> Vec<(String, String, String, bool)> {
    let out = kubectl.run(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.name},{.spec.nodeName},{.status.phase},{.metadata.deletionTimestamp}{"\n"}{end}"#,
    ]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split(',');
            Some((
                f.next()?.to_owned(),
                f.next()?.to_owned(),
                f.next()?.to_owned(),
                !f.next().unwrap_or_default().is_empty(),
            ))
        })
        .collect()
}

/// The status of `node`'s Ready condition.
fn node_ready(kubectl: &Kubectl, node: &str) -> String {
    let out = kubectl.run(&[
        "get",
        "node",
        node,
        "-o",
        r#"jsonpath={.status.conditions[?(@.type=="Ready")].status}"#,
    ]);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn running(kubectl: &Kubectl) -> usize {
    kubectl
        .pod_phases(&["-l", "app=web"])
        .iter()
        .filter(|p| *p == "Running")
        .count()
}

#[test]
fn multi_process_cluster_fails_over() {
    let Some(binary) = kubectl_binary() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    // The killed node agent's pods outlive it (their processes have their own
    // sessions); they are killed when the test ends, however it ends.
    let _leftovers = KillLeftovers(&POD_COMMAND);

    let mut store = Skiff::start(
        "store",
        &[
            "store",
            "--data-dir",
            &path(&root.join("store")),
            "--listen-client-urls",
            "http://127.0.0.1:0",
        ],
    );
    let line = store.wait_for_line(&["serving etcd v3 gRPC", "addr="], TIMEOUT);
    let address = line
        .split("addr=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_default()
        .to_owned();
    let etcd = format!("etcd://{address}");

    // Two API servers on one store; the second reuses the first one's CA.
    let (_api_a, url_a) = apiserver("apiserver-a", &root.join("a"), &etcd);
    copy_dir(&root.join("a").join("pki"), &root.join("b").join("pki"));
    let (_api_b, url_b) = apiserver("apiserver-b", &root.join("b"), &etcd);
    let kubectl = Kubectl::new(binary, root.join("a/admin.kubeconfig"), root.join("cache"));
    let kubectl_b = Kubectl::new(
        binary,
        root.join("b/admin.kubeconfig"),
        root.join("cache-b"),
    );
    wait_until("both API servers are ready", TIMEOUT, || {
        kubectl.run(&["get", "--raw", "/readyz"]).status.success()
            && kubectl_b.run(&["get", "--raw", "/readyz"]).status.success()
    });

    let ca = root.join("a");
    let admin = [
        kubeconfig(
            &ca,
            "admin-a",
            Some("system:masters"),
            &url_a,
            &root.join("admin-a.kubeconfig"),
        ),
        kubeconfig(
            &ca,
            "admin-b",
            Some("system:masters"),
            &url_b,
            &root.join("admin-b.kubeconfig"),
        ),
    ];
    let mut managers: Vec<Skiff> = (0..2)
        .map(|i| {
            let id = format!("cm-{i}");
            Skiff::start(
                &id,
                &[
                    "controller-manager",
                    "--leader-elect",
                    "--leader-elect-identity",
                    &id,
                    "--kubeconfig",
                    &admin[i],
                    "--node-monitor-grace-period",
                    NODE_GRACE,
                    "--node-monitor-period",
                    "2s",
                ],
            )
        })
        .collect();
    let mut schedulers: Vec<Skiff> = (0..2)
        .map(|i| {
            let id = format!("sched-{i}");
            Skiff::start(
                &id,
                &[
                    "scheduler",
                    "--leader-elect",
                    "--leader-elect-identity",
                    &id,
                    "--kubeconfig",
                    &admin[i],
                ],
            )
        })
        .collect();
    let mut nodes: Vec<Skiff> = (1..=3)
        .map(|i| {
            let name = format!("node-{i}");
            let url = if i == 2 { &url_b } else { &url_a };
            let config = kubeconfig(
                &ca,
                &format!("system:node:{name}"),
                Some("system:nodes"),
                url,
                &root.join(format!("{name}.kubeconfig")),
            );
            Skiff::start(
                &name,
                &[
                    "node",
                    "--kubeconfig",
                    &config,
                    "--node-name",
                    &name,
                    "--data-dir",
                    &path(&root.join("nodes")),
                ],
            )
        })
        .collect();
    wait_until("three nodes are Ready", TIMEOUT, || {
        kubectl.ready_nodes() == 3
    });

    kubectl.ok(&[
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--replicas=3",
        "--",
        POD_COMMAND[0],
        POD_COMMAND[1],
    ]);
    kubectl_b.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    wait_until("3 pods Running", TIMEOUT, || {
        running(&kubectl) == 3 && processes_running(&POD_COMMAND) == 3
    });

    // The leading controller manager crashes: the other takes over and acts.
    let leader = holder(&kubectl, "skiff-controller-manager");
    let index: usize = match leader.as_str() {
        "cm-0" => 0,
        "cm-1" => 1,
        other => panic!("unexpected controller manager leader {other:?}"),
    };
    managers[index].kill();
    wait_until("the other controller manager leads", FAILOVER, || {
        holder(&kubectl, "skiff-controller-manager") == format!("cm-{}", 1 - index)
    });
    kubectl.ok(&["scale", "deployment/web", "--replicas=4"]);
    wait_until("4 pods Running after the failover", FAILOVER, || {
        running(&kubectl) == 4 && processes_running(&POD_COMMAND) == 4
    });

    // The leading scheduler crashes: the other schedules the next pods.
    let leader = holder(&kubectl, "kube-scheduler");
    let index: usize = match leader.as_str() {
        "sched-0" => 0,
        "sched-1" => 1,
        other => panic!("unexpected scheduler leader {other:?}"),
    };
    schedulers[index].kill();
    kubectl_b.ok(&["scale", "deployment/web", "--replicas=5"]);
    wait_until(
        "5 pods Running after the scheduler failover",
        FAILOVER,
        || running(&kubectl) == 5 && processes_running(&POD_COMMAND) == 5,
    );
    assert_eq!(
        holder(&kubectl, "kube-scheduler"),
        format!("sched-{}", 1 - index)
    );

    // A node agent crashes: its node goes Unknown, its pods are evicted after their
    // toleration and recreated on the other nodes.
    let before = pods(&kubectl);
    let victim = (1..=3)
        .map(|i| format!("node-{i}"))
        .max_by_key(|n| before.iter().filter(|p| p.1 == *n).count())
        .expect("three nodes");
    let on_victim: Vec<String> = before
        .iter()
        .filter(|p| p.1 == victim)
        .map(|p| p.0.clone())
        .collect();
    assert!(!on_victim.is_empty(), "{before:?}");
    let index: usize = victim
        .trim_start_matches("node-")
        .parse::<usize>()
        .expect("node number")
        - 1;
    nodes[index].kill();
    wait_until("the killed node is no longer Ready", NODE_FAILOVER, || {
        node_ready(&kubectl, &victim) == "Unknown"
    });
    assert_eq!(kubectl.ready_nodes(), 2);
    wait_until(
        "5 pods Running on the other nodes, the killed node's evicted",
        NODE_FAILOVER,
        || {
            let now = pods(&kubectl);
            let serving = now
                .iter()
                .filter(|p| p.1 != victim && p.2 == "Running" && !p.3)
                .count();
            let evicted = on_victim
                .iter()
                .all(|name| now.iter().all(|p| p.0 != *name || p.3));
            serving == 5 && evicted
        },
    );
}
