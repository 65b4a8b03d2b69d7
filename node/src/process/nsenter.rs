//! Entering a running isolated container, as `nsenter` does, for exec: the command
//! joins the container's cgroups, its IPC, UTS, network, PID and mount namespaces,
//! its root directory and its working directory, then runs as a child of the
//! process that entered (a new PID namespace only applies to children), so it is a
//! process of the container: it sees the container's hostname, files and processes
//! (PID 1 is the container's init) and the pod's network.
//!
//! The namespaces are read from the container's spawned process (`/proc/PID/ns/*`,
//! `pid_for_children` for the PID namespace), opened before `fork`;
//! [`Entry::enter`] runs in the forked child before `exec` and only makes
//! async-signal-safe calls. The entering process waits for the command and exits
//! with its status; if it dies first (the exec session was dropped), the command
//! gets SIGKILL.
//!
//! ```no_run
//! // Used by the process runtime's exec; see `ProcessRuntime::exec`.
//! ```

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

use super::isolation::{self, check, Plan};

/// The namespaces of a running container, opened, and where to go inside it.
#[derive(Debug)]
pub(super) struct Entry {
    /// `(namespace file, CLONE_NEW* type)`, in the order they are joined (mount
    /// last: after it the host's `/proc` is out of sight).
    namespaces: Vec<(File, libc::c_int)>,
    plan: std::sync::Arc<Plan>,
}

impl Entry {
    /// The namespaces of the container whose spawned process is `pid`.
    pub fn of(pid: i32, plan: std::sync::Arc<Plan>) -> io::Result<Entry> {
        let kinds = [
            ("ipc", libc::CLONE_NEWIPC),
            ("uts", libc::CLONE_NEWUTS),
            ("net", libc::CLONE_NEWNET),
            ("pid_for_children", libc::CLONE_NEWPID),
            ("mnt", libc::CLONE_NEWNS),
        ];
        let namespaces = kinds
            .iter()
            .map(|(name, kind)| Ok((File::open(format!("/proc/{pid}/ns/{name}"))?, *kind)))
            .collect::<io::Result<_>>()?;
        Ok(Entry { namespaces, plan })
    }

    /// Joins the container; returns in the process that must `exec` the command.
    ///
    /// # Safety
    /// Call only in a freshly forked child before `exec` (`pre_exec`).
    pub unsafe fn enter(&self) -> io::Result<()> {
        for procs in self.plan.cgroup_procs() {
            isolation::join_cgroup(procs)?;
        }
        for (file, kind) in &self.namespaces {
            check(libc::setns(file.as_raw_fd(), *kind))?;
        }
        check(libc::chroot(self.plan.root().as_ptr()))?;
        if libc::chdir(self.plan.cwd().as_ptr()) != 0 {
            check(libc::chdir(c"/".as_ptr()))?;
        }
        let command = check(libc::fork())?;
        if command > 0 {
            isolation::close_all();
            isolation::exit_like(isolation::wait_for(command));
        }
        // The command: killed if the entering process goes away.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        Ok(())
    }
}
