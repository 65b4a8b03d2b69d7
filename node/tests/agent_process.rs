//! The node agent with the process runtime against an in-process API server: real
//! host processes, their logs and environment, restarts, exit codes, termination.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{cluster, pod, wait_for, Cluster};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use serde_json::json;
use skiff_core::client::{Api, DeleteParams, PostParams};
use skiff_node::agent::{AgentConfig, NodeAgent, RestartBackoff, RunningAgent};
use skiff_node::process::{ProcessRuntime, ProcessRuntimeConfig};
use skiff_node::runtime::{ContainerFilter, RuntimeService};

const WAIT: Duration = Duration::from_secs(15);

struct Node {
    runtime: ProcessRuntime,
    agent: RunningAgent,
    _dir: tempfile::TempDir,
}

fn has_shell() -> bool {
    std::path::Path::new("/bin/sh").exists()
}

fn start(c: &Cluster, name: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let runtime = ProcessRuntime::new(ProcessRuntimeConfig::new(dir.path().to_owned()));
    let mut config = AgentConfig::new(name);
    config.lease_interval = Duration::from_millis(500);
    config.status_interval = Duration::from_millis(500);
    config.sync_period = Duration::from_millis(50);
    config.backoff = RestartBackoff::new(Duration::from_millis(300), Duration::from_secs(2));
    let agent = NodeAgent::new(c.client.clone(), Arc::new(runtime.clone()), config).start();
    Node {
        runtime,
        agent,
        _dir: dir,
    }
}

async fn create(c: &Cluster, p: &Pod) -> Api<Pod> {
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    pods.create(p, &PostParams::default())
        .await
        .expect("pod created");
    pods
}

async fn wait_phase(pods: &Api<Pod>, name: &str, phase: &str) -> Pod {
    wait_for(&format!("pod {name} {phase}"), WAIT, || async {
        let p = pods.get(name).await.map_err(|e| e.to_string())?;
        if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase) {
            Ok(p)
        } else {
            Err(format!("{:?}", p.status))
        }
    })
    .await
}

/// The log of the newest container named `name` in the runtime.
async fn log_of(rt: &ProcessRuntime, name: &str) -> String {
    let mut cs = rt
        .list_containers(&ContainerFilter::default())
        .await
        .unwrap();
    cs.retain(|c| c.name == name);
    cs.sort_by_key(|c| c.attempt);
    cs.last()
        .and_then(|c| c.log_path.clone())
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_pod_runs_as_a_host_process_with_its_environment_and_log() {
    if !has_shell() {
        eprintln!("skipping: needs /bin/sh");
        return;
    }
    let c = cluster().await;
    let node = start(&c, "p1");
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("settings".into());
    cm.data = Some([("mode".to_owned(), "fast".to_owned())].into());
    cms.create(&cm, &PostParams::default()).await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(c.client.clone(), "default");
    let mut secret = Secret::default();
    secret.metadata.name = Some("creds".into());
    secret.string_data = Some([("token".to_owned(), "s3cr3t".to_owned())].into());
    secrets
        .create(&secret, &PostParams::default())
        .await
        .unwrap();

    let p = pod(
        "hello",
        "p1",
        json!({"containers": [{
            "name": "main",
            "image": "busybox:1.36",
            "command": ["sh", "-c", "echo hi; echo \"GREETING=$GREETING POD=$POD NODE=$NODE MODE=$MODE TOKEN=$TOKEN\"; echo oops >&2; sleep 30"],
            "env": [
                {"name": "WHO", "value": "world"},
                {"name": "GREETING", "value": "hello $(WHO)"},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}
            ]
        }]}),
    );
    let pods = create(&c, &p).await;
    let running = wait_phase(&pods, "hello", "Running").await;
    let status = running.status.unwrap();
    let cs = &status.container_statuses.as_ref().unwrap()[0];
    assert!(cs.state.as_ref().unwrap().running.is_some(), "{cs:?}");
    assert!(cs
        .container_id
        .as_deref()
        .unwrap()
        .starts_with("process://"));
    // The image is not in the local store: the command runs on the host, and the
    // status says so.
    let message = status.message.unwrap_or_default();
    assert!(
        message.contains("busybox:1.36") && message.contains("on the host"),
        "{message}"
    );
    assert_eq!(status.pod_ip.as_deref(), Some("127.0.0.1"));

    let log = wait_for("the container's output in its log", WAIT, || async {
        let log = log_of(&node.runtime, "main").await;
        if log.contains("TOKEN=") {
            Ok(log)
        } else {
            Err(log)
        }
    })
    .await;
    assert!(log.contains(" stdout F hi\n"), "{log}");
    assert!(log.contains(" stderr F oops\n"), "{log}");
    assert!(
        log.contains("GREETING=hello world POD=hello NODE=p1 MODE=fast TOKEN=s3cr3t"),
        "{log}"
    );
    node.agent.stop().await;
}

#[tokio::test]
async fn a_missing_config_map_holds_the_container_with_a_config_error() {
    if !has_shell() {
        eprintln!("skipping: needs /bin/sh");
        return;
    }
    let c = cluster().await;
    let node = start(&c, "p1");
    let p = pod(
        "cfg",
        "p1",
        json!({"containers": [{
            "name": "main", "image": "x",
            "command": ["sleep", "30"],
            "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}]
        }]}),
    );
    let pods = create(&c, &p).await;
    let w = wait_for("CreateContainerConfigError", WAIT, || async {
        let p = pods.get("cfg").await.map_err(|e| e.to_string())?;
        p.status
            .and_then(|s| s.container_statuses)
            .and_then(|cs| cs[0].state.clone())
            .and_then(|s| s.waiting)
            .filter(|w| w.reason.as_deref() == Some("CreateContainerConfigError"))
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    assert_eq!(
        w.message.as_deref(),
        Some("configmap default/absent not found")
    );
    node.agent.stop().await;
}

#[tokio::test]
async fn a_failing_process_restarts_with_back_off_and_a_never_pod_fails_with_its_code() {
    if !has_shell() {
        eprintln!("skipping: needs /bin/sh");
        return;
    }
    let c = cluster().await;
    let node = start(&c, "p1");
    let crash = pod(
        "crash",
        "p1",
        json!({"containers": [{"name": "c", "image": "x", "command": ["sh", "-c", "echo try; exit 1"]}]}),
    );
    let never = pod(
        "once",
        "p1",
        json!({"restartPolicy": "Never",
               "containers": [{"name": "c", "image": "x", "command": ["sh", "-c", "exit 7"]}]}),
    );
    let ok = pod(
        "fine",
        "p1",
        json!({"restartPolicy": "Never",
               "initContainers": [{"name": "init", "image": "x", "command": ["true"]}],
               "containers": [{"name": "c", "image": "x", "command": ["sh", "-c", "exit 0"]}]}),
    );
    let waiting = common::record_waiting(c.client.clone(), "crash");
    let started = Instant::now();
    let pods = create(&c, &crash).await;
    create(&c, &never).await;
    create(&c, &ok).await;

    let failed = wait_phase(&pods, "once", "Failed").await.status.unwrap();
    let t = failed.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (7, Some("Error")));

    let done = wait_phase(&pods, "fine", "Succeeded").await.status.unwrap();
    let init = done.init_container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(init.exit_code, 0);

    loop {
        let p = pods.get("crash").await.unwrap();
        let cs = p.status.unwrap().container_statuses.unwrap_or_default();
        if let Some(cs) = cs.first() {
            if cs.restart_count >= 3 {
                let last = cs.last_state.clone().unwrap().terminated.unwrap();
                assert_eq!(last.exit_code, 1);
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "restartCount never reached 3"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = waiting.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|(r, m)| r == "CrashLoopBackOff" && m.starts_with("back-off 300ms")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(r, m)| r == "CrashLoopBackOff" && m.starts_with("back-off 600ms")),
        "{seen:?}"
    );
    // Back-off 0 + 300ms + 600ms at least between the creation and the 3rd restart.
    assert!(started.elapsed() >= Duration::from_millis(900));
    node.agent.stop().await;
}

#[tokio::test]
async fn deleting_a_pod_terminates_its_process_then_removes_the_object() {
    if !has_shell() {
        eprintln!("skipping: needs /bin/sh");
        return;
    }
    let c = cluster().await;
    let node = start(&c, "p1");
    let marker = node._dir.path().join("terminated");
    let polite = pod(
        "polite",
        "p1",
        // The marker's directory is a hostPath volume at the same path, so that an
        // isolated container (as root) writes the host's file too.
        json!({"containers": [{"name": "c", "image": "x", "command": ["sh", "-c",
            format!("trap 'echo bye > {}; exit 0' TERM; echo up; while true; do sleep 0.1; done", marker.display())],
            "volumeMounts": [{"name": "out", "mountPath": node._dir.path()}]}],
            "volumes": [{"name": "out", "hostPath": {"path": node._dir.path()}}]}),
    );
    let stubborn = pod(
        "stubborn",
        "p1",
        json!({"terminationGracePeriodSeconds": 1,
               "containers": [{"name": "s", "image": "x", "command": ["sh", "-c", "trap '' TERM; echo up; while true; do sleep 0.1; done"]}]}),
    );
    let pods = create(&c, &polite).await;
    create(&c, &stubborn).await;
    wait_phase(&pods, "polite", "Running").await;
    wait_phase(&pods, "stubborn", "Running").await;
    // Wait until both shells have installed their traps.
    for name in ["c", "s"] {
        wait_for("the shell up", WAIT, || async {
            let log = log_of(&node.runtime, name).await;
            if log.contains("up") {
                Ok(())
            } else {
                Err(log)
            }
        })
        .await;
    }

    let started = Instant::now();
    pods.delete("polite", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("polite pod gone", WAIT, || async {
        match pods.get_opt("polite").await {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "bye\n");
    assert!(started.elapsed() < Duration::from_secs(5));

    let started = Instant::now();
    pods.delete("stubborn", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("stubborn pod gone", WAIT, || async {
        match pods.get_opt("stubborn").await {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // It ignored SIGTERM: killed after its 1 s grace period.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    let left = node
        .runtime
        .list_containers(&ContainerFilter::default())
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    node.agent.stop().await;
}

#[tokio::test]
async fn no_image_and_no_command_is_err_image_never_pull() {
    let c = cluster().await;
    let node = start(&c, "p1");
    let pods = create(
        &c,
        &pod(
            "nocmd",
            "p1",
            json!({"containers": [{"name": "c", "image": "nginx:1.27"}]}),
        ),
    )
    .await;
    let w = wait_for("ErrImageNeverPull", WAIT, || async {
        let p = pods.get("nocmd").await.map_err(|e| e.to_string())?;
        p.status
            .and_then(|s| s.container_statuses)
            .and_then(|cs| cs[0].state.clone())
            .and_then(|s| s.waiting)
            .filter(|w| w.reason.as_deref() == Some("ErrImageNeverPull"))
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    let message = w.message.unwrap();
    assert!(
        message.contains("nginx:1.27") && message.contains("does not pull from registries"),
        "{message}"
    );
    node.agent.stop().await;
}

#[tokio::test]
async fn readiness_follows_its_probe_and_a_failing_liveness_probe_restarts_the_container() {
    if !has_shell() {
        eprintln!("skipping: needs /bin/sh");
        return;
    }
    let c = cluster().await;
    let node = start(&c, "p1");
    // Pods of the process runtime share the host's network: the probe reaches this
    // listener at the pod IP (127.0.0.1).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let p = pod(
        "probed",
        "p1",
        json!({"containers": [{
            "name": "c", "image": "x", "command": ["sleep", "30"],
            "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1, "failureThreshold": 1}
        }]}),
    );
    let pods = create(&c, &p).await;
    let ready = |want: &'static str| {
        let pods = pods.clone();
        async move {
            let p = pods.get("probed").await.map_err(|e| e.to_string())?;
            let cond = p
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
                .map(|c| c.status.clone());
            if cond.as_deref() == Some(want) {
                Ok(p)
            } else {
                Err(format!("Ready {cond:?}"))
            }
        }
    };
    let p = wait_for("Ready True", WAIT, || ready("True")).await;
    assert!(p.status.unwrap().container_statuses.unwrap()[0].ready);
    drop(listener);
    let p = wait_for("Ready False after the listener closed", WAIT, || {
        ready("False")
    })
    .await;
    let status = p.status.unwrap();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert!(!status.container_statuses.unwrap()[0].ready);

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = closed.local_addr().unwrap().port();
    drop(closed);
    let p = pod(
        "unhealthy",
        "p1",
        json!({"terminationGracePeriodSeconds": 1, "containers": [{
            "name": "c", "image": "x", "command": ["sleep", "30"],
            "livenessProbe": {"tcpSocket": {"port": dead_port}, "periodSeconds": 1, "failureThreshold": 2}
        }]}),
    );
    create(&c, &p).await;
    let restarted = wait_for("restarted by its liveness probe", WAIT, || async {
        let p = pods.get("unhealthy").await.map_err(|e| e.to_string())?;
        let cs = p
            .status
            .and_then(|s| s.container_statuses)
            .and_then(|cs| cs.into_iter().next())
            .ok_or("no status")?;
        if cs.restart_count >= 1 {
            Ok(cs)
        } else {
            Err(format!("{cs:?}"))
        }
    })
    .await;
    let last = restarted.last_state.unwrap().terminated.unwrap();
    // sleep dies of the SIGTERM it got: 128 + 15.
    assert_eq!(last.exit_code, 143);
    node.agent.stop().await;
}

#[tokio::test]
async fn http_lifecycle_hooks_call_the_pod_at_start_and_before_stop() {
    if !has_shell() {
        eprintln!("skipping: needs /bin/sh");
        return;
    }
    // A server in the pod's network (pods share the host's: 127.0.0.1).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let line = String::from_utf8_lossy(&buf[..n]);
            if let Some(path) = line.split_whitespace().nth(1) {
                record.lock().unwrap().push(path.to_owned());
            }
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let c = cluster().await;
    let node = start(&c, "p1");
    let hooked = pod(
        "hooked",
        "p1",
        json!({"terminationGracePeriodSeconds": 5,
               "containers": [{"name": "c", "image": "x", "command": ["sh", "-c", "while true; do sleep 0.1; done"],
                   "lifecycle": {
                       "postStart": {"httpGet": {"path": "/started", "port": port}},
                       "preStop": {"httpGet": {"path": "/stopping", "port": port}}}}]}),
    );
    let pods = create(&c, &hooked).await;
    wait_phase(&pods, "hooked", "Running").await;
    assert_eq!(*seen.lock().unwrap(), ["/started"]);
    pods.delete("hooked", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("hooked pod gone", WAIT, || async {
        match pods.get_opt("hooked").await {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(*seen.lock().unwrap(), ["/started", "/stopping"]);
    node.agent.stop().await;
}
