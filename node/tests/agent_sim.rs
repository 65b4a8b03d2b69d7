//! The node agent with the simulated runtime against an in-process API server:
//! registration, lease, pod lifecycle, restart back-off, terminal phases, graceful
//! deletion.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{cluster, pod, wait_for, Cluster};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;
use skiff_core::client::{Api, DeleteParams, PostParams};
use skiff_node::agent::{AgentConfig, NodeAgent, NodeResources, RestartBackoff, RunningAgent};
use skiff_node::sim::SimRuntime;

const WAIT: Duration = Duration::from_secs(10);

fn config(node: &str) -> AgentConfig {
    let mut c = AgentConfig::new(node);
    c.resources = NodeResources::hollow();
    c.node_ip = "10.0.0.7".into();
    c.lease_interval = Duration::from_millis(200);
    c.status_interval = Duration::from_millis(200);
    c.sync_period = Duration::from_millis(50);
    c.backoff = RestartBackoff::new(Duration::from_millis(300), Duration::from_secs(2));
    c
}

fn start(c: &Cluster, node: &str) -> (SimRuntime, RunningAgent) {
    let sim = SimRuntime::new();
    let agent = NodeAgent::new(c.client.clone(), Arc::new(sim.clone()), config(node)).start();
    (sim, agent)
}

async fn create(c: &Cluster, p: &Pod) -> Api<Pod> {
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    pods.create(p, &PostParams::default())
        .await
        .expect("pod created");
    pods
}

fn condition(p: &Pod, kind: &str) -> Option<String> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| c.status.clone())
}

async fn wait_phase(pods: &Api<Pod>, name: &str, phase: &str) -> Pod {
    wait_for(&format!("pod {name} {phase}"), WAIT, || async {
        let p = pods.get(name).await.map_err(|e| e.to_string())?;
        let got = p.status.as_ref().and_then(|s| s.phase.clone());
        if got.as_deref() == Some(phase) {
            Ok(p)
        } else {
            Err(format!("{:?}", p.status))
        }
    })
    .await
}

#[tokio::test]
async fn node_registers_is_ready_and_renews_its_lease() {
    let c = cluster().await;
    let (_sim, agent) = start(&c, "hollow-1");
    let nodes: Api<Node> = Api::all(c.client.clone());
    let node = wait_for("node Ready", WAIT, || async {
        let n = nodes.get("hollow-1").await.map_err(|e| e.to_string())?;
        let ready = n
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status.clone());
        if ready.as_deref() == Some("True") {
            Ok(n)
        } else {
            Err(format!("{:?}", n.status))
        }
    })
    .await;
    let labels = node.metadata.labels.clone().unwrap();
    assert_eq!(labels["kubernetes.io/hostname"], "hollow-1");
    assert_eq!(labels["kubernetes.io/os"], "linux");
    assert!(labels.contains_key("kubernetes.io/arch"));
    let status = node.status.unwrap();
    let capacity = status.capacity.unwrap();
    assert_eq!(capacity["pods"].0, "110");
    assert_eq!(capacity["cpu"].0, "32");
    assert_eq!(status.allocatable.unwrap()["memory"].0, "256Gi");
    let addresses = status.addresses.unwrap();
    assert!(addresses
        .iter()
        .any(|a| a.type_ == "InternalIP" && a.address == "10.0.0.7"));
    assert!(addresses
        .iter()
        .any(|a| a.type_ == "Hostname" && a.address == "hollow-1"));
    let types: Vec<String> = status
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| c.type_)
        .collect();
    for t in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
        assert!(types.contains(&t.to_owned()), "{t} missing: {types:?}");
    }
    assert_eq!(
        status.node_info.unwrap().container_runtime_version,
        format!("sim://{}", env!("CARGO_PKG_VERSION"))
    );

    let leases: Api<Lease> = Api::namespaced(c.client.clone(), "kube-node-lease");
    let first = wait_for("the node lease", WAIT, || async {
        leases.get("hollow-1").await.map_err(|e| e.to_string())
    })
    .await;
    let spec = first.spec.clone().unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("hollow-1"));
    assert_eq!(spec.lease_duration_seconds, Some(40));
    let owner = &first.metadata.owner_references.clone().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Node", "hollow-1")
    );
    let first_renew = spec.renew_time.unwrap();
    wait_for("the lease renewed", WAIT, || async {
        let l = leases.get("hollow-1").await.map_err(|e| e.to_string())?;
        let renew = l.spec.and_then(|s| s.renew_time);
        match renew {
            Some(r) if r.0 > first_renew.0 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    agent.stop().await;
}

#[tokio::test]
async fn a_bound_pod_runs_with_status_and_init_containers_first() {
    let c = cluster().await;
    let (sim, agent) = start(&c, "n1");
    let mut p = pod(
        "web",
        "n1",
        json!({
            "initContainers": [{"name": "setup", "image": "busybox"}],
            "containers": [{"name": "app", "image": "nginx:1.27"}, {"name": "side", "image": "envoy"}]
        }),
    );
    p.metadata.annotations = Some(
        [(
            "sim.skiff.dev/container.setup".to_owned(),
            "exit:0:0.3".to_owned(),
        )]
        .into(),
    );
    let pods = create(&c, &p).await;
    // While the init container runs, the app waits with PodInitializing.
    let pending = wait_phase(&pods, "web", "Pending").await;
    let pending = wait_for("init container running", WAIT, || async {
        let p = pods.get("web").await.map_err(|e| e.to_string())?;
        let init_running = p
            .status
            .as_ref()
            .and_then(|s| s.init_container_statuses.as_ref())
            .is_some_and(|cs| cs[0].state.as_ref().is_some_and(|s| s.running.is_some()));
        if init_running {
            Ok(p)
        } else {
            Err(format!("{:?} (first seen {:?})", p.status, pending.status))
        }
    })
    .await;
    assert_eq!(condition(&pending, "Initialized").as_deref(), Some("False"));
    let app = &pending
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0];
    assert_eq!(
        app.state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("PodInitializing")
    );
    assert!(sim.find_container("default", "web", "app").is_none());

    let running = wait_for("pod Ready", WAIT, || async {
        let p = pods.get("web").await.map_err(|e| e.to_string())?;
        if condition(&p, "Ready").as_deref() == Some("True") {
            Ok(p)
        } else {
            Err(format!("{:?}", p.status))
        }
    })
    .await;
    let status = running.status.unwrap();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert_eq!(status.host_ip.as_deref(), Some("10.0.0.7"));
    assert!(status
        .pod_ip
        .as_deref()
        .is_some_and(|ip| ip.starts_with("10.244.")));
    assert!(status.start_time.is_some());
    for t in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
        let cond = status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == t)
            .unwrap_or_else(|| panic!("{t} missing"));
        assert_eq!(cond.status, "True", "{t}");
    }
    let init = &status.init_container_statuses.as_ref().unwrap()[0];
    let done = init.state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(
        (done.exit_code, done.reason.as_deref()),
        (0, Some("Completed"))
    );
    let containers = status.container_statuses.unwrap();
    assert_eq!(containers.len(), 2);
    for cs in &containers {
        assert!(cs.ready, "{cs:?}");
        assert_eq!(cs.started, Some(true));
        assert_eq!(cs.restart_count, 0);
        assert!(cs.state.as_ref().unwrap().running.is_some());
        assert!(cs.container_id.as_deref().unwrap().starts_with("sim://"));
    }
    assert_eq!(containers[0].image, "nginx:1.27");
    assert_eq!(containers[0].image_id, "sim://nginx:1.27");
    agent.stop().await;
}

#[tokio::test]
async fn a_failing_container_restarts_with_growing_back_off() {
    let c = cluster().await;
    let (sim, agent) = start(&c, "n1");
    sim.set_behaviour(
        "crash",
        skiff_node::sim::SimBehaviour::Exit {
            code: 2,
            after: Duration::from_millis(20),
        },
    );
    let waiting = common::record_waiting(c.client.clone(), "crashy");
    let pods = create(
        &c,
        &pod(
            "crashy",
            "n1",
            json!({"containers": [{"name": "crash", "image": "app"}]}),
        ),
    )
    .await;
    let p = wait_for("restartCount 3", Duration::from_secs(20), || async {
        let p = pods.get("crashy").await.map_err(|e| e.to_string())?;
        let count = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs.first())
            .map_or(0, |c| c.restart_count);
        if count >= 3 {
            Ok(p)
        } else {
            Err(format!("restartCount {count}"))
        }
    })
    .await;
    // The delays grew: the back-off reported 300ms and then 600ms.
    let messages: Vec<String> = waiting
        .lock()
        .unwrap()
        .iter()
        .filter(|(reason, _)| reason == "CrashLoopBackOff")
        .map(|(_, m)| m.clone())
        .collect();
    assert!(
        messages.iter().any(|m| m
            .starts_with("back-off 300ms restarting failed container=crash pod=crashy_default")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.starts_with("back-off 600ms")),
        "{messages:?}"
    );
    let status = p.status.unwrap();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let cs = &status.container_statuses.unwrap()[0];
    let last = cs.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (2, Some("Error")));
    agent.stop().await;
}

#[tokio::test]
async fn never_and_on_failure_pods_end_with_their_exit_codes() {
    let c = cluster().await;
    let (sim, agent) = start(&c, "n1");
    sim.set_behaviour(
        "fails",
        skiff_node::sim::SimBehaviour::Exit {
            code: 3,
            after: Duration::from_millis(50),
        },
    );
    sim.set_behaviour(
        "works",
        skiff_node::sim::SimBehaviour::Exit {
            code: 0,
            after: Duration::from_millis(50),
        },
    );
    let never =
        json!({"restartPolicy": "Never", "containers": [{"name": "fails", "image": "app"}]});
    let ok =
        json!({"restartPolicy": "OnFailure", "containers": [{"name": "works", "image": "app"}]});
    let pods = create(&c, &pod("failed", "n1", never)).await;
    create(&c, &pod("done", "n1", ok)).await;

    let failed = wait_phase(&pods, "failed", "Failed").await.status.unwrap();
    let cs = &failed.container_statuses.unwrap()[0];
    let t = cs.state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));
    assert_eq!(cs.restart_count, 0);
    assert_eq!(condition_of(&failed.conditions, "Ready"), Some("False"));

    let done = wait_phase(&pods, "done", "Succeeded").await.status.unwrap();
    let t = done.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    agent.stop().await;
}

fn condition_of<'a>(
    conds: &'a Option<Vec<k8s_openapi::api::core::v1::PodCondition>>,
    kind: &str,
) -> Option<&'a str> {
    conds
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| c.status.as_str())
}

#[tokio::test]
async fn deleting_a_pod_stops_it_and_removes_the_object() {
    let c = cluster().await;
    let (sim, agent) = start(&c, "n1");
    let pods = create(
        &c,
        &pod(
            "doomed",
            "n1",
            json!({"containers": [{"name": "app", "image": "app"}]}),
        ),
    )
    .await;
    wait_phase(&pods, "doomed", "Running").await;
    let id = sim.find_container("default", "doomed", "app").unwrap();
    let target = skiff_core::client::ObjectTarget::object(
        &skiff_core::client::ResourceRef::new("", "v1", "pods", true),
        Some("default"),
        "doomed",
    );
    let deleted = c
        .client
        .delete(&target, &DeleteParams::default())
        .await
        .unwrap();
    // Bound and running: the API server only marks it terminating.
    assert_eq!(deleted["kind"], "Pod", "{deleted}");
    assert!(
        deleted["metadata"]["deletionTimestamp"].is_string(),
        "{deleted}"
    );
    assert_eq!(deleted["metadata"]["deletionGracePeriodSeconds"], 30);
    wait_for("the pod object gone", WAIT, || async {
        match pods.get_opt("doomed").await {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // The sandbox and its containers are gone from the runtime.
    use skiff_node::runtime::RuntimeService;
    assert!(sim.container_status(&id).await.is_err());
    assert!(sim.list_pod_sandboxes().await.unwrap().is_empty());
    agent.stop().await;
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_without_a_command_waits_with_err_image_never_pull() {
    let c = cluster().await;
    let (sim, agent) = start(&c, "n1");
    sim.set_unpullable("private/app:1");
    let pods = create(
        &c,
        &pod(
            "noimg",
            "n1",
            json!({"containers": [{"name": "app", "image": "private/app:1"}]}),
        ),
    )
    .await;
    let w = wait_for("ErrImageNeverPull", WAIT, || async {
        let p = pods.get("noimg").await.map_err(|e| e.to_string())?;
        p.status
            .and_then(|s| s.container_statuses)
            .and_then(|cs| cs[0].state.clone())
            .and_then(|s| s.waiting)
            .filter(|w| w.reason.as_deref() == Some("ErrImageNeverPull"))
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    let message = w.message.unwrap();
    assert!(message.contains("private/app:1"), "{message}");
    assert!(message.contains("no command"), "{message}");
    assert_eq!(
        pods.get("noimg")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Pending")
    );
    agent.stop().await;
}

#[tokio::test]
async fn many_hollow_nodes_share_one_process() {
    let c = cluster().await;
    let mut agents = Vec::new();
    for i in 0..20 {
        agents.push(start(&c, &format!("hollow-{i}")));
    }
    let nodes: Api<Node> = Api::all(c.client.clone());
    wait_for("20 nodes registered", WAIT, || async {
        let n = nodes
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        if n == 20 {
            Ok(())
        } else {
            Err(format!("{n} nodes"))
        }
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    for i in 0..20 {
        let p = pod(
            &format!("p{i}"),
            &format!("hollow-{i}"),
            json!({"containers": [{"name": "app", "image": "app"}]}),
        );
        pods.create(&p, &PostParams::default()).await.unwrap();
    }
    for i in 0..20 {
        wait_phase(&pods, &format!("p{i}"), "Running").await;
    }
    for (_, a) in agents {
        a.stop().await;
    }
}

#[tokio::test]
async fn a_deleted_node_registers_again() {
    let c = cluster().await;
    let (_sim, agent) = start(&c, "phoenix");
    let nodes: Api<Node> = Api::all(c.client.clone());
    let first = wait_for("node registered", WAIT, || async {
        nodes.get("phoenix").await.map_err(|e| e.to_string())
    })
    .await;
    nodes
        .delete("phoenix", &DeleteParams::default())
        .await
        .unwrap();
    let again = wait_for("node registered again", WAIT, || async {
        let n = nodes.get("phoenix").await.map_err(|e| e.to_string())?;
        if n.metadata.uid != first.metadata.uid && n.status.is_some() {
            Ok(n)
        } else {
            Err("still the old one".to_owned())
        }
    })
    .await;
    assert_eq!(
        again.metadata.labels.unwrap()["kubernetes.io/hostname"],
        "phoenix"
    );
    agent.stop().await;
}
