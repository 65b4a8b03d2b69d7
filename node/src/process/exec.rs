//! Exec in a process-runtime container: the command runs with the container's
//! environment, in the container's process group (so stopping the container stops
//! it too), on pipes or on a pseudo-terminal. In an isolated container it enters the
//! container's namespaces, cgroups, root and working directory first
//! ([`super::nsenter`]); in a host-process container it runs on the host in the
//! container's working directory.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use super::child::Launch;
use crate::runtime::{ExecRequest, ExecSession, RuntimeError, TerminalSize};

/// The exit code of a finished process: its code, or 128 + the signal that killed it.
pub(super) fn exit_code(status: std::process::ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(255)
}

/// The command, set to enter the container whose spawned process is `pid` when it is
/// isolated.
fn command(
    request: &ExecRequest,
    launch: &Launch,
    pid: Option<i32>,
) -> Result<tokio::process::Command, RuntimeError> {
    let Some((program, args)) = request.command.split_first() else {
        return Err(RuntimeError::StartFailed {
            id: request.container_id.clone(),
            message: "exec: no command given".into(),
        });
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(true);
    match (&launch.isolation, pid) {
        (Some(plan), Some(pid)) => {
            let entry = super::nsenter::Entry::of(pid, plan.clone()).map_err(|e| {
                RuntimeError::StartFailed {
                    id: request.container_id.clone(),
                    message: format!("exec: entering the container's namespaces: {e}"),
                }
            })?;
            // SAFETY: `enter` only makes async-signal-safe calls on data prepared
            // before the fork.
            unsafe {
                cmd.pre_exec(move || entry.enter());
            }
        }
        (Some(_), None) => {
            return Err(RuntimeError::InvalidState(format!(
                "container {} has no process to enter",
                request.container_id
            )))
        }
        (None, _) => {
            cmd.current_dir(&launch.cwd);
        }
    }
    Ok(cmd)
}

fn start_failed(request: &ExecRequest, e: std::io::Error) -> RuntimeError {
    RuntimeError::StartFailed {
        id: request.container_id.clone(),
        message: format!(
            "exec {:?}: {e}",
            request.command.first().map(String::as_str).unwrap_or("")
        ),
    }
}

/// Starts `request` on pipes, in process group `pgid` when the container runs.
pub(super) fn exec_pipes(
    request: &ExecRequest,
    launch: &Launch,
    pgid: Option<i32>,
) -> Result<ExecSession, RuntimeError> {
    let mut cmd = command(request, launch, pgid)?;
    let pipe = |wanted: bool| {
        if wanted {
            Stdio::piped()
        } else {
            Stdio::null()
        }
    };
    cmd.stdin(pipe(request.stdin))
        .stdout(pipe(request.stdout))
        .stderr(pipe(request.stderr));
    if let Some(pgid) = pgid {
        cmd.process_group(pgid);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        // The group may have just ended with the container: run in a group of its own.
        Err(_) if pgid.is_some() => {
            cmd.process_group(0);
            cmd.spawn().map_err(|e| start_failed(request, e))?
        }
        Err(e) => return Err(start_failed(request, e)),
    };
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    Ok(ExecSession {
        stdin: stdin.map(|s| Box::pin(s) as _),
        stdout: stdout.map(|s| Box::pin(s) as _),
        stderr: stderr.map(|s| Box::pin(s) as _),
        exit: Box::pin(async move {
            child
                .wait()
                .await
                .map(exit_code)
                .map_err(|e| RuntimeError::Internal(format!("waiting for exec: {e}")))
        }),
        resize: None,
    })
}

fn set_size(fd: i32, size: TerminalSize) {
    let ws = libc::winsize {
        ws_row: size.height,
        ws_col: size.width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which outlives the call.
    unsafe {
        libc::ioctl(fd, libc::TIOCSWINSZ, &ws);
    }
}

/// Starts `request` on a new pseudo-terminal (its own session, the terminal as its
/// controlling terminal); stdout carries the terminal's output. `pid`: the
/// container's spawned process, whose namespaces an isolated container's exec joins.
pub(super) fn exec_tty(
    request: &ExecRequest,
    launch: &Launch,
    pid: Option<i32>,
) -> Result<ExecSession, RuntimeError> {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    // SAFETY: openpty writes two descriptors into the given ints; the name, termios and
    // winsize pointers may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(RuntimeError::Internal(format!(
            "openpty: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: openpty succeeded, so both descriptors are open and owned by nobody else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let io = |e: std::io::Error| RuntimeError::Internal(format!("pty: {e}"));
    let mut cmd = command(request, launch, pid)?;
    cmd.stdin(Stdio::from(slave.try_clone().map_err(io)?))
        .stdout(Stdio::from(slave.try_clone().map_err(io)?))
        .stderr(Stdio::from(slave));
    // SAFETY: setsid and ioctl are async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| start_failed(request, e))?;
    drop(cmd);
    let writer = master.try_clone().map_err(io)?;
    let resize_fd = master.try_clone().map_err(io)?;
    let reader = tokio::fs::File::from_std(std::fs::File::from(master));
    let writer = tokio::fs::File::from_std(std::fs::File::from(writer));
    Ok(ExecSession {
        stdin: request.stdin.then(|| Box::pin(writer) as _),
        stdout: Some(Box::pin(reader) as _),
        stderr: None,
        exit: Box::pin(async move {
            child
                .wait()
                .await
                .map(exit_code)
                .map_err(|e| RuntimeError::Internal(format!("waiting for exec: {e}")))
        }),
        resize: Some(Box::new(move |size| set_size(resize_fd.as_raw_fd(), size))),
    })
}
