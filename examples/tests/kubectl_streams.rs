//! `kubectl logs`, `exec` and `port-forward` through Skiff's API server to a node
//! agent running the pod as host processes. The API server (HTTPS, client
//! certificates, the admin kubeconfig) and the node agent (process runtime, its HTTPS
//! server) run in this test's process; kubectl is the real binary. Skips when
//! kubectl or /bin/sh is missing.

mod kubectl;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use skiff_api::auth::{AuthState, ClientCertAuthenticator};
use skiff_api::node_proxy::KubeletClientConfig;
use skiff_api::openapi::OpenApiCache;
use skiff_api::serve::{app_router, serve_https, AppParts, HealthChecks, Metrics};
use skiff_api::table::TableTransform;
use skiff_api::tls::{server_config, ClusterPki};
use skiff_api::{ApiServer, ApiServerConfig};
use skiff_node::agent::{AgentConfig, NodeAgent};
use skiff_node::process::{ProcessRuntime, ProcessRuntimeConfig};
use skiff_node::server::{NodeServer, NodeServerConfig};

const TIMEOUT: Duration = Duration::from_secs(30);
const NODE_TOKEN: &str = "apiserver-to-node-secret";

/// The API server and node agent, running on a tokio runtime of their own.
struct Cluster {
    _runtime: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    kubectl: &'static str,
}

impl Cluster {
    fn start(kubectl: &'static str) -> Cluster {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().to_owned();
        runtime.block_on(async move {
            let pki = ClusterPki::load_or_create(&data, &["localhost".into(), "127.0.0.1".into()])
                .expect("pki");
            let tls = Arc::new(server_config(&pki).expect("tls"));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let url = format!("https://{}", listener.local_addr().expect("addr"));
            skiff_api::kubeconfig::write_admin_kubeconfig(
                &data.join("admin.kubeconfig"),
                &url,
                &pki,
            )
            .expect("kubeconfig");

            // The node agent's serving certificate, which the API server checks.
            let node_cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
                .expect("node certificate");
            let node_cert_pem = node_cert.cert.pem();
            let store = Arc::new(skiff_store::MvccStore::in_memory().await);
            let server = ApiServer::new(
                store,
                ApiServerConfig {
                    response_transform: Some(Arc::new(TableTransform)),
                    kubelet_client: Some(KubeletClientConfig {
                        ca_pem: Some(node_cert_pem.clone()),
                        bearer_token: Some(NODE_TOKEN.into()),
                        ..KubeletClientConfig::default()
                    }),
                    ..ApiServerConfig::default()
                },
            )
            .await
            .expect("api server");
            let router = app_router(
                &server,
                AppParts {
                    auth: Some(AuthState::new(ClientCertAuthenticator)),
                    health: HealthChecks::new(vec![]),
                    metrics: Metrics::new(),
                    extra: Some(skiff_api::openapi::router(OpenApiCache::new(Arc::new(
                        server.clone(),
                    )))),
                },
            );
            tokio::spawn(serve_https(router, listener, tls, std::future::pending()));

            let process = ProcessRuntime::new(ProcessRuntimeConfig::new(data.join("node")));
            let mut node_config = NodeServerConfig::new("node-1");
            node_config.bind = "127.0.0.1:0".parse().expect("address");
            node_config.serving = Some((node_cert_pem, node_cert.signing_key.serialize_pem()));
            node_config.bearer_token = Some(NODE_TOKEN.into());
            let node_server = NodeServer::start(Arc::new(process.clone()), node_config)
                .await
                .expect("node server");
            let mut agent = AgentConfig::new("node-1");
            agent.kubelet_port = Some(node_server.local_addr().port());
            agent.sync_period = Duration::from_millis(100);
            agent.status_interval = Duration::from_secs(2);
            let running = NodeAgent::new(server.client(), Arc::new(process), agent).start();
            // Both live as long as the runtime.
            std::mem::forget(running);
            std::mem::forget(node_server);
        });
        Cluster {
            _runtime: runtime,
            dir,
            kubectl,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(self.kubectl);
        c.arg("--kubeconfig")
            .arg(self.dir.path().join("admin.kubeconfig"))
            .arg("--cache-dir")
            .arg(self.dir.path().join("kubectl-cache"))
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run kubectl")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_until(&self, what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Kills a child process on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines of a child's stdout, read by a thread.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// A one-response-per-connection HTTP server on 127.0.0.1 (the pod shares the host's
/// network, so it is reachable as a port of the pod).
fn http_server(body: &'static str) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

const POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations:
    kubectl.kubernetes.io/default-container: main
spec:
  nodeName: node-1
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo hello; echo second; exec sleep 3600"]
  - name: ticker
    image: busybox
    command: ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.3; done"]
"#;

/// A running cluster, or `None` when kubectl or a shell is missing.
fn start_cluster() -> Option<Cluster> {
    let kubectl = kubectl::kubectl_binary()?;
    if !Path::new("/bin/sh").exists() {
        eprintln!("skipping: /bin/sh is missing");
        return None;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let cluster = Cluster::start(kubectl);
    cluster.wait_until("the API server answers", || {
        cluster.run(&["get", "--raw", "/readyz"]).status.success()
    });
    Some(cluster)
}

/// A cluster running the pod `web`, or `None` when kubectl or a shell is missing.
fn start_with_pod() -> Option<Cluster> {
    let cluster = start_cluster()?;
    let manifest = cluster.dir.path().join("pod.yaml");
    std::fs::write(&manifest, POD).expect("manifest");
    cluster.ok(&["create", "-f", manifest.to_str().expect("path")]);
    cluster.wait_until("the pod runs", || {
        cluster.ok(&["get", "pod", "web", "-o", "jsonpath={.status.phase}"]) == "Running"
    });
    Some(cluster)
}

#[test]
fn logs_and_exec_through_the_api_server() {
    let Some(cluster) = start_with_pod() else {
        return;
    };

    // logs (default container from the annotation), --tail, -c.
    cluster.wait_until("the log has both lines", || {
        cluster.run(&["logs", "web"]).stdout == b"hello\nsecond\n"
    });
    assert_eq!(cluster.ok(&["logs", "web", "--tail=1"]), "second\n");
    assert!(cluster
        .ok(&["logs", "web", "-c", "ticker"])
        .starts_with("tick 1\n"));
    let stamped = cluster.ok(&["logs", "web", "--timestamps", "--tail=1"]);
    assert!(
        stamped.ends_with(" second\n") && stamped.contains('T'),
        "{stamped}"
    );

    // logs -f keeps streaming new lines.
    let mut follow = Killed(
        cluster
            .command(&["logs", "-f", "web", "-c", "ticker", "--tail=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("kubectl logs -f"),
    );
    let lines = lines_of(&mut follow.0);
    let first = lines.recv_timeout(TIMEOUT).expect("a first followed line");
    let mut later = String::new();
    let deadline = Instant::now() + TIMEOUT;
    while later.is_empty() || later == first {
        later = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("followed lines keep coming");
    }
    assert!(
        first.starts_with("tick ") && later.starts_with("tick "),
        "{first} / {later}"
    );
    drop(follow);

    // exec: output, exit codes, stdin.
    assert_eq!(cluster.ok(&["exec", "web", "--", "echo", "hi"]), "hi\n");
    assert_eq!(
        cluster.ok(&[
            "exec",
            "web",
            "-c",
            "ticker",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2"
        ]),
        "out\n"
    );
    let failed = cluster.run(&["exec", "web", "--", "sh", "-c", "exit 3"]);
    assert_eq!(failed.status.code(), Some(3), "{failed:?}");
    let mut cat = cluster
        .command(&["exec", "-i", "web", "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl exec -i");
    cat.stdin
        .take()
        .expect("stdin")
        .write_all(b"piped through stdin\n")
        .expect("write stdin");
    let cat = cat.wait_with_output().expect("kubectl exec -i");
    assert!(cat.status.success(), "{cat:?}");
    assert_eq!(
        String::from_utf8_lossy(&cat.stdout),
        "piped through stdin\n"
    );

    // A pod that does not exist.
    let missing = cluster.run(&["logs", "nope"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not found"));
}

#[test]
fn port_forward_through_the_api_server() {
    let Some(cluster) = start_with_pod() else {
        return;
    };
    // port-forward to a port served in the pod's network.
    let port = http_server("hello through port-forward");
    let mut forward = Killed(
        cluster
            .command(&["port-forward", "pod/web", &format!(":{port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("kubectl port-forward"),
    );
    let lines = lines_of(&mut forward.0);
    let local = loop {
        let line = lines
            .recv_timeout(TIMEOUT)
            .expect("kubectl port-forward reports its local port");
        if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:") {
            break rest
                .split_whitespace()
                .next()
                .and_then(|p| p.parse::<u16>().ok())
                .expect("local port");
        }
    };
    for _ in 0..2 {
        let mut conn =
            TcpStream::connect(("127.0.0.1", local)).expect("connect to the forwarded port");
        conn.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        conn.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("request");
        let mut answer = String::new();
        conn.read_to_string(&mut answer).expect("response");
        assert!(answer.ends_with("hello through port-forward"), "{answer}");
    }
    drop(forward);
}

const ECHO_POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: echo
spec:
  nodeName: node-1
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    stdin: true
    stdinOnce: true
    command: ["sh", "-c", "echo ready; while read line; do echo \"echo: $line\"; echo \"err: $line\" >&2; done; echo bye"]
"#;

/// Runs kubectl with `input` on its stdin and returns its output.
fn with_stdin(cluster: &Cluster, args: &[&str], input: &[u8]) -> Output {
    let mut child = cluster
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("write stdin");
    drop(stdin);
    // Waits on a thread so that a hung kubectl fails the test instead of hanging it.
    let (tx, rx) = mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(TIMEOUT) {
        Ok(out) => out.expect("kubectl output"),
        Err(_) => {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("kubectl {args:?} did not finish within {TIMEOUT:?}");
        }
    }
}

#[test]
fn attach_to_a_container_reading_stdin() {
    let Some(cluster) = start_cluster() else {
        return;
    };
    let manifest = cluster.dir.path().join("echo.yaml");
    std::fs::write(&manifest, ECHO_POD).expect("manifest");
    cluster.ok(&["create", "-f", manifest.to_str().expect("path")]);
    cluster.wait_until("the echo pod runs", || {
        cluster.ok(&["get", "pod", "echo", "-o", "jsonpath={.status.phase}"]) == "Running"
    });
    cluster.wait_until("the echo pod logged that it is ready", || {
        cluster.run(&["logs", "echo"]).stdout == b"ready\n"
    });

    // The container's stdin stays open until someone attaches; what the client
    // writes reaches it, its answers come back on stdout and stderr, and with
    // stdinOnce the end of the client's stdin is the end of the container's.
    let out = with_stdin(&cluster, &["attach", "-i", "echo"], b"one\ntwo\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("echo: one\necho: two\nbye\n"),
        "{stdout}\n--\n{stderr}"
    );
    assert!(stderr.contains("err: one"), "{stderr}");

    // Everything also went to the log, and the container ended on its own.
    cluster.wait_until("the echo pod succeeded", || {
        cluster.ok(&["get", "pod", "echo", "-o", "jsonpath={.status.phase}"]) == "Succeeded"
    });
    let logs = cluster.ok(&["logs", "echo"]);
    // (stdout and stderr are pumped separately: their lines may interleave.)
    assert!(
        logs.contains("echo: two\n") && logs.contains("err: two\n") && logs.contains("bye\n"),
        "{logs}"
    );

    // Attaching to a container that is no longer running fails.
    let late = cluster.run(&["attach", "echo"]);
    assert!(!late.status.success(), "{late:?}");
}

#[test]
fn run_interactive_with_rm() {
    let Some(cluster) = start_cluster() else {
        return;
    };
    let out = with_stdin(
        &cluster,
        &[
            "run",
            "reader",
            "-i",
            "--rm",
            "--restart=Never",
            "--image=busybox",
            "--overrides={\"spec\":{\"nodeName\":\"node-1\",\"terminationGracePeriodSeconds\":1}}",
            "--",
            "sh",
            "-c",
            "read x; echo got $x",
        ],
        b"world\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("got world\n"), "{stdout}\n--\n{stderr}");
    // --rm deleted the pod.
    cluster.wait_until("the pod is gone", || {
        !cluster.run(&["get", "pod", "reader"]).status.success()
    });
}

#[test]
fn top_node_and_pod_through_the_metrics_api() {
    let Some(cluster) = start_with_pod() else {
        return;
    };
    // The node agent needs two samples for a rate; kubectl top fails until then.
    let mut nodes = String::new();
    cluster.wait_until("kubectl top node shows node-1", || {
        let out = cluster.run(&["top", "node"]);
        nodes = String::from_utf8_lossy(&out.stdout).into_owned();
        out.status.success() && nodes.contains("node-1")
    });
    let header = nodes.lines().next().unwrap_or_default();
    assert!(
        header.contains("CPU(cores)") && header.contains("MEMORY(bytes)"),
        "{nodes}"
    );

    let mut pods = String::new();
    cluster.wait_until("kubectl top pod shows web", || {
        let out = cluster.run(&["top", "pod", "--containers"]);
        pods = String::from_utf8_lossy(&out.stdout).into_owned();
        out.status.success() && pods.contains("ticker")
    });
    eprintln!("{nodes}{pods}");
    let ticker = pods
        .lines()
        .find(|l| l.contains("ticker"))
        .expect("a line for the ticker container");
    let columns: Vec<&str> = ticker.split_whitespace().collect();
    assert_eq!(columns[..2], ["web", "ticker"], "{pods}");
    // A shell looping with a sleep has a resident set of some KiB at least.
    assert!(
        columns[3].ends_with("Mi") || columns[3].ends_with("Ki"),
        "{pods}"
    );

    // The API objects themselves, and a pod that has no metrics.
    let raw = cluster.ok(&[
        "get",
        "--raw",
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web",
    ]);
    let metrics: serde_json::Value = serde_json::from_str(&raw).expect("PodMetrics JSON");
    assert_eq!(metrics["kind"], "PodMetrics");
    assert_eq!(
        metrics["containers"].as_array().map(Vec::len),
        Some(2),
        "{raw}"
    );
    let missing = cluster.run(&["top", "pod", "nope"]);
    assert!(!missing.status.success());
    let listed = cluster.ok(&["api-resources", "--api-group=metrics.k8s.io"]);
    assert!(
        listed.contains("PodMetrics") && listed.contains("NodeMetrics"),
        "{listed}"
    );
}

#[test]
fn run_interactive_with_a_terminal() {
    // kubectl -t needs its stdin to be a terminal: util-linux `script` gives it one.
    if !Path::new("/usr/bin/script").exists() {
        eprintln!("skipping: /usr/bin/script is missing");
        return;
    }
    let Some(cluster) = start_cluster() else {
        return;
    };
    let kubeconfig = cluster.dir.path().join("admin.kubeconfig");
    let command = format!(
        "{} --kubeconfig {} run shell -it --rm --restart=Never --image=busybox \
         --overrides='{{\"spec\":{{\"nodeName\":\"node-1\",\"terminationGracePeriodSeconds\":1}}}}' \
         -- sh -c 'read x; echo \"tty:$(test -t 0 && echo yes) got:$x\"'",
        cluster.kubectl,
        kubeconfig.display()
    );
    let mut child = Command::new("/usr/bin/script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                return;
            }
        }
    });
    // Type once kubectl has attached (it prints the prompt hint first).
    let mut seen = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    let mut typed = false;
    while !String::from_utf8_lossy(&seen).contains("got:") {
        let chunk = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no answer; so far: {}", String::from_utf8_lossy(&seen)));
        seen.extend_from_slice(&chunk);
        if !typed && String::from_utf8_lossy(&seen).contains("try pressing enter") {
            stdin.write_all(b"hello\r").expect("type");
            typed = true;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&seen);
    assert!(text.contains("tty:yes got:hello"), "{text}");
}

#[test]
fn logs_of_the_previous_attempt() {
    let Some(cluster) = start_cluster() else {
        return;
    };
    // Every attempt prints its own process id, then fails, so the container restarts.
    cluster.ok(&[
        "run",
        "crasher",
        "--image=skiff.test/none",
        "--restart=Always",
        // No scheduler runs in this test: the pod names its node.
        "--overrides={\"spec\":{\"nodeName\":\"node-1\",\"terminationGracePeriodSeconds\":1}}",
        "--",
        "sh",
        "-c",
        "echo attempt $$; sleep 1; exit 3",
    ]);
    cluster.wait_until("the container restarted", || {
        let restarts = cluster.ok(&[
            "get",
            "pod",
            "crasher",
            "-o",
            "jsonpath={.status.containerStatuses[0].restartCount}",
        ]);
        restarts.trim().parse::<u32>().is_ok_and(|n| n >= 1)
    });
    let previous = cluster.ok(&["logs", "crasher", "--previous"]);
    assert!(
        previous.starts_with("attempt ") && previous.lines().count() == 1,
        "one attempt's output: {previous:?}"
    );
    let last_state = cluster.ok(&[
        "get",
        "pod",
        "crasher",
        "-o",
        "jsonpath={.status.containerStatuses[0].lastState.terminated.exitCode}",
    ]);
    assert_eq!(last_state.trim(), "3");
}
