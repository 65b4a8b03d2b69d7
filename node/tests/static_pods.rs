//! Static pods from a manifest directory: run with no API server at all, and with one,
//! published as mirror pods that come back when deleted.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{cluster, wait_for};
use k8s_openapi::api::core::v1::Pod;
use skiff_core::client::{Api, Client, DeleteParams};
use skiff_node::agent::static_pods::MIRROR_ANNOTATION;
use skiff_node::agent::{AgentConfig, NodeAgent};
use skiff_node::process::{ProcessRuntime, ProcessRuntimeConfig};
use skiff_node::runtime::{ContainerFilter, ContainerState, RuntimeService};

const WAIT: Duration = Duration::from_secs(20);

fn config(name: &str, dir: &std::path::Path) -> AgentConfig {
    let mut config = AgentConfig::new(name);
    config.lease_interval = Duration::from_millis(500);
    config.status_interval = Duration::from_millis(500);
    config.sync_period = Duration::from_millis(50);
    config.static_pod_check = Duration::from_millis(100);
    config.root_dir = dir.join("agent");
    config.pod_manifest_path = Some(dir.join("manifests"));
    config
}

fn manifest(name: &str, command: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    tier: static\nspec:\n  containers:\n  - name: main\n    image: busybox\n    command: [\"sh\", \"-c\", {command:?}]\n"
    )
}

/// The runtime's running containers named `name`.
async fn running(rt: &ProcessRuntime, name: &str) -> Result<usize, String> {
    let cs = rt
        .list_containers(&ContainerFilter {
            sandbox_id: None,
            state: Some(ContainerState::Running),
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(cs.iter().filter(|c| c.name == name).count())
}

/// A client whose every call fails: an API server that is not there.
fn unreachable_client() -> Arc<dyn Client> {
    use bytes::Bytes;
    use http_body_util::Full;
    let svc = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
        Err::<http::Response<Full<Bytes>>, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ))
    });
    Arc::new(skiff_core::client::ServiceClient::new(svc))
}

#[tokio::test]
async fn static_pods_run_without_an_api_server_and_follow_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(
        manifests.join("web.yaml"),
        manifest("web", "echo v1; sleep 60"),
    )
    .unwrap();
    let rt = ProcessRuntime::new(ProcessRuntimeConfig::new(dir.path().join("runtime")));
    let agent = NodeAgent::new(
        unreachable_client(),
        Arc::new(rt.clone()),
        config("lonely", dir.path()),
    )
    .start();
    wait_for("the static pod running", WAIT, || async {
        match running(&rt, "main").await? {
            1 => Ok(()),
            n => Err(format!("{n} running")),
        }
    })
    .await;
    // A changed manifest replaces the pod; a removed one stops it.
    let first = rt.list_pod_sandboxes().await.unwrap();
    std::fs::write(
        manifests.join("web.yaml"),
        manifest("web", "echo v2; sleep 60"),
    )
    .unwrap();
    wait_for("the pod replaced", WAIT, || async {
        let now = rt.list_pod_sandboxes().await.map_err(|e| e.to_string())?;
        let new = now.iter().any(|s| !first.iter().any(|f| f.id == s.id));
        if new && now.len() == 1 && running(&rt, "main").await? == 1 {
            Ok(())
        } else {
            Err(format!("{} sandboxes", now.len()))
        }
    })
    .await;
    std::fs::remove_file(manifests.join("web.yaml")).unwrap();
    wait_for("the pod stopped", WAIT, || async {
        let now = rt.list_pod_sandboxes().await.map_err(|e| e.to_string())?;
        if now.is_empty() {
            Ok(())
        } else {
            Err(format!("{} sandboxes", now.len()))
        }
    })
    .await;
    agent.stop().await;
}

#[tokio::test]
async fn mirror_pods_are_published_with_status_and_recreated_when_deleted() {
    let c = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(manifests.join("web.yaml"), manifest("web", "sleep 60")).unwrap();
    let rt = ProcessRuntime::new(ProcessRuntimeConfig::new(dir.path().join("runtime")));
    let agent = NodeAgent::new(
        c.client.clone(),
        Arc::new(rt.clone()),
        config("m1", dir.path()),
    )
    .start();
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let mirror = wait_for("the mirror pod Running", WAIT, || async {
        let p = pods.get("web-m1").await.map_err(|e| e.to_string())?;
        if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
            Ok(p)
        } else {
            Err(format!("{:?}", p.status))
        }
    })
    .await;
    let annotations = mirror.metadata.annotations.clone().unwrap_or_default();
    assert!(
        annotations.contains_key(MIRROR_ANNOTATION),
        "{annotations:?}"
    );
    assert_eq!(
        mirror.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some("m1")
    );
    let owner = &mirror.metadata.owner_references.clone().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("Node", "m1"));
    // The agent does not run the mirror pod a second time.
    assert_eq!(running(&rt, "main").await.unwrap(), 1);

    // Deleting the mirror pod does not stop the static pod; the mirror comes back.
    let old_uid = mirror.metadata.uid.clone();
    pods.delete("web-m1", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("the mirror pod recreated", WAIT, || async {
        match pods.get_opt("web-m1").await.map_err(|e| e.to_string())? {
            Some(p) if p.metadata.uid != old_uid && p.metadata.deletion_timestamp.is_none() => {
                Ok(())
            }
            other => Err(format!("{:?}", other.map(|p| p.metadata.uid))),
        }
    })
    .await;
    assert_eq!(running(&rt, "main").await.unwrap(), 1);

    // Removing the manifest stops the pod and deletes its mirror.
    std::fs::remove_file(manifests.join("web.yaml")).unwrap();
    wait_for("the mirror pod deleted", WAIT, || async {
        match pods.get_opt("web-m1").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(p) => Err(format!("{:?}", p.metadata.deletion_timestamp)),
        }
    })
    .await;
    wait_for("the static pod stopped", WAIT, || async {
        match running(&rt, "main").await? {
            0 => Ok(()),
            n => Err(format!("{n} running")),
        }
    })
    .await;
    agent.stop().await;
}
