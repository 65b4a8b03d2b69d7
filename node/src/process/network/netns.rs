//! Network namespaces kept alive by a bind mount (as `ip netns add` does), and
//! running work inside one on a thread of its own.
//!
//! A namespace is created by a fresh thread that `unshare`s its network namespace
//! (namespaces belong to threads, so the rest of the agent is untouched) and
//! bind-mounts `/proc/thread-self/ns/net` on a file; the namespace lives as long as
//! that mount (or a process in it). [`remove`] unmounts and deletes the file.
//! [`run_in`] runs a closure on a new thread that first joins a namespace, so
//! sockets it opens (netlink, TCP) belong to that namespace for good.
//!
//! ```no_run
//! use skiff_node::process::network::netns;
//! let path = std::path::Path::new("/var/lib/skiff/node/netns/pod-1");
//! netns::create(path).unwrap();
//! let up = netns::run_in(Some(path), || std::fs::read_to_string("/proc/net/dev")).unwrap();
//! netns::remove(path).unwrap();
//! ```

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cstr(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// Joins the network namespace of the file at `path` (this thread only).
pub fn enter(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    // SAFETY: setns on an open namespace descriptor; affects only this thread.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` on a new thread, inside the network namespace at `netns` (or the
/// agent's, with `None`), and returns its result.
pub fn run_in<T, F>(netns: Option<&Path>, f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let netns = netns.map(Path::to_path_buf);
    std::thread::Builder::new()
        .name("skiff-netns".into())
        .spawn(move || -> io::Result<T> {
            if let Some(path) = &netns {
                enter(path)?;
            }
            Ok(f())
        })?
        .join()
        .map_err(|_| io::Error::other("a thread working in a network namespace panicked"))?
}

/// Creates a network namespace and pins it at `path` (a new file; its directory is
/// created). On failure nothing is left behind.
pub fn create(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    let target = cstr(path)?;
    let pinned = run_in(None, move || -> io::Result<()> {
        // SAFETY: unshare and mount on this thread only; the strings outlive the calls.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::mount(
                c"/proc/thread-self/ns/net".as_ptr(),
                target.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    })
    .and_then(|r| r);
    if let Err(e) = pinned {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(())
}

/// Unpins the namespace at `path` and deletes the file; the namespace ends once no
/// process is left in it. Idempotent.
pub fn remove(path: &Path) -> io::Result<()> {
    let target = cstr(path)?;
    // SAFETY: umount2 with a valid path string; failures are reported by errno.
    let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        // EINVAL: not a mount point (already unmounted); ENOENT: no file.
        if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOENT)) {
            return Err(e);
        }
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
