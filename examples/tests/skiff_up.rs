//! `skiff up` as a newcomer runs it, driven only by the real kubectl: the cluster
//! comes up with a Ready node; a Deployment of host processes rolls out, scales, rolls
//! to a new image and back with `rollout undo`; deleting a namespace removes
//! everything in it; SIGTERM stops the pods' processes; starting again with the same
//! data directory brings the Deployment back with its pods running. Skips when kubectl
//! is missing.

mod cluster;

use std::time::Duration;

use cluster::{free_port, kubectl_binary, processes_running, wait_until, Kubectl, Skiff};

/// How long the cluster may take to be ready, and a rollout to finish.
const READY: Duration = Duration::from_secs(60);
/// How long a condition may take to become true.
const SETTLE: Duration = Duration::from_secs(60);
/// The command of the test's pods: unique to this test, so its processes can be
/// counted on the host.
const POD_COMMAND: [&str; 2] = ["sleep", "3601"];

fn start(dir: &std::path::Path, port: u16) -> Skiff {
    let port = port.to_string();
    let data_dir = dir.display().to_string();
    // Clusters running at once on this host need pod ranges of their own.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let cidr = format!("10.{}.0.0/16", 100 + (std::process::id() % 30) * 4 + n % 4);
    let mut up = Skiff::start(
        "up",
        &[
            "up",
            "--secure-port",
            &port,
            "--data-dir",
            &data_dir,
            "--cluster-cidr",
            &cidr,
        ],
    );
    up.wait_for_line(&["cluster ready"], READY);
    up
}

fn running(kubectl: &Kubectl, namespace: &str, selector: &str) -> usize {
    kubectl
        .pod_phases(&["-n", namespace, "-l", selector])
        .iter()
        .filter(|p| *p == "Running")
        .count()
}

#[test]
fn up_runs_deployments_and_survives_a_restart() {
    let Some(binary) = kubectl_binary() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut up = start(dir.path(), port);
    let kubeconfig = dir.path().join("admin.kubeconfig");
    let hint = format!("kubectl --kubeconfig {} get nodes", kubeconfig.display());
    up.wait_for_line(&[&hint], READY);
    let kubectl = Kubectl::new(binary, kubeconfig, dir.path().join("kubectl-cache"));

    assert_eq!(kubectl.ok(&["get", "--raw", "/readyz"]).trim(), "ok");
    assert_eq!(kubectl.ready_nodes(), 1, "one Ready node");

    // A Deployment of host processes rolls out.
    kubectl.ok(&["create", "namespace", "shop"]);
    kubectl.ok(&[
        "-n",
        "shop",
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--replicas=2",
        "--",
        POD_COMMAND[0],
        POD_COMMAND[1],
    ]);
    kubectl.ok(&[
        "-n",
        "shop",
        "rollout",
        "status",
        "deployment/web",
        "--timeout=60s",
    ]);
    wait_until("2 pods Running", SETTLE, || {
        running(&kubectl, "shop", "app=web") == 2
    });
    wait_until("2 processes on the host", SETTLE, || {
        processes_running(&POD_COMMAND) == 2
    });

    // Scaling.
    kubectl.ok(&["-n", "shop", "scale", "deployment/web", "--replicas=3"]);
    wait_until("3 pods Running and 3 processes", SETTLE, || {
        running(&kubectl, "shop", "app=web") == 3 && processes_running(&POD_COMMAND) == 3
    });

    // A new image, then back with rollout undo.
    kubectl.ok(&[
        "-n",
        "shop",
        "set",
        "image",
        "deployment/web",
        "busybox=busybox:1.36",
    ]);
    kubectl.ok(&[
        "-n",
        "shop",
        "rollout",
        "status",
        "deployment/web",
        "--timeout=60s",
    ]);
    let image = || {
        kubectl.ok(&[
            "-n",
            "shop",
            "get",
            "deployment/web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
    };
    assert_eq!(image(), "busybox:1.36");
    wait_until("the pods run the new image", SETTLE, || {
        let images = kubectl.ok(&[
            "-n",
            "shop",
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].spec.containers[0].image}",
        ]);
        let images: Vec<&str> = images.split_whitespace().collect();
        images.len() == 3 && images.iter().all(|i| *i == "busybox:1.36")
    });
    kubectl.ok(&["-n", "shop", "rollout", "undo", "deployment/web"]);
    kubectl.ok(&[
        "-n",
        "shop",
        "rollout",
        "status",
        "deployment/web",
        "--timeout=60s",
    ]);
    assert_eq!(image(), "busybox");
    wait_until("3 pods Running after the undo", SETTLE, || {
        running(&kubectl, "shop", "app=web") == 3 && processes_running(&POD_COMMAND) == 3
    });

    // Deleting a namespace deletes what is in it, processes included.
    kubectl.ok(&["create", "namespace", "scratch"]);
    kubectl.ok(&[
        "-n",
        "scratch",
        "create",
        "deployment",
        "tmp",
        "--image=busybox",
        "--",
        "sleep",
        "3602",
    ]);
    wait_until("the scratch pod runs", SETTLE, || {
        running(&kubectl, "scratch", "app=tmp") == 1
    });
    kubectl.ok(&["delete", "namespace", "scratch", "--wait=false"]);
    wait_until("the namespace and its pod are gone", SETTLE, || {
        kubectl.rows(&["namespace", "scratch"]).is_empty()
            && processes_running(&["sleep", "3602"]) == 0
    });

    // SIGTERM stops the pods; a restart on the same directory brings them back.
    let status = up.terminate(Duration::from_secs(45));
    assert!(status.success(), "skiff up exited with {status}");
    assert_eq!(
        processes_running(&POD_COMMAND),
        0,
        "the pods' processes outlived skiff up"
    );

    let mut again = start(dir.path(), port);
    assert_eq!(
        kubectl.ok(&[
            "-n",
            "shop",
            "get",
            "deployment/web",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "3"
    );
    wait_until("the pods run again after the restart", SETTLE, || {
        running(&kubectl, "shop", "app=web") == 3 && processes_running(&POD_COMMAND) == 3
    });
    assert_eq!(kubectl.ready_nodes(), 1);
    let status = again.terminate(Duration::from_secs(45));
    assert!(status.success(), "skiff up exited with {status}");
    assert_eq!(processes_running(&POD_COMMAND), 0);
}

#[test]
fn up_logs_json_on_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().display().to_string();
    let mut up = Skiff::start(
        "up-json",
        &[
            "up",
            "--log-format",
            "json",
            "--runtime",
            "sim",
            "--nodes",
            "3",
            "--secure-port",
            "0",
            "--data-dir",
            &data_dir,
        ],
    );
    let line = up.wait_for_line(&["cluster ready"], READY);
    let parsed: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(parsed["fields"]["message"], "cluster ready");
    assert_eq!(parsed["fields"]["nodes"], 3);
    assert_eq!(parsed["level"], "INFO");
    let status = up.terminate(Duration::from_secs(30));
    assert!(status.success(), "skiff up exited with {status}");
}

/// Logs and exec reach the node's processes through the API server; a Job runs to
/// completion; a Service gets its pod's address as an endpoint.
#[test]
fn up_serves_logs_exec_jobs_and_endpoints() {
    let Some(binary) = kubectl_binary() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut up = start(dir.path(), free_port());
    let kubectl = Kubectl::new(
        binary,
        dir.path().join("admin.kubeconfig"),
        dir.path().join("kubectl-cache"),
    );

    kubectl.ok(&[
        "run",
        "talker",
        "--image=busybox",
        "--restart=Never",
        "--",
        "sh",
        "-c",
        "echo hello-from-skiff; exec sleep 3603",
    ]);
    wait_until("the pod Running", SETTLE, || {
        running(&kubectl, "default", "run=talker") == 1
    });
    wait_until("its log line", SETTLE, || {
        kubectl
            .run(&["logs", "talker"])
            .stdout
            .windows(b"hello-from-skiff".len())
            .any(|w| w == b"hello-from-skiff")
    });
    assert_eq!(
        kubectl.ok(&["exec", "talker", "--", "echo", "hi"]).trim(),
        "hi"
    );
    let failed = kubectl.run(&["exec", "talker", "--", "sh", "-c", "exit 3"]);
    assert_eq!(
        failed.status.code(),
        Some(3),
        "kubectl exec passes the exit code on"
    );

    // As root, the pod has a network namespace and an address of its own (see
    // docs/networking.md); otherwise its status message says why not.
    let pod_ip = kubectl.ok(&["get", "pod", "talker", "-o", "jsonpath={.status.podIP}"]);
    let message = kubectl.ok(&["get", "pod", "talker", "-o", "jsonpath={.status.message}"]);
    if !message.contains("network") && !message.contains("host process") {
        assert!(
            pod_ip.starts_with("10.") && pod_ip != "127.0.0.1",
            "pod IP {pod_ip:?} is not from the cluster CIDR"
        );
        assert_eq!(
            kubectl.ok(&["exec", "talker", "--", "hostname"]).trim(),
            "talker"
        );
    } else {
        eprintln!("the pod shares the node's network: {message}");
    }
    // kubectl top: the API server's metrics.k8s.io asks the node agent.
    wait_until("kubectl top pod talker", SETTLE, || {
        let out = kubectl.run(&["top", "pod", "talker"]);
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("talker")
    });
    wait_until("kubectl top node", SETTLE, || {
        kubectl.run(&["top", "node"]).status.success()
    });

    // A Service selecting the pod gets its address once the pod is ready.
    kubectl.ok(&["expose", "pod", "talker", "--port=80", "--target-port=8080"]);
    wait_until("the Service's endpoint", SETTLE, || {
        kubectl
            .run(&[
                "get",
                "endpoints",
                "talker",
                "-o",
                "jsonpath={.subsets[0].addresses[0].ip}",
            ])
            .stdout
            == pod_ip.as_bytes()
    });

    kubectl.ok(&[
        "create",
        "job",
        "once",
        "--image=busybox",
        "--",
        "sh",
        "-c",
        "exit 0",
    ]);
    kubectl.ok(&[
        "wait",
        "--for=condition=complete",
        "job/once",
        "--timeout=60s",
    ]);

    kubectl.ok(&["delete", "pod", "talker", "--grace-period=1"]);
    let status = up.terminate(Duration::from_secs(45));
    assert!(status.success(), "skiff up exited with {status}");
}
