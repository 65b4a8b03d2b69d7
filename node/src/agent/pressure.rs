//! The node's resource pressure conditions (`MemoryPressure`, `DiskPressure`,
//! `PIDPressure`) from the machine, against thresholds like the kubelet's hard
//! eviction defaults: `memory.available<100Mi`, `nodefs.available<10%`,
//! `nodefs.inodesFree<5%`, and fewer than 10% of `pid_max` left.
//!
//! [`measure`] reads `/proc/meminfo` (`MemAvailable`), `statvfs` of the agent's data
//! directory and `/proc/loadavg` (tasks in use) with `/proc/sys/kernel/pid_max`;
//! [`Pressure::evaluate`] is pure.
//!
//! ```
//! use skiff_node::agent::pressure::{Thresholds, Usage};
//! let usage = Usage { memory_available: Some(50 << 20), ..Usage::default() };
//! let p = usage.evaluate(&Thresholds::default());
//! assert!(p.memory.is_some());      // under 100Mi: MemoryPressure
//! assert!(p.disk.is_none() && p.pids.is_none());
//! ```

use std::path::Path;

/// When a condition turns True.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// MemoryPressure below this many available bytes (100 MiB).
    pub memory_available_bytes: u64,
    /// DiskPressure below this fraction of free space on the data directory's file
    /// system (0.10).
    pub disk_available_ratio: f64,
    /// DiskPressure below this fraction of free inodes (0.05).
    pub inodes_free_ratio: f64,
    /// PIDPressure below this fraction of free process ids (0.10).
    pub pids_available_ratio: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            memory_available_bytes: 100 << 20,
            disk_available_ratio: 0.10,
            inodes_free_ratio: 0.05,
            pids_available_ratio: 0.10,
        }
    }
}

/// What the machine reports; `None`: it did not say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// `MemAvailable` in bytes.
    pub memory_available: Option<u64>,
    /// Free and total bytes of the data directory's file system.
    pub disk: Option<(u64, u64)>,
    /// Free and total inodes of it.
    pub inodes: Option<(u64, u64)>,
    /// Tasks in use and `pid_max`.
    pub pids: Option<(u64, u64)>,
}

/// The conditions under pressure, each with its message (`None`: no pressure).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pressure {
    /// Why MemoryPressure is True.
    pub memory: Option<String>,
    /// Why DiskPressure is True.
    pub disk: Option<String>,
    /// Why PIDPressure is True.
    pub pids: Option<String>,
}

impl Usage {
    /// Compares the usage with `t`.
    pub fn evaluate(&self, t: &Thresholds) -> Pressure {
        let memory = self
            .memory_available
            .filter(|a| *a < t.memory_available_bytes)
            .map(|a| {
                format!(
                    "memory available {} MiB is below {} MiB",
                    a >> 20,
                    t.memory_available_bytes >> 20
                )
            });
        let ratio = |free: u64, total: u64| {
            if total == 0 {
                1.0
            } else {
                free as f64 / total as f64
            }
        };
        let disk = self
            .disk
            .filter(|(f, total)| ratio(*f, *total) < t.disk_available_ratio)
            .map(|(f, total)| {
                format!(
                    "disk available {:.1}% is below {:.0}%",
                    100.0 * ratio(f, total),
                    100.0 * t.disk_available_ratio
                )
            })
            .or_else(|| {
                self.inodes
                    .filter(|(f, total)| ratio(*f, *total) < t.inodes_free_ratio)
                    .map(|(f, total)| {
                        format!(
                            "free inodes {:.1}% are below {:.0}%",
                            100.0 * ratio(f, total),
                            100.0 * t.inodes_free_ratio
                        )
                    })
            });
        let pids = self
            .pids
            .filter(|(used, max)| ratio(max.saturating_sub(*used), *max) < t.pids_available_ratio)
            .map(|(used, max)| format!("{used} of {max} process ids in use"));
        Pressure { memory, disk, pids }
    }
}

/// `MemAvailable` in bytes from the text of /proc/meminfo.
fn mem_available(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

/// Tasks in use from the text of /proc/loadavg (`0.1 0.2 0.3 5/233 1234`).
fn tasks(loadavg: &str) -> Option<u64> {
    loadavg
        .split_whitespace()
        .nth(3)
        .and_then(|f| f.split('/').nth(1))
        .and_then(|n| n.parse().ok())
}

fn statvfs(dir: &Path) -> Option<((u64, u64), (u64, u64))> {
    use std::os::unix::ffi::OsStrExt;
    // The data directory may not exist yet: measure its nearest existing ancestor.
    let dir = dir.ancestors().find(|d| d.exists())?;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and `st` is writable memory of the right size.
    if unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ between libcs
    let (frsize, blocks, avail, files, ffree) = (
        st.f_frsize as u64,
        st.f_blocks as u64,
        st.f_bavail as u64,
        st.f_files as u64,
        st.f_ffree as u64,
    );
    Some(((avail * frsize, blocks * frsize), (ffree, files)))
}

/// Reads the machine's usage, for the file system holding `data_dir`.
pub fn measure(data_dir: &Path) -> Usage {
    let fs = statvfs(data_dir);
    let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let used = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| tasks(&s));
    Usage {
        memory_available: std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| mem_available(&m)),
        disk: fs.map(|f| f.0),
        inodes: fs.map(|f| f.1).filter(|(_, total)| *total > 0),
        pids: used.zip(pid_max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            mem_available("MemTotal: 10 kB\nMemAvailable:    2048 kB\n"),
            Some(2 << 20)
        );
        assert_eq!(tasks("16.39 15.55 13.03 16/233 14274\n"), Some(233));
        assert_eq!(tasks("garbage"), None);
    }

    #[test]
    fn thresholds() {
        let t = Thresholds::default();
        let calm = Usage {
            memory_available: Some(1 << 30),
            disk: Some((50, 100)),
            inodes: Some((50, 100)),
            pids: Some((100, 32768)),
        };
        assert_eq!(calm.evaluate(&t), Pressure::default());
        let full = Usage {
            memory_available: Some(1 << 20),
            disk: Some((5, 100)),
            inodes: Some((50, 100)),
            pids: Some((32000, 32768)),
        };
        let p = full.evaluate(&t);
        assert!(
            p.memory.is_some() && p.disk.is_some() && p.pids.is_some(),
            "{p:?}"
        );
        let no_inodes = Usage {
            inodes: Some((1, 100)),
            ..calm
        };
        assert!(no_inodes.evaluate(&t).disk.unwrap().contains("inodes"));
    }

    #[test]
    fn measures_this_machine() {
        let u = measure(Path::new("/"));
        assert!(u.memory_available.is_some_and(|m| m > 0));
        assert!(u.disk.is_some_and(|(_, total)| total > 0));
    }
}
