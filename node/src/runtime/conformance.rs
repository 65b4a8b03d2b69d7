//! The conformance suite: the checks every runtime must pass, in the spirit of
//! openraft's storage `Suite`.
//!
//! A runtime's tests implement [`Harness`] (how to get a container that runs until
//! stopped, one that exits with a given code, an image that can and one that cannot
//! be pulled) and call [`run`]; it returns the first failed check.
//!
//! ```
//! # async fn run() {
//! use skiff_node::sim::SimHarness;
//! skiff_node::runtime::conformance::run(&SimHarness::new()).await.unwrap();
//! # }
//! ```

use std::time::{Duration, Instant};

use super::{
    ContainerConfig, ContainerFilter, ContainerState, PodIdentity, PodSandboxConfig, Runtime,
    RuntimeError, SandboxState,
};

/// What the suite needs from a runtime's tests.
pub trait Harness: Send + Sync {
    /// The runtime under test (fresh: no sandboxes, no containers).
    fn runtime(&self) -> &dyn Runtime;
    /// A container that runs until it is stopped, and stops on the polite request
    /// (SIGTERM) well within a second.
    fn long_running(&self, name: &str) -> ContainerConfig;
    /// A container that exits by itself, at once, with `code`.
    fn exits_with(&self, name: &str, code: i32) -> ContainerConfig;
    /// An image that `pull_image` can make present.
    fn pullable_image(&self) -> String;
    /// An image that `pull_image` cannot make present.
    fn unavailable_image(&self) -> String;
    /// A command that `exec_sync` runs in a [`Harness::long_running`] container named
    /// `name`, and the exact result expected (a non-zero exit code and output on both
    /// streams make the check meaningful). `None` for a runtime without exec; the
    /// exec checks are then skipped.
    fn exec_command(&self, name: &str) -> Option<(Vec<String>, super::ExecSyncResponse)> {
        let _ = name;
        None
    }
}

/// A failed check: which one, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("conformance check {check}: {message}")]
pub struct SuiteFailure {
    /// The check's name.
    pub check: &'static str,
    /// What was wrong.
    pub message: String,
}

type Check = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn call<T>(what: &str, r: Result<T, RuntimeError>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// Runs every check against the harness's runtime.
pub async fn run(h: &dyn Harness) -> Result<(), SuiteFailure> {
    macro_rules! check {
        ($name:literal, $f:expr) => {
            $f.await.map_err(|message| SuiteFailure {
                check: $name,
                message,
            })?;
        };
    }
    check!("version", version(h));
    check!("sandbox_lifecycle", sandbox_lifecycle(h));
    check!("container_lifecycle", container_lifecycle(h));
    check!("exit_codes", exit_codes(h));
    check!("create_needs_ready_sandbox", create_needs_ready_sandbox(h));
    check!("start_only_once", start_only_once(h));
    check!("stop_created_container", stop_created_container(h));
    check!("sandbox_owns_containers", sandbox_owns_containers(h));
    check!("restart_is_new_container", restart_is_new_container(h));
    check!("list_filters", list_filters(h));
    check!("exec_in_running_containers", exec_in_running_containers(h));
    check!("images", images(h));
    check!("container_stats", container_stats(h));
    Ok(())
}

/// `list_container_stats` (when the runtime reports usage) covers exactly the
/// running containers, with their sandbox and name, and CPU counters that never go
/// back.
async fn container_stats(h: &dyn Harness) -> Check {
    let rt = h.runtime();
    let sb = sandbox_config("stats");
    let sid = call("run_pod_sandbox", rt.run_pod_sandbox(&sb).await)?;
    let id = call(
        "create_container",
        rt.create_container(&sid, &h.long_running("stats"), &sb)
            .await,
    )?;
    call("start_container", rt.start_container(&id).await)?;
    wait_state(rt, &id, ContainerState::Running).await?;
    let first = match rt.list_container_stats().await {
        Err(RuntimeError::Unsupported(_)) => {
            call("remove_pod_sandbox", rt.remove_pod_sandbox(&sid).await)?;
            return Ok(());
        }
        other => call("list_container_stats", other)?,
    };
    let mine = first
        .iter()
        .find(|s| s.container_id == id)
        .ok_or_else(|| format!("running container {id} is not in {first:?}"))?;
    ensure!(
        mine.sandbox_id == sid && mine.name == "stats",
        "stats name the wrong sandbox or name: {mine:?}"
    );
    let second = call("list_container_stats", rt.list_container_stats().await)?;
    let again = second
        .iter()
        .find(|s| s.container_id == id)
        .ok_or_else(|| format!("running container {id} left the stats"))?;
    ensure!(
        again.cpu_usage_core_nanos >= mine.cpu_usage_core_nanos,
        "the CPU counter went back: {} then {}",
        mine.cpu_usage_core_nanos,
        again.cpu_usage_core_nanos
    );
    call(
        "stop_container",
        rt.stop_container(&id, Duration::from_secs(1)).await,
    )?;
    let after = call("list_container_stats", rt.list_container_stats().await)?;
    ensure!(
        after.iter().all(|s| s.container_id != id),
        "an exited container is still in the stats"
    );
    call("remove_pod_sandbox", rt.remove_pod_sandbox(&sid).await)?;
    Ok(())
}

fn sandbox_config(name: &str) -> PodSandboxConfig {
    PodSandboxConfig {
        pod: PodIdentity {
            namespace: "conformance".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
        },
        hostname: name.into(),
        ..PodSandboxConfig::default()
    }
}

/// Polls the container until `pred` holds on its state, at most 5 s.
async fn wait_state(
    rt: &dyn Runtime,
    id: &str,
    want: ContainerState,
) -> Result<super::ContainerStatus, String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = call("container_status", rt.container_status(id).await)?;
        if status.state == want {
            return Ok(status);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "container {id} is {:?}, expected {want:?} within 5s",
                status.state
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Exec runs only in running containers, and `exec_sync` returns the command's
/// output and exit code.
async fn exec_in_running_containers(h: &dyn Harness) -> Check {
    let Some((command, expected)) = h.exec_command("exec") else {
        return Ok(());
    };
    let rt = h.runtime();
    let timeout = Duration::from_secs(10);
    let missing = rt.exec_sync("no-such-container", &command, timeout).await;
    ensure!(
        matches!(missing, Err(RuntimeError::ContainerNotFound(_))),
        "exec in an unknown container answered {missing:?}"
    );
    let sb = sandbox_config("exec");
    let sid = call("run_pod_sandbox", rt.run_pod_sandbox(&sb).await)?;
    let id = call(
        "create_container",
        rt.create_container(&sid, &h.long_running("exec"), &sb)
            .await,
    )?;
    ensure!(
        rt.exec_sync(&id, &command, timeout).await.is_err(),
        "exec in a Created container succeeded"
    );
    call("start_container", rt.start_container(&id).await)?;
    wait_state(rt, &id, ContainerState::Running).await?;
    let got = call("exec_sync", rt.exec_sync(&id, &command, timeout).await)?;
    ensure!(
        got == expected,
        "exec_sync answered {got:?}, expected {expected:?}"
    );
    ensure!(
        rt.exec_sync(&id, &[], timeout).await.is_err(),
        "exec of an empty command succeeded"
    );
    call(
        "stop_container",
        rt.stop_container(&id, Duration::from_secs(1)).await,
    )?;
    ensure!(
        rt.exec_sync(&id, &command, timeout).await.is_err(),
        "exec in an Exited container succeeded"
    );
    call("remove_pod_sandbox", rt.remove_pod_sandbox(&sid).await)?;
    Ok(())
}

async fn version(h: &dyn Harness) -> Check {
    let v = h.runtime().version();
    ensure!(!v.name.is_empty(), "empty runtime name");
    ensure!(!v.version.is_empty(), "empty runtime version");
    Ok(())
}

async fn sandbox_lifecycle(h: &dyn Harness) -> Check {
    let rt = h.runtime();
    let config = sandbox_config("sandbox-lifecycle");
    let id = call("run_pod_sandbox", rt.run_pod_sandbox(&config).await)?;
    let status = call("pod_sandbox_status", rt.pod_sandbox_status(&id).await)?;
    ensure!(status.state == SandboxState::Ready, "new sandbox not Ready");
    ensure!(status.pod == config.pod, "sandbox pod identity differs");
    let listed = call("list_pod_sandboxes", rt.list_pod_sandboxes().await)?;
    ensure!(listed.iter().any(|s| s.id == id), "sandbox not listed");
    let other = call("run_pod_sandbox", rt.run_pod_sandbox(&config).await)?;
    ensure!(other != id, "two sandboxes got the same id {id}");
    call("stop_pod_sandbox", rt.stop_pod_sandbox(&id).await)?;
    let status = call("pod_sandbox_status", rt.pod_sandbox_status(&id).await)?;
    ensure!(
        status.state == SandboxState::NotReady,
        "stopped sandbox still Ready"
    );
    call("stop_pod_sandbox again", rt.stop_pod_sandbox(&id).await)?;
    call("remove_pod_sandbox", rt.remove_pod_sandbox(&id).await)?;
    ensure!(
        matches!(
            rt.pod_sandbox_status(&id).await,
            Err(RuntimeError::SandboxNotFound(_))
        ),
        "removed sandbox still has a status"
    );
    let listed = call("list_pod_sandboxes", rt.list_pod_sandboxes().await)?;
    ensure!(!listed.iter().any(|s| s.id == id), "removed sandbox listed");
    call("remove_pod_sandbox again", rt.remove_pod_sandbox(&id).await)?;
    call(
        "stop unknown sandbox",
        rt.stop_pod_sandbox("no-such-sandbox").await,
    )?;
    call("remove other", rt.remove_pod_sandbox(&other).await)?;
    Ok(())
}

async fn container_lifecycle(h: &dyn Harness) -> Check {
    let rt = h.runtime();
    let sb = sandbox_config("container-lifecycle");
    let sid = call("run_pod_sandbox", rt.run_pod_sandbox(&sb).await)?;
    let config = h.long_running("main");
    let id = call(
        "create_container",
        rt.create_container(&sid, &config, &sb).await,
    )?;
    let status = call("container_status", rt.container_status(&id).await)?;
    ensure!(
        status.state == ContainerState::Created,
        "new container is {:?}",
        status.state
    );
    ensure!(status.sandbox_id == sid, "container's sandbox id differs");
    ensure!(
        status.name == "main",
        "container's name is {:?}",
        status.name
    );
    ensure!(
        status.started_at.is_none(),
        "created container has started_at"
    );
    call("start_container", rt.start_container(&id).await)?;
    let status = wait_state(rt, &id, ContainerState::Running).await?;
    ensure!(
        status.started_at.is_some(),
        "running container has no started_at"
    );
    ensure!(
        status.exit_code.is_none(),
        "running container has an exit code"
    );
    let started = Instant::now();
    call(
        "stop_container",
        rt.stop_container(&id, Duration::from_secs(10)).await,
    )?;
    ensure!(
        started.elapsed() < Duration::from_secs(5),
        "a container that honours SIGTERM took {:?} to stop",
        started.elapsed()
    );
    let status = call("container_status", rt.container_status(&id).await)?;
    ensure!(
        status.state == ContainerState::Exited,
        "stop_container returned but the container is {:?}",
        status.state
    );
    ensure!(
        status.exit_code.is_some(),
        "stopped container has no exit code"
    );
    ensure!(
        status.finished_at.is_some(),
        "stopped container has no finished_at"
    );
    call(
        "stop_container again",
        rt.stop_container(&id, Duration::from_secs(1)).await,
    )?;
    call("remove_container", rt.remove_container(&id).await)?;
    ensure!(
        matches!(
            rt.container_status(&id).await,
            Err(RuntimeError::ContainerNotFound(_))
        ),
        "removed container still has a status"
    );
    call("remove_container again", rt.remove_container(&id).await)?;
    call("remove_pod_sandbox", rt.remove_pod_sandbox(&sid).await)?;
    Ok(())
}

async fn exit_codes(h: &dyn Harness) -> Check {
    let rt = h.runtime();
    let sb = sandbox_config("exit-codes");
    let sid = call("run_pod_sandbox", rt.run_pod_sandbox(&sb).await)?;
    for (name, code, reason) in [("ok", 0, "Completed"), ("fails", 3, "Error")] {
        let id = call(
            "create_container",
            rt.create_container(&sid, &h.exits_with(name, code), &sb)
                .await,
        )?;
        call("start_container", rt.start_container(&id).await)?;
        let status = wait_state(rt, &id, ContainerState::Exited).await?;
        ensure!(
            status.exit_code == Some(code),
            "{name}: exit code {:?}, expected {code}",
            status.exit_code
        );
        ensure!(
            status.reason == reason,
            "{name}: reason {:?}, expected {reason}",
            status.reason
        );
        ensure!(
            status.started_at.is_some() && status.finished_at.is_some(),
            "{name}: exited container lacks started_at/finished_at"
        );
    }
    call("remove_pod_sandbox", rt.remove_pod_sandbox(&sid).await)?;
    Ok(())
}

async fn create_needs_ready_sandbox(h: &dyn Harness) -> Check {
    let rt = h.runtime();
    let sb = sandbox_config("needs-ready");
    let config = h.long_running("c");
    ensure!(
        matches!(
            rt.create_container("no-such-sandbox", &config, &sb).await,
            Err(RuntimeError::SandboxNotFound(_))
        ),
        "create_container in an unknown sandbox did not fail with SandboxNotFound"
    );
    let sid = call("run_pod_sandbox", rt.run_pod_sandbox(&sb).await)?;
    call("stop_pod_sandbox", rt.stop_pod_sandbox(&sid).await)?;
    ensure!(
        matches!(
            rt.create_container(&sid, &config, &sb).await,
            Err(RuntimeError::SandboxNotReady(_))
        ),
        "create_container in a stopped sandbox did not fail with SandboxNotReady"
    );
    call("remove_pod_sandbox", rt.remove_pod_sandbox(&sid).await)?;
    Ok(())
}

async fn start_only_once(h: &dyn Harness) -> Check {
    let rt = h.runtime();
    let sb = sandbox_config("start-once");
    let sid = call("run_pod_sandbox", rt.run_pod_sandbox(&sb).await)?;
    let id = call(
        "create_container",
        rt.create_container(&sid, &h.long_running("c"), &sb).await,
    )?;
    call("start_container", rt.start_container(&id).await)?;
    ensure!(
        matches!(
            rt.start_container(&id).await,
            Err(RuntimeError::InvalidState(_))
        ),
        "starting a running container twice did not fail with InvalidState"
    );
    ensure!(
        matches!(
            rt.start_container("no-such-container").await,
            Err(RuntimeError::ContainerNotFound(_))
        ),
        "starting an unknown container did not fail with ContainerNotFound"
    );
    call("remove_pod_sandbox", rt.remove_pod_sandbox(&sid).await)?;
    Ok(())
}

async fn stop_created_container(h: &dyn Harness) -> Check {
    let rt = h.runtime();
    let sb = sandbox_config("stop-created");
    let sid = call("run_pod_sandbox", rt.run_pod_sandbox(&sb).await)?;
    let id = call(
        "create_container",
        rt.create_container(&sid, &h.long_running("c"), &sb).await,
    )?;
    call(
        "stop_container",
        rt.stop_container(&id, Duration::from_secs(1)).await,
    )?;
    let status = call("container_status", rt.container_status(&id).await)?;
    ensure!(
        status.state == ContainerState::Exited,
        "a stopped Created container is {:?}",
        status.state
    );
    ensure!(
        rt.start_container(&id).await.is_err(),
        "an Exited container started again"
    );
    call("remove_pod_sandbox", rt.remove_pod_sandbox(&sid).await)?;
    Ok(())
}

async fn sandbox_owns_containers(h: &dyn Harness) -> Check {
    let rt = h.runtime();
    let sb = sandbox_config("owns");
    let sid = call("run_pod_sandbox", rt.run_pod_sandbox(&sb).await)?;
    let a = call(
        "create_container",
        rt.create_container(&sid, &h.long_running("a"), &sb).await,
    )?;
    let b = call(
        "create_container",
        rt.create_container(&sid, &h.long_running("b"), &sb).await,
    )?;
    ensure!(a != b, "two containers got the same id {a}");
    call("start_container", rt.start_container(&a).await)?;
    call("start_container", rt.start_container(&b).await)?;
    wait_state(rt, &a, ContainerState::Running).await?;
    call("stop_pod_sandbox", rt.stop_pod_sandbox(&sid).await)?;
    for id in [&a, &b] {
        let status = call("container_status", rt.container_status(id).await)?;
        ensure!(
            status.state == ContainerState::Exited,
            "container {id} is {:?} after its sandbox stopped",
            status.state
        );
    }
    call("remove_pod_sandbox", rt.remove_pod_sandbox(&sid).await)?;
    for id in [&a, &b] {
        ensure!(
            matches!(
                rt.container_status(id).await,
                Err(RuntimeError::ContainerNotFound(_))
            ),
            "container {id} survived its sandbox's removal"
        );
    }
    Ok(())
}

async fn restart_is_new_container(h: &dyn Harness) -> Check {
    let rt = h.runtime();
    let sb = sandbox_config("restart");
    let sid = call("run_pod_sandbox", rt.run_pod_sandbox(&sb).await)?;
    let first = call(
        "create_container",
        rt.create_container(&sid, &h.exits_with("c", 1), &sb).await,
    )?;
    call("start_container", rt.start_container(&first).await)?;
    wait_state(rt, &first, ContainerState::Exited).await?;
    let mut config = h.long_running("c");
    config.attempt = 1;
    let second = call(
        "create_container",
        rt.create_container(&sid, &config, &sb).await,
    )?;
    ensure!(second != first, "a restart reused the container id {first}");
    call("start_container", rt.start_container(&second).await)?;
    let status = wait_state(rt, &second, ContainerState::Running).await?;
    ensure!(
        status.attempt == 1,
        "attempt {} instead of 1",
        status.attempt
    );
    let old = call("container_status", rt.container_status(&first).await)?;
    ensure!(
        old.state == ContainerState::Exited && old.exit_code == Some(1),
        "the first attempt changed after the second started: {:?} {:?}",
        old.state,
        old.exit_code
    );
    call("remove_pod_sandbox", rt.remove_pod_sandbox(&sid).await)?;
    Ok(())
}

async fn list_filters(h: &dyn Harness) -> Check {
    let rt = h.runtime();
    let sb1 = sandbox_config("list-1");
    let sb2 = sandbox_config("list-2");
    let s1 = call("run_pod_sandbox", rt.run_pod_sandbox(&sb1).await)?;
    let s2 = call("run_pod_sandbox", rt.run_pod_sandbox(&sb2).await)?;
    let running = call(
        "create_container",
        rt.create_container(&s1, &h.long_running("r"), &sb1).await,
    )?;
    call("start_container", rt.start_container(&running).await)?;
    wait_state(rt, &running, ContainerState::Running).await?;
    let created = call(
        "create_container",
        rt.create_container(&s1, &h.long_running("c"), &sb1).await,
    )?;
    let elsewhere = call(
        "create_container",
        rt.create_container(&s2, &h.long_running("e"), &sb2).await,
    )?;
    let ids = |v: Vec<super::ContainerStatus>| {
        let mut ids: Vec<String> = v.into_iter().map(|c| c.id).collect();
        ids.sort();
        ids
    };
    let mut want = vec![running.clone(), created.clone()];
    want.sort();
    let in_s1 = ids(call(
        "list_containers",
        rt.list_containers(&ContainerFilter {
            sandbox_id: Some(s1.clone()),
            state: None,
        })
        .await,
    )?);
    ensure!(
        in_s1 == want,
        "sandbox filter gave {in_s1:?}, want {want:?}"
    );
    let running_only = ids(call(
        "list_containers",
        rt.list_containers(&ContainerFilter {
            sandbox_id: Some(s1.clone()),
            state: Some(ContainerState::Running),
        })
        .await,
    )?);
    ensure!(
        running_only == vec![running.clone()],
        "state filter gave {running_only:?}"
    );
    let all = ids(call(
        "list_containers",
        rt.list_containers(&ContainerFilter::default()).await,
    )?);
    ensure!(
        [&running, &created, &elsewhere]
            .iter()
            .all(|id| all.contains(id)),
        "unfiltered list {all:?} misses some containers"
    );
    call("remove_pod_sandbox", rt.remove_pod_sandbox(&s1).await)?;
    call("remove_pod_sandbox", rt.remove_pod_sandbox(&s2).await)?;
    Ok(())
}

async fn images(h: &dyn Harness) -> Check {
    let rt = h.runtime();
    let image = h.pullable_image();
    let id = call("pull_image", rt.pull_image(&image).await)?;
    let found = call("image_status", rt.image_status(&image).await)?;
    ensure!(
        found.as_ref().is_some_and(|i| i.id == id),
        "pulled image {image} has status {found:?}, expected id {id}"
    );
    let listed = call("list_images", rt.list_images().await)?;
    ensure!(listed.iter().any(|i| i.id == id), "pulled image not listed");
    call("remove_image", rt.remove_image(&image).await)?;
    let gone = call("image_status", rt.image_status(&image).await)?;
    ensure!(gone.is_none(), "removed image still has a status");
    call("remove_image again", rt.remove_image(&image).await)?;
    let missing = h.unavailable_image();
    ensure!(
        matches!(
            rt.pull_image(&missing).await,
            Err(RuntimeError::ImageUnavailable { .. })
        ),
        "pulling {missing} did not fail with ImageUnavailable"
    );
    ensure!(
        call("image_status", rt.image_status(&missing).await)?.is_none(),
        "an image that failed to pull has a status"
    );
    Ok(())
}
