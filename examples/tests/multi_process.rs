//! A real multi-process cluster on loopback: `skiff store`, two API servers on that
//! store (sharing one CA), two controller managers and two schedulers with leader
//! election, and three node agents with kubeconfigs issued by `skiff kubeconfig`.
//! Killing the leading controller manager or scheduler (SIGKILL, as a crash) hands the
//! work to the other within the lease duration. Driven by the real kubectl; skips when
//! kubectl is missing.

mod cluster;

use std::path::Path;
use std::time::Duration;

use cluster::{kubectl_binary, processes_running, wait_until, Kubectl, Skiff};

/// How long a component may take to start, or a condition to hold.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Lease duration (15 s) plus retries and a rollout: the bound on a failover.
const FAILOVER: Duration = Duration::from_secs(60);
/// The pods' command, unique to this test.
const POD_COMMAND: [&str; 2] = ["sleep", "3604"];

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
    let _nodes: Vec<Skiff> = (1..=3)
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
    let leader = holder(&kubectl, "skiff-scheduler");
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
        holder(&kubectl, "skiff-scheduler"),
        format!("sched-{}", 1 - index)
    );
}
