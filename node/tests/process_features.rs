//! The node agent's volumes, isolation, resource limits and startup probes with the
//! process runtime against an in-process API server.
//!
//! As root (as on the CI machine) containers run isolated and see their volumes at
//! their mount paths; otherwise they are host processes and find them through their
//! `SKIFF_MOUNT_*` variables, so the container commands read `${SKIFF_MOUNT_X:-/x}`.
//! Tests of namespaces and cgroups skip with a printed reason when not root.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{cluster, pod, wait_for, Cluster};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use serde_json::json;
use skiff_core::client::{Api, DeleteParams, Patch, PatchParams, PostParams};
use skiff_node::agent::{AgentConfig, NodeAgent, RestartBackoff, RunningAgent};
use skiff_node::process::{ProcessRuntime, ProcessRuntimeConfig};
use skiff_node::runtime::{ContainerConfig, PodIdentity, PodSandboxConfig, RuntimeService};

const WAIT: Duration = Duration::from_secs(20);

struct Node {
    agent: RunningAgent,
    dir: tempfile::TempDir,
}

/// Root that may create namespaces (what isolation, tmpfs and cgroups need); root in
/// an unprivileged container is not enough.
fn is_root() -> bool {
    skiff_node::process::isolation::available()
}

fn start(c: &Cluster, name: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let runtime = ProcessRuntime::new(ProcessRuntimeConfig::new(dir.path().join("runtime")));
    let mut config = AgentConfig::new(name);
    config.lease_interval = Duration::from_millis(500);
    config.status_interval = Duration::from_millis(500);
    config.sync_period = Duration::from_millis(50);
    config.volume_refresh = Duration::from_millis(200);
    config.root_dir = dir.path().join("agent");
    config.backoff = RestartBackoff::new(Duration::from_millis(300), Duration::from_secs(2));
    let agent = NodeAgent::new(c.client.clone(), Arc::new(runtime), config).start();
    Node { agent, dir }
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

/// Waits until `path` (written by the container through a hostPath volume) contains
/// `want`.
async fn wait_file(path: &Path, want: &str) -> String {
    wait_for(
        &format!("{} to contain {want:?}", path.display()),
        WAIT,
        || async {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.contains(want) {
                Ok(text)
            } else {
                Err(text)
            }
        },
    )
    .await
}

/// `${SKIFF_MOUNT_X:-/x}`: the path of mount `/x` inside the container, either mode.
fn at(mount: &str) -> String {
    format!(
        "${{{}:-{mount}}}",
        skiff_node::process::mount_env_name(mount)
    )
}

async fn config_map(c: &Cluster, name: &str, data: serde_json::Value) {
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": name}, "data": data})).unwrap();
    cms.create(&cm, &PostParams::default()).await.unwrap();
}

#[tokio::test]
async fn volumes_are_visible_inside_the_container_and_follow_config_map_updates() {
    let c = cluster().await;
    let node = start(&c, "v1");
    config_map(&c, "settings", json!({"mode": "fast", "level": "3"})).await;
    let secrets: Api<Secret> = Api::namespaced(c.client.clone(), "default");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "creds"}, "data": {"token": "czNjcjN0"}
    }))
    .unwrap();
    secrets
        .create(&secret, &PostParams::default())
        .await
        .unwrap();
    let out = node.dir.path().join("out");
    let out_s = out.display().to_string();
    let script = format!(
        "set -e; O={out}; \
         echo \"mode=$(cat {cfg}/mode) level=$(cat {cfg}/level)\" > $O/config; \
         echo \"renamed=$(cat {items}/conf/the-mode)\" > $O/items; \
         echo \"token=$(cat {sec}/token) mode=$(stat -c %a {sec}/..data/token)\" > $O/secret; \
         cat {down}/labels > $O/labels; echo \"name=$(cat {down}/name)\" >> $O/labels; \
         echo \"projected=$(cat {proj}/mode)+$(cat {proj}/pod)\" > $O/projected; \
         echo scratch > {scratch}/f; echo \"scratch=$(cat {scratch}/f)\" > $O/scratch; \
         echo \"sub=$(cat {sub})\" > $O/sub; \
         if touch {cfg}/new 2>/dev/null; then echo rw > $O/ro; else echo ro > $O/ro; fi; \
         while true; do cat {cfg}/mode > $O/live.tmp; mv $O/live.tmp $O/live; sleep 0.1; done",
        out = at(&out_s),
        cfg = at("/etc/config"),
        items = at("/etc/items"),
        sec = at("/etc/secret"),
        down = at("/etc/podinfo"),
        proj = at("/etc/projected"),
        scratch = at("/scratch"),
        sub = at("/etc/level"),
    );
    let p = pod(
        "volumes",
        "v1",
        json!({
            "containers": [{
                "name": "c", "image": "x", "command": ["sh", "-c", script],
                "volumeMounts": [
                    {"name": "out", "mountPath": out_s},
                    {"name": "cfg", "mountPath": "/etc/config"},
                    {"name": "items", "mountPath": "/etc/items"},
                    {"name": "sec", "mountPath": "/etc/secret"},
                    {"name": "down", "mountPath": "/etc/podinfo"},
                    {"name": "proj", "mountPath": "/etc/projected"},
                    {"name": "scratch", "mountPath": "/scratch"},
                    {"name": "cfg", "mountPath": "/etc/level", "subPath": "level"}
                ]
            }],
            "volumes": [
                {"name": "out", "hostPath": {"path": out_s, "type": "DirectoryOrCreate"}},
                {"name": "cfg", "configMap": {"name": "settings"}},
                {"name": "items", "configMap": {"name": "settings", "items": [{"key": "mode", "path": "conf/the-mode"}]}},
                {"name": "sec", "secret": {"secretName": "creds", "defaultMode": 0o400}},
                {"name": "down", "downwardAPI": {"items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                    {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}
                ]}},
                {"name": "proj", "projected": {"sources": [
                    {"configMap": {"name": "settings", "items": [{"key": "mode", "path": "mode"}]}},
                    {"downwardAPI": {"items": [{"path": "pod", "fieldRef": {"fieldPath": "metadata.name"}}]}}
                ]}},
                {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}
            ]
        }),
    );
    let mut p = p;
    p.metadata.labels = Some([("app".to_owned(), "web".to_owned())].into());
    let pods = create(&c, &p).await;
    let running = wait_phase(&pods, "volumes", "Running").await;
    assert_eq!(
        wait_file(&out.join("config"), "mode=").await.trim(),
        "mode=fast level=3"
    );
    assert_eq!(
        wait_file(&out.join("items"), "renamed").await.trim(),
        "renamed=fast"
    );
    assert_eq!(
        wait_file(&out.join("secret"), "token").await.trim(),
        "token=s3cr3t mode=400"
    );
    assert_eq!(
        wait_file(&out.join("labels"), "name=").await,
        "app=\"web\"\nname=volumes\n"
    );
    assert_eq!(
        wait_file(&out.join("projected"), "projected").await.trim(),
        "projected=fast+volumes"
    );
    assert_eq!(
        wait_file(&out.join("scratch"), "scratch").await.trim(),
        "scratch=scratch"
    );
    assert_eq!(wait_file(&out.join("sub"), "sub").await.trim(), "sub=3");
    if is_root() {
        // Mounted read-only inside the container. (A host process can write its
        // files' directory when the agent is not root; only isolation enforces it.)
        assert_eq!(wait_file(&out.join("ro"), "r").await.trim(), "ro");
    } else {
        let message = running.status.and_then(|s| s.message).unwrap_or_default();
        assert!(message.contains("host process"), "{message}");
    }
    wait_file(&out.join("live"), "fast").await;

    // An update of the ConfigMap reaches the running container.
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    cms.patch(
        "settings",
        &Patch::Merge(json!({"data": {"mode": "slow"}})),
        &PatchParams::default(),
    )
    .await
    .unwrap();
    wait_file(&out.join("live"), "slow").await;

    // Deleting the pod removes its volumes (and unmounts the tmpfs).
    pods.delete("volumes", &DeleteParams::default())
        .await
        .unwrap();
    let pod_dir = node
        .dir
        .path()
        .join("agent/pods")
        .join(running.metadata.uid.unwrap());
    wait_for("the pod's volumes removed", WAIT, || async {
        if pod_dir.exists() {
            Err(format!("{} exists", pod_dir.display()))
        } else {
            Ok(())
        }
    })
    .await;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(
        !mounts.contains(&node.dir.path().display().to_string()),
        "a mount of the test leaked onto the host:\n{mounts}"
    );
    node.agent.stop().await;
}

#[tokio::test]
async fn a_missing_volume_source_or_bad_host_path_holds_the_pod_with_a_message() {
    let c = cluster().await;
    let node = start(&c, "v2");
    let p = pod(
        "nocm",
        "v2",
        json!({"containers": [{"name": "c", "image": "x", "command": ["sleep", "30"],
                 "volumeMounts": [{"name": "cfg", "mountPath": "/etc/config"}]}],
               "volumes": [{"name": "cfg", "configMap": {"name": "absent"}}]}),
    );
    let pods = create(&c, &p).await;
    let missing_dir = node.dir.path().join("does-not-exist");
    let p = pod(
        "badhost",
        "v2",
        json!({"containers": [{"name": "c", "image": "x", "command": ["sleep", "30"]}],
               "volumes": [{"name": "h", "hostPath": {"path": missing_dir, "type": "Directory"}}]}),
    );
    create(&c, &p).await;
    for (name, want) in [
        ("nocm", "configmap \"absent\" not found"),
        ("badhost", "not a directory"),
    ] {
        wait_for(&format!("{name} held with a message"), WAIT, || async {
            let p = pods.get(name).await.map_err(|e| e.to_string())?;
            let status = p.status.unwrap_or_default();
            let message = status.message.clone().unwrap_or_default();
            if status.phase.as_deref() == Some("Pending") && message.contains(want) {
                Ok(())
            } else {
                Err(format!("{:?} {message:?}", status.phase))
            }
        })
        .await;
    }
    // Creating the ConfigMap lets the pod start.
    config_map(&c, "absent", json!({"k": "v"})).await;
    wait_phase(&pods, "nocm", "Running").await;
    node.agent.stop().await;
}

#[tokio::test]
async fn as_root_a_container_has_its_own_namespaces_and_root() {
    if !is_root() {
        eprintln!("skipping: namespaces need root");
        return;
    }
    let c = cluster().await;
    let node = start(&c, "ns1");
    let out = node.dir.path().join("out");
    let out_s = out.display().to_string();
    let script = format!(
        "echo \"host=$(hostname) pid=$$ init=$(cat /proc/1/comm) procs=$(ls /proc | grep -c '^[0-9]')\" > {out_s}/ns; \
         touch /etc/skiff-made-this; ls /tmp | wc -l > {out_s}/tmp; sleep 30"
    );
    let p = pod(
        "isolated",
        "ns1",
        json!({"hostname": "inside", "containers": [{"name": "c", "image": "x", "command": ["sh", "-c", script],
                 "volumeMounts": [{"name": "out", "mountPath": out_s}]}],
               "volumes": [{"name": "out", "hostPath": {"path": out_s, "type": "DirectoryOrCreate"}}]}),
    );
    let pods = create(&c, &p).await;
    wait_phase(&pods, "isolated", "Running").await;
    let ns = wait_file(&out.join("ns"), "host=").await;
    // PID 1 is the container's init; the shell is PID 2; few processes are visible.
    assert!(ns.starts_with("host=inside pid=2 "), "{ns}");
    let procs: usize = ns
        .trim()
        .rsplit("procs=")
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(999);
    assert!(procs <= 5, "{ns}");
    assert_eq!(wait_file(&out.join("tmp"), "\n").await.trim(), "0");
    // Writes to the container's view of /etc stay in the container.
    assert!(!Path::new("/etc/skiff-made-this").exists());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(
        !mounts.contains(&node.dir.path().display().to_string()),
        "{mounts}"
    );
    node.agent.stop().await;
}

#[tokio::test]
async fn as_root_memory_limits_are_enforced_by_a_cgroup() {
    if !is_root() {
        eprintln!("skipping: cgroups need root");
        return;
    }
    let cgroup_root = Path::new("/sys/fs/cgroup");
    if !cgroup_root.join("cgroup.controllers").exists() && !cgroup_root.join("memory").is_dir() {
        eprintln!("skipping: no cgroup v2 nor v1 memory hierarchy");
        return;
    }
    let c = cluster().await;
    let node = start(&c, "cg1");
    let out = node.dir.path().join("out");
    let out_s = out.display().to_string();
    let limited = pod(
        "limited",
        "cg1",
        json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "x",
            "command": ["sh", "-c", format!("cat /proc/self/cgroup > {out_s}/cgroup; x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived")],
            "resources": {"limits": {"memory": "32Mi", "cpu": "500m"}},
            "volumeMounts": [{"name": "out", "mountPath": out_s}]}],
         "volumes": [{"name": "out", "hostPath": {"path": out_s, "type": "DirectoryOrCreate"}}]}),
    );
    let pods = create(&c, &limited).await;
    let cgroup = wait_file(&out.join("cgroup"), "skiff").await;
    assert!(cgroup.contains("/skiff/proc-container-"), "{cgroup}");
    let failed = wait_phase(&pods, "limited", "Failed").await;
    let status = &failed.status.unwrap().container_statuses.unwrap()[0];
    let terminated = status.state.as_ref().unwrap().terminated.clone().unwrap();
    assert_eq!(
        terminated.reason.as_deref(),
        Some("OOMKilled"),
        "{terminated:?}"
    );
    assert_eq!(terminated.exit_code, 137);
    // The cgroup goes away with the container.
    let id = status.container_id.clone().unwrap();
    let id = id.rsplit('/').next().unwrap().to_owned();
    let dirs = [
        cgroup_root.join("skiff").join(&id),
        cgroup_root.join("memory/skiff").join(&id),
        cgroup_root.join("cpu/skiff").join(&id),
    ];
    wait_for("the container's cgroups removed", WAIT, || async {
        match dirs.iter().find(|d| d.exists()) {
            Some(d) => Err(format!("{} exists", d.display())),
            None => Ok(()),
        }
    })
    .await;
    node.agent.stop().await;
}

#[tokio::test]
async fn a_startup_probe_holds_liveness_back_and_kills_a_container_that_never_starts() {
    let c = cluster().await;
    let node = start(&c, "sp1");
    let free = |_: ()| {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (startup_port, dead_port) = (free(()), free(()));
    let p = pod(
        "slow",
        "sp1",
        json!({"terminationGracePeriodSeconds": 1, "containers": [{
            "name": "c", "image": "x", "command": ["sleep", "60"],
            "startupProbe": {"tcpSocket": {"port": startup_port}, "periodSeconds": 1, "failureThreshold": 30},
            "livenessProbe": {"tcpSocket": {"port": dead_port}, "periodSeconds": 1, "failureThreshold": 1}
        }]}),
    );
    let pods = create(&c, &p).await;
    let status_of = |p: &Pod| {
        p.status
            .clone()
            .unwrap_or_default()
            .container_statuses
            .unwrap_or_default()
    };
    let running = wait_phase(&pods, "slow", "Running").await;
    assert_eq!(status_of(&running)[0].started, Some(false));
    // Three liveness periods pass without a restart: the startup probe holds it back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held = pods.get("slow").await.unwrap();
    let s = &status_of(&held)[0];
    assert_eq!(
        (s.started, s.restart_count, s.ready),
        (Some(false), 0, false)
    );
    // Once the startup probe passes the container is started, and the failing
    // liveness probe restarts it.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", startup_port))
        .await
        .unwrap();
    wait_for("started, then restarted by liveness", WAIT, || async {
        let p = pods.get("slow").await.map_err(|e| e.to_string())?;
        let statuses = status_of(&p);
        let s = statuses.first().ok_or("no status yet")?;
        if s.restart_count >= 1 {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    drop(listener);

    let p = pod(
        "never",
        "sp1",
        json!({"terminationGracePeriodSeconds": 1, "containers": [{
            "name": "c", "image": "x", "command": ["sleep", "60"],
            "startupProbe": {"tcpSocket": {"port": dead_port}, "periodSeconds": 1, "failureThreshold": 2}
        }]}),
    );
    create(&c, &p).await;
    wait_for("killed by its startup probe", WAIT, || async {
        let p = pods.get("never").await.map_err(|e| e.to_string())?;
        let statuses = status_of(&p);
        let s = statuses.first().ok_or("no status yet")?;
        if s.restart_count >= 1 && s.started == Some(false) {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    node.agent.stop().await;
}

#[tokio::test]
async fn a_claim_bound_to_a_host_path_volume_is_mounted() {
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    let c = cluster().await;
    let node = start(&c, "pvc1");
    let data = node.dir.path().join("pv-data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("hello"), "from the volume").unwrap();
    let pv: PersistentVolume = serde_json::from_value(json!({
        "metadata": {"name": "pv1"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "hostPath": {"path": data}}
    }))
    .unwrap();
    Api::<PersistentVolume>::all(c.client.clone())
        .create(&pv, &PostParams::default())
        .await
        .unwrap();
    let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": "claim"},
        "spec": {"accessModes": ["ReadWriteOnce"], "volumeName": "pv1",
                 "resources": {"requests": {"storage": "1Gi"}}}
    }))
    .unwrap();
    Api::<PersistentVolumeClaim>::namespaced(c.client.clone(), "default")
        .create(&pvc, &PostParams::default())
        .await
        .unwrap();
    let script = format!("cat {d}/hello > {d}/copy; sleep 30", d = at("/data"));
    let p = pod(
        "claimed",
        "pvc1",
        json!({"containers": [{"name": "c", "image": "x", "command": ["sh", "-c", script],
                 "volumeMounts": [{"name": "d", "mountPath": "/data"}]}],
               "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "claim"}}]}),
    );
    let pods = create(&c, &p).await;
    wait_phase(&pods, "claimed", "Running").await;
    assert_eq!(
        wait_file(&data.join("copy"), "from").await,
        "from the volume"
    );
    node.agent.stop().await;
}

#[tokio::test]
async fn as_root_exec_enters_a_container_of_a_relative_data_dir() {
    // `skiff up` keeps its data in `./.skiff`: entering the container's mount
    // namespace resets exec's working directory, so the container's root must not be
    // found relative to it.
    if !is_root() {
        eprintln!("skipping: namespaces need root");
        return;
    }
    // In the working directory, named relative to it (`../..` up to `/` would still
    // resolve from `/`).
    let dir = match tempfile::Builder::new()
        .prefix(".skiff-test-")
        .tempdir_in(".")
    {
        Ok(d) => d,
        Err(e) => return eprintln!("skipping: no directory in the working directory: {e}"),
    };
    let name = dir.path().file_name().expect("a directory name");
    let rt = ProcessRuntime::new(ProcessRuntimeConfig::new(Path::new(name).join("runtime")));
    let sandbox = PodSandboxConfig {
        pod: PodIdentity {
            namespace: "default".into(),
            name: "rel".into(),
            uid: "uid-rel".into(),
        },
        hostname: "rel".into(),
        ..PodSandboxConfig::default()
    };
    let sid = rt.run_pod_sandbox(&sandbox).await.unwrap();
    let config = ContainerConfig {
        name: "main".into(),
        command: vec!["sleep".into(), "30".into()],
        run_on_host: true,
        ..ContainerConfig::default()
    };
    let id = rt.create_container(&sid, &config, &sandbox).await.unwrap();
    rt.start_container(&id).await.unwrap();
    let command = vec!["sh".to_string(), "-c".into(), "hostname; echo hi".into()];
    let out = wait_for("exec in the container", WAIT, || async {
        rt.exec_sync(&id, &command, Duration::from_secs(5))
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    assert_eq!(
        (out.exit_code, String::from_utf8_lossy(&out.stdout).as_ref()),
        (0, "rel\nhi\n"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    rt.stop_pod_sandbox(&sid).await.unwrap();
    rt.remove_pod_sandbox(&sid).await.unwrap();
}
