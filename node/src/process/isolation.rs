//! Isolation of a container process when the agent runs as root: its own mount, PID,
//! UTS and IPC namespaces, a root file system of its own, its volumes bind-mounted,
//! and (with [`super::cgroups`]) its cgroup.
//!
//! The work happens in the spawned child before `exec` ([`Plan::enter`], called from
//! `pre_exec`), so the host never sees a mount:
//!
//! 1. the pod's network namespace is joined (when it has one, see
//!    [`super::network`]), then `unshare(NEWNS|NEWPID|NEWUTS|NEWIPC)`, then `/` is made recursively *private*
//!    before anything is mounted, so no mount propagates back to the host; the
//!    hostname is set; the process joins its cgroups.
//! 2. The new root is built on a per-container directory: an overlay of the image's
//!    root file system (upper layer per container) when the image store has one, else
//!    a tmpfs holding copy-on-write overlays of the host's system directories (`/usr`,
//!    `/bin`, `/lib`, `/etc`, ...; read-only binds where an overlay cannot be made),
//!    the host's `/dev` with a private `/dev/shm`, and an empty `/tmp`. Then each volume is bind-mounted at its path (read-only ones
//!    remounted read-only).
//! 3. A fork makes the container's init (PID 1 of the new PID namespace): it mounts a
//!    fresh `/proc`, `chroot`s into the new root and forks once more; the grandchild
//!    restores the default signal dispositions, changes to the working directory and
//!    returns so that the standard library `exec`s the command in it. Init reaps
//!    orphans and exits with the command's status; the spawned process waits for init
//!    and exits with its status, so the runtime sees the command's exit code. The
//!    spawned process ignores SIGTERM: the runtime's signals to the process group reach
//!    the command itself, and the grace period means what it says.
//!
//! The mount namespace (and with it every mount) disappears when its last process
//! exits; nothing needs unmounting on the host.
//!
//! Everything the child needs is computed beforehand ([`Plan::new`]): after `fork` in
//! a threaded program only async-signal-safe calls are allowed, so `enter` allocates
//! nothing.
//!
//! ```no_run
//! // Used by the process runtime; see `ProcessRuntimeConfig::isolate`.
//! ```

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::runtime::Mount;

/// The host directories a container without an image root file system sees
/// (read-only).
const HOST_DIRS: &[&str] = &[
    "bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "opt",
];

/// Signals the spawned process and init ignore (the command gets the defaults back).
const FORWARDED: &[libc::c_int] = &[
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

fn cs(p: impl AsRef<Path>) -> io::Result<CString> {
    CString::new(p.as_ref().as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// The root file system of the container.
#[derive(Debug)]
enum Root {
    /// An overlay of an image's root file system.
    Overlay { options: CString },
    /// A tmpfs with the host's system directories.
    Host {
        /// `(target, source, overlay options)`: an overlay over the host directory
        /// (so that mount points can be made without touching the host), else a
        /// read-only bind when the overlay fails.
        binds: Vec<(CString, CString, CString)>,
        /// `(link path, link target)` for host entries that are symlinks.
        links: Vec<(CString, CString)>,
        dev: CString,
        dev_shm: CString,
        tmp: CString,
    },
}

/// One volume mount, resolved to C strings.
#[derive(Debug)]
struct BindMount {
    source: CString,
    target: CString,
    /// Directories to create (outermost first) before mounting.
    parents: Vec<CString>,
    /// The target is a file (an empty file is created as the mount point).
    file: bool,
    readonly: bool,
}

/// Everything the child needs, computed before `fork`.
#[derive(Debug)]
pub struct Plan {
    /// The pod's network namespace (a pinned file, opened), joined first; `None`:
    /// the host's network.
    netns: Option<std::fs::File>,
    hostname: CString,
    root: CString,
    root_kind: Root,
    binds: Vec<BindMount>,
    proc_dir: CString,
    cwd: CString,
    cgroup_procs: Vec<CString>,
}

/// The directories from `root` down to `root/rel` (exclusive of `root`).
fn parents_of(root: &Path, rel: &Path) -> io::Result<Vec<CString>> {
    let mut out = Vec::new();
    let mut cur = root.to_path_buf();
    for c in rel.components() {
        if let std::path::Component::Normal(n) = c {
            cur.push(n);
            out.push(cs(&cur)?);
        }
    }
    Ok(out)
}

fn relative(container_path: &str) -> io::Result<PathBuf> {
    let p = Path::new(container_path);
    if !p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("mount path {container_path:?} must be absolute without '..'"),
        ));
    }
    Ok(p.components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .collect())
}

impl Plan {
    /// A plan for a container whose root is built in `dir` (created here), with the
    /// image's root file system `image_rootfs` if it has one, joining the network
    /// namespace pinned at `netns` if given.
    pub fn new(
        dir: &Path,
        image_rootfs: Option<&Path>,
        hostname: &str,
        mounts: &[Mount],
        cwd: &str,
        cgroup_procs: Vec<PathBuf>,
        netns: Option<&Path>,
    ) -> io::Result<Plan> {
        let netns = netns.map(std::fs::File::open).transpose()?;
        // Absolute: exec enters the container's mount namespace, which resets the
        // working directory to `/`, before it changes to the container's root (a data
        // directory such as `skiff up`'s `./.skiff` is relative).
        let dir = std::path::absolute(dir)?;
        let image_rootfs = image_rootfs.map(std::path::absolute).transpose()?;
        let image_rootfs = image_rootfs.as_deref();
        let root = dir.join("root");
        std::fs::create_dir_all(&root)?;
        let root_kind = match image_rootfs {
            Some(lower) => {
                let upper = dir.join("upper");
                let work = dir.join("work");
                std::fs::create_dir_all(&upper)?;
                std::fs::create_dir_all(&work)?;
                let options = format!(
                    "lowerdir={},upperdir={},workdir={}",
                    lower.display(),
                    upper.display(),
                    work.display()
                );
                Root::Overlay {
                    options: CString::new(options)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
                }
            }
            None => {
                let mut binds = Vec::new();
                let mut links = Vec::new();
                for name in HOST_DIRS {
                    let host = Path::new("/").join(name);
                    let Ok(meta) = std::fs::symlink_metadata(&host) else {
                        continue;
                    };
                    if meta.file_type().is_symlink() {
                        links.push((cs(root.join(name))?, cs(std::fs::read_link(&host)?)?));
                    } else if meta.is_dir() {
                        let upper = dir.join("upper").join(name);
                        let work = dir.join("work").join(name);
                        std::fs::create_dir_all(&upper)?;
                        std::fs::create_dir_all(&work)?;
                        let options = format!(
                            "lowerdir={},upperdir={},workdir={}",
                            host.display(),
                            upper.display(),
                            work.display()
                        );
                        let options = CString::new(options)
                            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                        binds.push((cs(root.join(name))?, cs(&host)?, options));
                    }
                }
                Root::Host {
                    binds,
                    links,
                    dev: cs(root.join("dev"))?,
                    dev_shm: cs(root.join("dev/shm"))?,
                    tmp: cs(root.join("tmp"))?,
                }
            }
        };
        let mut binds = Vec::new();
        for m in mounts {
            let rel = relative(&m.container_path)?;
            let file = std::fs::metadata(&m.host_path)?.is_file();
            let mut parents = parents_of(&root, &rel)?;
            let target = parents
                .pop()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "mount at /"))?;
            binds.push(BindMount {
                source: cs(std::path::absolute(&m.host_path)?)?,
                target,
                parents,
                file,
                readonly: m.readonly,
            });
        }
        Ok(Plan {
            netns,
            hostname: CString::new(hostname.as_bytes())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
            proc_dir: cs(root.join("proc"))?,
            root: cs(&root)?,
            root_kind,
            binds,
            cwd: CString::new(if cwd.is_empty() { "/" } else { cwd })
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
            cgroup_procs: cgroup_procs.iter().map(cs).collect::<io::Result<_>>()?,
        })
    }

    /// Enters the namespaces and the new root; returns in the process that must
    /// `exec` the command. Never returns in the two helper processes.
    ///
    /// # Safety
    /// Call only in a freshly forked child before `exec` (`pre_exec`): it forks and
    /// exits processes and changes the process's namespaces and root.
    pub unsafe fn enter(&self) -> io::Result<()> {
        if let Some(ns) = &self.netns {
            use std::os::fd::AsRawFd;
            check(libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET))?;
        }
        check(libc::unshare(
            libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC,
        ))?;
        // Before anything else: nothing mounted from here on reaches the host.
        check(libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))?;
        check(libc::sethostname(
            self.hostname.as_ptr(),
            self.hostname.as_bytes().len(),
        ))?;
        for procs in &self.cgroup_procs {
            join_cgroup(procs)?;
        }
        self.build_root()?;
        for b in &self.binds {
            for p in &b.parents {
                mkdir(p, 0o755)?;
            }
            if b.file {
                let fd = libc::open(
                    b.target.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o644,
                );
                if fd >= 0 {
                    libc::close(fd);
                }
            } else {
                mkdir(&b.target, 0o755)?;
            }
            bind(&b.source, &b.target, b.readonly)?;
        }
        for s in FORWARDED {
            libc::signal(*s, libc::SIG_IGN);
        }
        // The spawned process: wait for init, exit with its status.
        let init = check(libc::fork())?;
        if init > 0 {
            close_all();
            exit_like(wait_for(init));
        }
        // Init: PID 1 of the new namespace.
        if libc::mount(
            c"proc".as_ptr(),
            self.proc_dir.as_ptr(),
            c"proc".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        ) != 0
        {
            die(b"skiff: mounting /proc in the container failed\n");
        }
        if libc::chroot(self.root.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
            die(b"skiff: entering the container's root failed\n");
        }
        let command = libc::fork();
        if command < 0 {
            die(b"skiff: fork in the container failed\n");
        }
        if command > 0 {
            close_all();
            loop {
                let mut status = 0;
                let pid = libc::waitpid(-1, &mut status, 0);
                if pid == command {
                    exit_like(status);
                }
                if pid < 0 && *libc::__errno_location() != libc::EINTR {
                    libc::_exit(255);
                }
            }
        }
        // The command's process.
        for s in FORWARDED {
            libc::signal(*s, libc::SIG_DFL);
        }
        if libc::chdir(self.cwd.as_ptr()) != 0 {
            die(b"skiff: the container's working directory does not exist\n");
        }
        Ok(())
    }

    /// The container's root directory (where its root file system is mounted, in
    /// its mount namespace).
    pub(super) fn root(&self) -> &CString {
        &self.root
    }

    /// The container's working directory.
    pub(super) fn cwd(&self) -> &CString {
        &self.cwd
    }

    /// The `cgroup.procs` files of its cgroups.
    pub(super) fn cgroup_procs(&self) -> &[CString] {
        &self.cgroup_procs
    }

    unsafe fn build_root(&self) -> io::Result<()> {
        match &self.root_kind {
            Root::Overlay { options } => {
                check(libc::mount(
                    c"overlay".as_ptr(),
                    self.root.as_ptr(),
                    c"overlay".as_ptr(),
                    0,
                    options.as_ptr().cast(),
                ))?;
            }
            Root::Host {
                binds,
                links,
                dev,
                dev_shm,
                tmp,
            } => {
                check(libc::mount(
                    c"tmpfs".as_ptr(),
                    self.root.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID,
                    c"mode=0755".as_ptr().cast(),
                ))?;
                for (target, source, options) in binds {
                    mkdir(target, 0o755)?;
                    let overlay = libc::mount(
                        c"overlay".as_ptr(),
                        target.as_ptr(),
                        c"overlay".as_ptr(),
                        0,
                        options.as_ptr().cast(),
                    );
                    if overlay != 0 {
                        bind(source, target, true)?;
                    }
                }
                for (path, target) in links {
                    check(libc::symlink(target.as_ptr(), path.as_ptr()))?;
                }
                mkdir(dev, 0o755)?;
                check(libc::mount(
                    c"/dev".as_ptr(),
                    dev.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ))?;
                // A private /dev/shm (IPC isolation); absent on some hosts.
                libc::mount(
                    c"shm".as_ptr(),
                    dev_shm.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    c"mode=1777".as_ptr().cast(),
                );
                mkdir(tmp, 0o1777)?;
                libc::chmod(tmp.as_ptr(), 0o1777);
            }
        }
        mkdir(&self.proc_dir, 0o555)?;
        Ok(())
    }
}

pub(super) fn check<T: PartialOrd + Default>(rc: T) -> io::Result<T> {
    if rc < T::default() {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

unsafe fn mkdir(path: &CString, mode: libc::mode_t) -> io::Result<()> {
    if libc::mkdir(path.as_ptr(), mode) != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(e);
        }
    }
    Ok(())
}

unsafe fn bind(source: &CString, target: &CString, readonly: bool) -> io::Result<()> {
    check(libc::mount(
        source.as_ptr(),
        target.as_ptr(),
        std::ptr::null(),
        libc::MS_BIND | libc::MS_REC,
        std::ptr::null(),
    ))?;
    if readonly {
        check(libc::mount(
            std::ptr::null(),
            target.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
            std::ptr::null(),
        ))?;
    }
    Ok(())
}

/// Writes "0" (the writing process) to a cgroup's `cgroup.procs`.
pub(super) unsafe fn join_cgroup(procs: &CString) -> io::Result<()> {
    let fd = check(libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC))?;
    let rc = libc::write(fd, c"0".as_ptr().cast(), 1);
    libc::close(fd);
    check(rc).map(drop)
}

/// Closes every descriptor, so that the parent's `spawn` sees the exec pipe close
/// (once the command execs) and the log pipes end with the command.
pub(super) unsafe fn close_all() {
    if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
        for fd in 0..4096 {
            libc::close(fd);
        }
    }
}

pub(super) unsafe fn wait_for(pid: libc::pid_t) -> libc::c_int {
    loop {
        let mut status = 0;
        let rc = libc::waitpid(pid, &mut status, 0);
        if rc == pid {
            return status;
        }
        if rc < 0 && *libc::__errno_location() != libc::EINTR {
            return 255 << 8;
        }
    }
}

/// Exits with a wait status's code (128 + signal for a killed process).
pub(super) unsafe fn exit_like(status: libc::c_int) -> ! {
    if libc::WIFEXITED(status) {
        libc::_exit(libc::WEXITSTATUS(status));
    }
    if libc::WIFSIGNALED(status) {
        libc::_exit(128 + libc::WTERMSIG(status));
    }
    libc::_exit(255)
}

pub(super) unsafe fn die(message: &[u8]) -> ! {
    libc::write(2, message.as_ptr().cast(), message.len());
    libc::_exit(127)
}

/// Whether this process may isolate containers: it runs as root *and* may create
/// mount, PID, UTS and IPC namespaces (root in an unprivileged container may not).
/// Probed once, by starting `true` in new namespaces.
pub fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return false;
        }
        let mut probe = std::process::Command::new("true");
        probe
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // SAFETY: between fork and exec the closure only calls unshare(2), which is
        // async-signal-safe, and reads errno.
        unsafe {
            use std::os::unix::process::CommandExt;
            probe.pre_exec(|| {
                if libc::unshare(
                    libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC,
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        match probe.status() {
            Ok(status) if status.success() => true,
            Ok(status) => {
                tracing::warn!(%status, "namespace probe failed: containers run as host processes");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot create namespaces: containers run as host processes");
                false
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_are_checked_and_split() {
        assert_eq!(relative("/a/b").unwrap(), PathBuf::from("a/b"));
        assert!(relative("a").is_err());
        assert!(relative("/a/../b").is_err());
        let ps = parents_of(Path::new("/r"), Path::new("a/b")).unwrap();
        assert_eq!(ps, vec![cs("/r/a").unwrap(), cs("/r/a/b").unwrap()]);
    }
}
