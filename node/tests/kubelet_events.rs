//! The node agent's events (the kubelet's Pulled, Created, Started, Killing, BackOff,
//! Unhealthy, FailedMount), on the simulated runtime and on the process runtime,
//! against an in-process API server.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{cluster, pod, wait_for, Cluster};
use k8s_openapi::api::core::v1::{Event, Pod};
use serde_json::json;
use skiff_core::client::{Api, DeleteParams, ListParams, PostParams};
use skiff_node::agent::{AgentConfig, NodeAgent, NodeResources, RestartBackoff};
use skiff_node::process::{ProcessRuntime, ProcessRuntimeConfig};
use skiff_node::runtime::{ExecSyncResponse, ImageService};
use skiff_node::sim::{SimBehaviour, SimRuntime};

const WAIT: Duration = Duration::from_secs(15);

fn config(node: &str) -> AgentConfig {
    let mut c = AgentConfig::new(node);
    c.lease_interval = Duration::from_millis(500);
    c.status_interval = Duration::from_millis(500);
    c.sync_period = Duration::from_millis(50);
    c.backoff = RestartBackoff::new(Duration::from_millis(300), Duration::from_secs(2));
    c
}

fn sim_config(node: &str) -> AgentConfig {
    let mut c = config(node);
    c.resources = NodeResources::hollow();
    c.pressure_thresholds = None;
    c
}

async fn create(c: &Cluster, p: &Pod) -> Api<Pod> {
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    pods.create(p, &PostParams::default())
        .await
        .expect("pod created");
    pods
}

/// One event as the tests compare it.
#[derive(Clone, Debug)]
struct Seen {
    kind: String,
    reason: String,
    message: String,
    field_path: Option<String>,
    component: Option<String>,
    host: Option<String>,
    uid: Option<String>,
}

/// The Events about pod `name` in `default`, selected as `kubectl describe pod` does.
async fn events_of(c: &Cluster, name: &str) -> Result<Vec<Seen>, String> {
    let events: Api<Event> = Api::namespaced(c.client.clone(), "default");
    let params = ListParams::default().fields(&format!(
        "involvedObject.kind=Pod,involvedObject.name={name},involvedObject.namespace=default"
    ));
    let list = events.list(&params).await.map_err(|e| e.to_string())?;
    Ok(list
        .items
        .into_iter()
        .map(|e| Seen {
            kind: e.type_.unwrap_or_default(),
            reason: e.reason.unwrap_or_default(),
            message: e.message.unwrap_or_default(),
            field_path: e.involved_object.field_path,
            component: e.source.as_ref().and_then(|s| s.component.clone()),
            host: e.source.as_ref().and_then(|s| s.host.clone()),
            uid: e.involved_object.uid,
        })
        .collect())
}

/// Waits until pod `name` has an event with `reason` whose message contains `text`.
async fn wait_event(c: &Cluster, name: &str, reason: &str, text: &str) -> Seen {
    wait_for(
        &format!("a {reason} event about {name} saying {text:?}"),
        WAIT,
        || async {
            let all = events_of(c, name).await?;
            all.iter()
                .find(|e| e.reason == reason && e.message.contains(text))
                .cloned()
                .ok_or_else(|| format!("{all:#?}"))
        },
    )
    .await
}

fn uid_of(p: &Pod) -> String {
    p.metadata.uid.clone().unwrap_or_default()
}

#[tokio::test]
async fn a_running_pod_gets_pulled_created_and_started_from_the_kubelet() {
    let c = cluster().await;
    let sim = SimRuntime::new();
    // One image is on the node already, the other is pulled.
    sim.pull_image("busybox").await.unwrap();
    sim.set_behaviour(
        "setup",
        SimBehaviour::Exit {
            code: 0,
            after: Duration::from_millis(10),
        },
    );
    let agent = NodeAgent::new(c.client.clone(), Arc::new(sim.clone()), sim_config("ev1")).start();
    let pods = create(
        &c,
        &pod(
            "web",
            "ev1",
            json!({
                "initContainers": [{"name": "setup", "image": "busybox"}],
                "containers": [{"name": "app", "image": "app:1"}]
            }),
        ),
    )
    .await;
    let uid = uid_of(&pods.get("web").await.unwrap());
    let present = wait_event(
        &c,
        "web",
        "Pulled",
        "Container image \"busybox\" already present on machine",
    )
    .await;
    assert_eq!(
        present.field_path.as_deref(),
        Some("spec.initContainers{setup}")
    );
    let created = wait_event(&c, "web", "Created", "Created container: app").await;
    let started = wait_event(&c, "web", "Started", "Started container app").await;
    let pulling = wait_event(&c, "web", "Pulling", "Pulling image \"app:1\"").await;
    let pulled = wait_event(
        &c,
        "web",
        "Pulled",
        "Successfully pulled image \"app:1\" in",
    )
    .await;
    for e in [&present, &created, &started, &pulling, &pulled] {
        assert_eq!(e.kind, "Normal", "{e:?}");
        assert_eq!(e.component.as_deref(), Some("kubelet"), "{e:?}");
        assert_eq!(e.host.as_deref(), Some("ev1"), "{e:?}");
        assert_eq!(e.uid.as_deref(), Some(uid.as_str()), "{e:?}");
    }
    for e in [&created, &started, &pulling, &pulled] {
        assert_eq!(
            e.field_path.as_deref(),
            Some("spec.containers{app}"),
            "{e:?}"
        );
    }
    wait_event(&c, "web", "Started", "Started container setup").await;
    agent.stop().await;
}

#[tokio::test]
async fn a_crashing_container_gets_a_back_off_warning() {
    let c = cluster().await;
    let sim = SimRuntime::new();
    sim.set_behaviour(
        "crash",
        SimBehaviour::Exit {
            code: 1,
            after: Duration::from_millis(20),
        },
    );
    let agent = NodeAgent::new(c.client.clone(), Arc::new(sim.clone()), sim_config("ev2")).start();
    let pods = create(
        &c,
        &pod(
            "crashy",
            "ev2",
            json!({"restartPolicy": "Always", "containers": [{"name": "crash", "image": "app"}]}),
        ),
    )
    .await;
    let uid = uid_of(&pods.get("crashy").await.unwrap());
    let back_off = wait_event(
        &c,
        "crashy",
        "BackOff",
        &format!("Back-off restarting failed container crash in pod crashy_default({uid})"),
    )
    .await;
    assert_eq!(back_off.kind, "Warning");
    assert_eq!(
        back_off.field_path.as_deref(),
        Some("spec.containers{crash}")
    );
    assert_eq!(back_off.component.as_deref(), Some("kubelet"));
    agent.stop().await;
}

#[tokio::test]
async fn a_failing_liveness_probe_gets_unhealthy_and_killing() {
    let c = cluster().await;
    let sim = SimRuntime::new();
    sim.set_exec_result(
        "live",
        ExecSyncResponse {
            exit_code: 1,
            stdout: b"no heartbeat".to_vec(),
            ..Default::default()
        },
    );
    let agent = NodeAgent::new(c.client.clone(), Arc::new(sim.clone()), sim_config("ev3")).start();
    create(
        &c,
        &pod(
            "sick",
            "ev3",
            json!({"containers": [{
                "name": "live", "image": "app",
                "livenessProbe": {"exec": {"command": ["check"]}, "periodSeconds": 1, "failureThreshold": 1}
            }]}),
        ),
    )
    .await;
    let unhealthy = wait_event(&c, "sick", "Unhealthy", "Liveness probe failed: ").await;
    assert_eq!(unhealthy.kind, "Warning");
    assert!(unhealthy.message.contains("no heartbeat"), "{unhealthy:?}");
    assert_eq!(
        unhealthy.field_path.as_deref(),
        Some("spec.containers{live}")
    );
    let killing = wait_event(
        &c,
        "sick",
        "Killing",
        "Container live failed liveness probe, will be restarted",
    )
    .await;
    assert_eq!(killing.kind, "Normal");
    assert_eq!(killing.field_path.as_deref(), Some("spec.containers{live}"));
    agent.stop().await;
}

#[tokio::test]
async fn deleting_a_running_pod_gets_killing_and_a_missing_volume_failed_mount() {
    let c = cluster().await;
    let sim = SimRuntime::new();
    let agent = NodeAgent::new(c.client.clone(), Arc::new(sim.clone()), sim_config("ev4")).start();
    let pods = create(
        &c,
        &pod(
            "doomed",
            "ev4",
            json!({"containers": [{"name": "app", "image": "app"}]}),
        ),
    )
    .await;
    wait_event(&c, "doomed", "Started", "Started container app").await;
    pods.delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    let killing = wait_event(&c, "doomed", "Killing", "Stopping container app").await;
    assert_eq!(killing.kind, "Normal");
    assert_eq!(killing.field_path.as_deref(), Some("spec.containers{app}"));

    create(
        &c,
        &pod(
            "unmounted",
            "ev4",
            json!({
                "volumes": [{"name": "conf", "configMap": {"name": "absent"}}],
                "containers": [{"name": "app", "image": "app",
                                "volumeMounts": [{"name": "conf", "mountPath": "/etc/conf"}]}]
            }),
        ),
    )
    .await;
    let mount = wait_event(
        &c,
        "unmounted",
        "FailedMount",
        "MountVolume.SetUp failed for volume \"conf\" : configmap \"absent\" not found",
    )
    .await;
    assert_eq!(mount.kind, "Warning");
    assert_eq!(mount.field_path, None);
    assert_eq!(mount.host.as_deref(), Some("ev4"));
    agent.stop().await;
}

#[tokio::test]
async fn failing_lifecycle_hooks_get_their_warnings() {
    let c = cluster().await;
    let sim = SimRuntime::new();
    let failing = ExecSyncResponse {
        exit_code: 1,
        stdout: b"secret output".to_vec(),
        ..Default::default()
    };
    sim.set_exec_result("early", failing.clone());
    sim.set_exec_result("late", failing);
    let agent = NodeAgent::new(c.client.clone(), Arc::new(sim.clone()), sim_config("ev5")).start();
    create(
        &c,
        &pod(
            "poststart",
            "ev5",
            json!({"containers": [{"name": "early", "image": "app",
                "lifecycle": {"postStart": {"exec": {"command": ["setup"]}}}}]}),
        ),
    )
    .await;
    let hook = wait_event(
        &c,
        "poststart",
        "FailedPostStartHook",
        "PostStartHook failed",
    )
    .await;
    assert_eq!(hook.kind, "Warning");
    assert_eq!(hook.field_path.as_deref(), Some("spec.containers{early}"));
    wait_event(&c, "poststart", "Killing", "FailedPostStartHook").await;

    let pods = create(
        &c,
        &pod(
            "prestop",
            "ev5",
            json!({"terminationGracePeriodSeconds": 5,
                   "containers": [{"name": "late", "image": "app",
                "lifecycle": {"preStop": {"exec": {"command": ["drain"]}}}}]}),
        ),
    )
    .await;
    wait_event(&c, "prestop", "Started", "Started container late").await;
    pods.delete("prestop", &DeleteParams::default())
        .await
        .unwrap();
    let hook = wait_event(&c, "prestop", "FailedPreStopHook", "PreStopHook failed").await;
    assert_eq!(hook.kind, "Warning");
    // The hooks' output stays out of the events.
    let all = events_of(&c, "poststart").await.unwrap();
    let all = all
        .iter()
        .chain(events_of(&c, "prestop").await.unwrap().iter())
        .cloned()
        .collect::<Vec<_>>();
    assert!(
        all.iter().all(|e| !e.message.contains("secret")),
        "{all:#?}"
    );
    agent.stop().await;
}

#[tokio::test]
async fn an_agent_with_events_off_records_none() {
    let c = cluster().await;
    let sim = SimRuntime::new();
    let mut off = sim_config("quiet");
    off.record_events = false;
    let quiet = NodeAgent::new(c.client.clone(), Arc::new(sim.clone()), off).start();
    let loud = NodeAgent::new(c.client.clone(), Arc::new(sim.clone()), sim_config("loud")).start();
    create(
        &c,
        &pod(
            "hush",
            "quiet",
            json!({"containers": [{"name": "a", "image": "app"}]}),
        ),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    wait_for("hush running", WAIT, || async {
        let p = pods.get("hush").await.map_err(|e| e.to_string())?;
        match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
            Some("Running") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // A pod started after it on the other node has its events: had the quiet agent
    // recorded any, its writer would have had as long.
    create(
        &c,
        &pod(
            "chatty",
            "loud",
            json!({"containers": [{"name": "a", "image": "app"}]}),
        ),
    )
    .await;
    wait_event(&c, "chatty", "Started", "Started container a").await;
    let hush = events_of(&c, "hush").await.unwrap();
    assert!(
        hush.iter()
            .all(|e| e.component.as_deref() != Some("kubelet")),
        "{hush:#?}"
    );
    quiet.stop().await;
    loud.stop().await;
}

fn has_shell() -> bool {
    std::path::Path::new("/bin/sh").exists()
}

#[tokio::test]
async fn process_runtime_pods_get_the_kubelets_events() {
    if !has_shell() {
        eprintln!("skipping: needs /bin/sh");
        return;
    }
    let c = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let runtime = ProcessRuntime::new(ProcessRuntimeConfig::new(dir.path().to_owned()));
    let agent = NodeAgent::new(c.client.clone(), Arc::new(runtime), config("proc1")).start();

    // Runs, then is deleted.
    let pods = create(
        &c,
        &pod(
            "sleeper",
            "proc1",
            json!({"terminationGracePeriodSeconds": 1,
                   "containers": [{"name": "s", "image": "x", "command": ["sleep", "30"]}]}),
        ),
    )
    .await;
    let created = wait_event(&c, "sleeper", "Created", "Created container: s").await;
    let started = wait_event(&c, "sleeper", "Started", "Started container s").await;
    for e in [&created, &started] {
        assert_eq!(e.component.as_deref(), Some("kubelet"), "{e:?}");
        assert_eq!(e.host.as_deref(), Some("proc1"), "{e:?}");
        assert_eq!(e.field_path.as_deref(), Some("spec.containers{s}"), "{e:?}");
    }
    // The image is not in the local store: the failed pull says the command runs on
    // the host.
    let pull = wait_event(&c, "sleeper", "Failed", "Failed to pull image \"x\"").await;
    assert_eq!(pull.kind, "Warning");
    assert!(pull.message.contains("on the host"), "{pull:?}");
    pods.delete("sleeper", &DeleteParams::default())
        .await
        .unwrap();
    wait_event(&c, "sleeper", "Killing", "Stopping container s").await;

    // Exits 1 under restartPolicy Always.
    create(
        &c,
        &pod(
            "crasher",
            "proc1",
            json!({"restartPolicy": "Always",
                   "containers": [{"name": "c", "image": "x", "command": ["sh", "-c", "exit 1"]}]}),
        ),
    )
    .await;
    let back_off = wait_event(
        &c,
        "crasher",
        "BackOff",
        "Back-off restarting failed container c in pod crasher_default(",
    )
    .await;
    assert_eq!(back_off.kind, "Warning");

    // A liveness probe dialing a closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = closed.local_addr().unwrap().port();
    drop(closed);
    create(
        &c,
        &pod(
            "unhealthy",
            "proc1",
            json!({"terminationGracePeriodSeconds": 1, "containers": [{
                "name": "c", "image": "x", "command": ["sleep", "30"],
                "livenessProbe": {"tcpSocket": {"port": dead_port}, "periodSeconds": 1, "failureThreshold": 2}
            }]}),
        ),
    )
    .await;
    let unhealthy = wait_event(
        &c,
        "unhealthy",
        "Unhealthy",
        "Liveness probe failed: dial tcp",
    )
    .await;
    assert_eq!(unhealthy.kind, "Warning");
    wait_event(
        &c,
        "unhealthy",
        "Killing",
        "Container c failed liveness probe, will be restarted",
    )
    .await;
    agent.stop().await;
}
