//! Container lifecycle hooks run through the runtime's exec: `postStart` right after
//! a container starts (a failure kills the container, as the kubelet does) and
//! `preStop` before the stop signal, within the pod's grace period (the stop then
//! gets what is left of it, at least [`MIN_STOP_GRACE`]).
//!
//! Only `exec` hooks run; `httpGet`, `tcpSocket` and `sleep` hooks are not supported
//! yet and are skipped with a warning.
//!
//! ```
//! use k8s_openapi::api::core::v1::Container;
//! let c: Container = serde_json::from_value(serde_json::json!({
//!     "name": "c", "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "sleep 1"]}}}
//! })).unwrap();
//! assert_eq!(skiff_node::agent::hooks::pre_stop_command(&c).unwrap()[0], "sh");
//! ```

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, LifecycleHandler};

use crate::runtime::Runtime;

/// The least time a container gets between SIGTERM and SIGKILL after a preStop hook
/// used up its grace period (the kubelet's minimum).
pub const MIN_STOP_GRACE: Duration = Duration::from_secs(2);
/// How long a postStart hook may run.
pub const POST_START_TIMEOUT: Duration = Duration::from_secs(30);

fn exec_command(handler: &LifecycleHandler, container: &str, hook: &str) -> Option<Vec<String>> {
    match &handler.exec {
        Some(exec) => exec.command.clone().filter(|c| !c.is_empty()),
        None => {
            tracing::warn!(
                container,
                hook,
                "only exec lifecycle hooks are supported; skipping the hook"
            );
            None
        }
    }
}

/// The command of the container's `preStop` exec hook.
pub fn pre_stop_command(container: &Container) -> Option<Vec<String>> {
    let handler = container.lifecycle.as_ref()?.pre_stop.as_ref()?;
    exec_command(handler, &container.name, "preStop")
}

/// Runs the preStop hook `command` in container `id` for at most `grace`, and returns
/// the grace left for stopping it.
pub async fn pre_stop(
    runtime: &dyn Runtime,
    id: &str,
    command: &[String],
    grace: Duration,
) -> Duration {
    let began = Instant::now();
    match runtime.exec_sync(id, command, grace).await {
        Ok(out) if out.exit_code != 0 => tracing::warn!(
            container = %id,
            code = out.exit_code,
            stderr = %String::from_utf8_lossy(&out.stderr),
            "preStop hook failed"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(container = %id, error = %e, "preStop hook failed"),
    }
    grace.saturating_sub(began.elapsed()).max(MIN_STOP_GRACE)
}

/// Runs the container's `postStart` exec hook in container `id`, if it has one;
/// `Err` says why it failed.
pub async fn post_start(
    runtime: &dyn Runtime,
    container: &Container,
    id: &str,
) -> Result<(), String> {
    let Some(handler) = container
        .lifecycle
        .as_ref()
        .and_then(|l| l.post_start.as_ref())
    else {
        return Ok(());
    };
    let Some(command) = exec_command(handler, &container.name, "postStart") else {
        return Ok(());
    };
    match runtime.exec_sync(id, &command, POST_START_TIMEOUT).await {
        Ok(out) if out.exit_code == 0 => Ok(()),
        Ok(out) => Err(format!(
            "command {command:?} exited with {}: {}",
            out.exit_code,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(e.to_string()),
    }
}
