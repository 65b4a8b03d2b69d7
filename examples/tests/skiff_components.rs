//! The cluster as separate processes, as Kubernetes runs its components: `skiff
//! apiserver`, `skiff controller-manager`, `skiff scheduler` and `skiff node`, each
//! a client of the API server with a kubeconfig (the nodes' issued by `skiff
//! kubeconfig`). Driven by the real kubectl; skips when kubectl is missing.

mod cluster;

use std::time::Duration;

use cluster::{kubectl_binary, processes_running, wait_until, Kubectl, Skiff};

/// How long a component may take to start, or a condition to hold.
const TIMEOUT: Duration = Duration::from_secs(60);

/// `skiff apiserver` on a free port in `dir`; the kubectl for its admin kubeconfig.
fn apiserver(binary: &'static str, dir: &std::path::Path) -> (Skiff, Kubectl) {
    let data_dir = dir.display().to_string();
    let mut server = Skiff::start(
        "apiserver",
        &["apiserver", "--secure-port", "0", "--data-dir", &data_dir],
    );
    server.wait_for_api_address(TIMEOUT);
    let kubectl = Kubectl::new(
        binary,
        dir.join("admin.kubeconfig"),
        dir.join("kubectl-cache"),
    );
    wait_until("the API server is ready", TIMEOUT, || {
        kubectl.run(&["get", "--raw", "/readyz"]).status.success()
    });
    (server, kubectl)
}

/// A kubeconfig for node `name` issued by `skiff kubeconfig`, at `dir/NAME.kubeconfig`.
fn node_kubeconfig(dir: &std::path::Path, name: &str) -> String {
    let path = dir.join(format!("{name}.kubeconfig"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["kubeconfig", "--data-dir"])
        .arg(dir)
        .args(["--user", &format!("system:node:{name}")])
        .args(["--group", "system:nodes", "--output"])
        .arg(&path)
        .output()
        .expect("run skiff kubeconfig");
    assert!(
        out.status.success(),
        "skiff kubeconfig failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path.display().to_string()
}

#[test]
fn fifty_hollow_nodes_join_an_api_server() {
    let Some(binary) = kubectl_binary() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, kubectl) = apiserver(binary, dir.path());
    let kubeconfig = node_kubeconfig(dir.path(), "hollow");
    let mut nodes = Skiff::start(
        "node",
        &[
            "node",
            "--kubeconfig",
            &kubeconfig,
            "--runtime",
            "sim",
            "--count",
            "50",
            "--node-name",
            "hollow",
        ],
    );
    nodes.wait_for_line(&["nodes ready", "nodes=50"], TIMEOUT);
    assert_eq!(kubectl.ready_nodes(), 50);
    let names = kubectl.ok(&["get", "nodes", "-o", "name"]);
    assert!(names.lines().any(|l| l == "node/hollow-1"), "{names}");
    assert!(names.lines().any(|l| l == "node/hollow-50"), "{names}");
    let status = nodes.terminate(Duration::from_secs(30));
    assert!(status.success(), "skiff node exited with {status}");
}

#[test]
fn separate_components_run_a_deployment() {
    let Some(binary) = kubectl_binary() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, kubectl) = apiserver(binary, dir.path());
    let admin = dir.path().join("admin.kubeconfig").display().to_string();
    let _manager = Skiff::start(
        "controller-manager",
        &[
            "controller-manager",
            "--leader-elect",
            "--kubeconfig",
            &admin,
        ],
    );
    let mut scheduler = Skiff::start(
        "scheduler",
        &["scheduler", "--leader-elect", "--kubeconfig", &admin],
    );
    let kubeconfig = node_kubeconfig(dir.path(), "worker-1");
    let node_dir = dir.path().join("node").display().to_string();
    let mut node = Skiff::start(
        "node",
        &[
            "node",
            "--kubeconfig",
            &kubeconfig,
            "--node-name",
            "worker-1",
            "--data-dir",
            &node_dir,
        ],
    );
    node.wait_for_line(&["nodes ready"], TIMEOUT);

    kubectl.ok(&[
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--replicas=2",
        "--",
        "sleep",
        "3603",
    ]);
    kubectl.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    wait_until("2 pods Running on worker-1", TIMEOUT, || {
        let nodes = kubectl.ok(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].spec.nodeName}",
        ]);
        kubectl.pod_phases(&["-l", "app=web"]) == ["Running", "Running"]
            && nodes.split_whitespace().all(|n| n == "worker-1")
            && processes_running(&["sleep", "3603"]) == 2
    });
    let lease = kubectl.ok(&[
        "-n",
        "kube-system",
        "get",
        "lease",
        "kube-scheduler",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert!(!lease.is_empty(), "the scheduler holds its Lease");

    let status = scheduler.terminate(Duration::from_secs(15));
    assert!(status.success(), "skiff scheduler exited with {status}");
    let status = node.terminate(Duration::from_secs(45));
    assert!(status.success(), "skiff node exited with {status}");
    assert_eq!(processes_running(&["sleep", "3603"]), 0);
}

/// `skiff node --pod-manifest-path`: a static pod runs on the node, and its mirror pod
/// (`NAME-NODE`) shows it Running through the API server; logs and exec reach it
/// through the node server, whose client CA comes from the node's kubeconfig.
#[test]
fn a_static_pod_runs_with_a_mirror_pod_and_serves_logs() {
    let Some(binary) = kubectl_binary() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, kubectl) = apiserver(binary, dir.path());
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests).expect("manifest dir");
    std::fs::write(
        manifests.join("pinger.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: pinger\n  namespace: default\nspec:\n  containers:\n  - name: pinger\n    image: busybox\n    command: [sh, -c, 'echo static-hello; exec sleep 3604']\n",
    )
    .expect("write manifest");
    let kubeconfig = node_kubeconfig(dir.path(), "static-node");
    let manifest_arg = manifests.display().to_string();
    let node_dir = dir.path().join("nodes").display().to_string();
    let mut node = Skiff::start(
        "node",
        &[
            "node",
            "--kubeconfig",
            &kubeconfig,
            "--node-name",
            "static-node",
            "--pod-manifest-path",
            &manifest_arg,
            "--data-dir",
            &node_dir,
        ],
    );
    wait_until("the mirror pod Running", TIMEOUT, || {
        kubectl
            .pod_phases(&["--field-selector", "metadata.name=pinger-static-node"])
            .iter()
            .any(|p| p == "Running")
    });
    wait_until(
        "the static pod's log through the API server",
        TIMEOUT,
        || {
            let out = kubectl.run(&["logs", "pinger-static-node"]);
            String::from_utf8_lossy(&out.stdout).contains("static-hello")
        },
    );
    assert_eq!(
        kubectl
            .ok(&["exec", "pinger-static-node", "--", "echo", "inside"])
            .trim(),
        "inside"
    );
    let status = node.terminate(Duration::from_secs(30));
    assert!(status.success(), "skiff node exited with {status}");
    assert_eq!(processes_running(&["sleep", "3604"]), 0);
}
