//! One container's host process: spawning it in its own process group with its
//! output pumped into the log, recording its exit, and signalling the group.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::logs::RotatingLog;
use crate::runtime::{ContainerState, ContainerStatus, RuntimeError};

/// What to run.
#[derive(Clone, Debug, Default)]
pub(super) struct Launch {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub log_path: PathBuf,
    pub log_max_bytes: u64,
    pub log_max_files: usize,
    /// Namespaces, root and mounts (as root); `None`: a plain host process.
    pub isolation: Option<Arc<super::isolation::Plan>>,
    /// The container's cgroups, when its limits are enforced.
    pub cgroup: Option<super::cgroups::Cgroup>,
    /// stdin and tty ([`super::attach`]).
    pub stdio: super::attach::StdioConfig,
}

/// The state a container's tasks and the runtime share.
#[derive(Debug)]
pub(super) struct Shared {
    status: Mutex<ContainerStatus>,
    /// The process group while the process runs.
    pgid: Mutex<Option<i32>>,
    exited: watch::Sender<bool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn new(status: ContainerStatus) -> Arc<Self> {
        Arc::new(Shared {
            status: Mutex::new(status),
            pgid: Mutex::new(None),
            exited: watch::channel(false).0,
        })
    }

    pub fn status(&self) -> ContainerStatus {
        lock(&self.status).clone()
    }

    pub fn state(&self) -> ContainerState {
        lock(&self.status).state
    }

    fn finish(&self, code: i32, reason: &str, message: &str) {
        {
            let mut s = lock(&self.status);
            if s.state == ContainerState::Exited {
                return;
            }
            s.state = ContainerState::Exited;
            s.exit_code = Some(code);
            s.finished_at = Some(SystemTime::now());
            s.reason = reason.to_owned();
            s.message = message.to_owned();
        }
        *lock(&self.pgid) = None;
        self.exited.send_replace(true);
    }

    /// Marks a container that never started as exited.
    pub fn never_started(&self) {
        self.finish(0, "NeverStarted", "stopped before it started");
    }

    /// Resolves once the process has exited (at once if it has, or never started).
    pub fn exited(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut exited = self.exited.subscribe();
        async move {
            let _ = exited.wait_for(|e| *e).await;
        }
    }

    /// Starts the process with its stdio in `io`; on failure the container is
    /// `Exited` with `StartError`.
    pub fn start(
        self: &Arc<Self>,
        launch: &Launch,
        io: &Arc<super::attach::ContainerIo>,
    ) -> Result<(), RuntimeError> {
        let id = lock(&self.status).id.clone();
        let fail = |message: String| {
            if let Some(cg) = &launch.cgroup {
                cg.remove();
            }
            {
                let mut s = lock(&self.status);
                s.started_at = Some(SystemTime::now());
            }
            self.finish(128, "StartError", &message);
            Err(RuntimeError::StartFailed {
                id: id.clone(),
                message,
            })
        };
        let Some((program, args)) = launch.argv.split_first() else {
            return fail(
                "no command to run: the container gives no command and its image no entrypoint"
                    .into(),
            );
        };
        let log =
            match RotatingLog::open(&launch.log_path, launch.log_max_bytes, launch.log_max_files) {
                Ok(l) => Arc::new(Mutex::new(l)),
                Err(e) => return fail(format!("opening log {}: {e}", launch.log_path.display())),
            };
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(false);
        let terminal = match io.configure(&mut cmd) {
            Ok(t) => t,
            Err(e) => return fail(e.to_string()),
        };
        match &launch.isolation {
            Some(plan) => {
                let plan = plan.clone();
                // SAFETY: `enter` runs in the forked child before exec and only makes
                // async-signal-safe calls (everything was prepared by `Plan::new`).
                unsafe {
                    cmd.pre_exec(move || plan.enter());
                }
            }
            None => {
                cmd.current_dir(&launch.cwd);
            }
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return fail(format!("exec {program:?}: {e}")),
        };
        let pid = child.id().and_then(|p| i32::try_from(p).ok());
        *lock(&self.pgid) = pid;
        {
            let mut s = lock(&self.status);
            s.state = ContainerState::Running;
            s.started_at = Some(SystemTime::now());
            s.log_path = Some(launch.log_path.clone());
        }
        if let Err(e) = io.connect(&mut child, terminal, log) {
            tracing::warn!(container = %id, error = %e, "connecting the container's stdio");
        }
        let shared = self.clone();
        let cgroup = launch.cgroup.clone();
        tokio::spawn(async move {
            let waited = child.wait().await;
            let oom = cgroup.as_ref().is_some_and(|c| c.oom_killed());
            match waited {
                Ok(status) => {
                    let code = status
                        .code()
                        .or_else(|| status.signal().map(|s| 128 + s))
                        .unwrap_or(255);
                    let reason = match code {
                        0 => "Completed",
                        _ if oom => "OOMKilled",
                        _ => "Error",
                    };
                    shared.finish(code, reason, "");
                }
                Err(e) => shared.finish(255, "Error", &format!("waiting for the process: {e}")),
            }
            if let Some(cg) = cgroup {
                let _ = tokio::task::spawn_blocking(move || cg.remove()).await;
            }
        });
        Ok(())
    }

    /// The container's process group while it runs.
    pub fn pgid(&self) -> Option<i32> {
        *lock(&self.pgid)
    }

    /// Sends `signal` to the process group, if it runs.
    pub fn signal(&self, signal: i32) {
        if let Some(pgid) = *lock(&self.pgid) {
            // SAFETY: kill has no memory-safety preconditions; a negative pid
            // addresses the container's own process group.
            unsafe {
                libc::kill(-pgid, signal);
            }
        }
    }

    /// SIGTERM, up to `grace`, then SIGKILL; returns once the process exited.
    pub async fn stop(&self, grace: Duration) -> Result<(), RuntimeError> {
        let mut exited = self.exited.subscribe();
        if *exited.borrow() {
            return Ok(());
        }
        if !grace.is_zero() {
            self.signal(libc::SIGTERM);
            if tokio::time::timeout(grace, exited.wait_for(|e| *e))
                .await
                .is_ok()
            {
                return Ok(());
            }
        }
        self.signal(libc::SIGKILL);
        let waited = tokio::time::timeout(Duration::from_secs(10), exited.wait_for(|e| *e))
            .await
            .is_ok();
        if waited {
            Ok(())
        } else {
            Err(RuntimeError::Internal(format!(
                "container {} did not exit 10s after SIGKILL",
                lock(&self.status).id
            )))
        }
    }
}
