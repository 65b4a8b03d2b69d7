//! CPU and memory limits of a container process through cgroups (v1 or v2), when the
//! agent runs as root and the machine has them.
//!
//! Each limited container gets `skiff/<container id>` in the memory and cpu
//! hierarchies (v1: `/sys/fs/cgroup/{memory,cpu}/skiff/<id>`; v2:
//! `/sys/fs/cgroup/skiff/<id>`), with `limits.memory` as the memory limit,
//! `limits.cpu` as the CFS quota (100 ms period) and `requests.cpu` as the weight. The
//! container's process joins them before it `exec`s (see `isolation`), so its
//! children are limited too. [`Cgroup::oom_killed`] tells an OOM kill apart from other
//! SIGKILLs; [`Cgroup::remove`] cleans up once the processes are gone.
//!
//! ```no_run
//! use skiff_node::process::cgroups::Cgroup;
//! use skiff_node::runtime::ContainerResources;
//! let limits = ContainerResources { memory_limit_bytes: Some(64 << 20), ..Default::default() };
//! match Cgroup::create(std::path::Path::new("/sys/fs/cgroup"), "c1", &limits) {
//!     Ok(cg) => cg.remove(),
//!     Err(why) => eprintln!("limits not enforced: {why}"),
//! }
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::runtime::ContainerResources;

/// The CFS period, as the kubelet's.
const PERIOD_US: u64 = 100_000;

/// Why a container's limits could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CgroupError {
    /// The agent is not root.
    #[error("the agent does not run as root")]
    NotRoot,
    /// No usable cgroup hierarchy.
    #[error("no cgroup v2 nor v1 memory/cpu hierarchies under {0}")]
    NoHierarchy(String),
    /// Writing the cgroup file system failed.
    #[error("{path}: {message}")]
    Io {
        /// The file or directory.
        path: String,
        /// What failed.
        message: String,
    },
}

/// Which cgroup version the machine runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// One container's cgroups.
#[derive(Clone, Debug)]
pub struct Cgroup {
    version: Version,
    /// v2: one directory; v1: memory then cpu.
    dirs: Vec<PathBuf>,
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(path, value).map_err(|e| CgroupError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

fn mkdir(path: &Path) -> Result<(), CgroupError> {
    std::fs::create_dir_all(path).map_err(|e| CgroupError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// `requests.cpu` millicores as v1 `cpu.shares` (the kubelet's formula).
pub fn shares(millis: u64) -> u64 {
    (millis * 1024 / 1000).max(2)
}

/// v1 shares as a v2 `cpu.weight` (the runc formula).
pub fn weight(shares: u64) -> u64 {
    1 + (shares.saturating_sub(2) * 9999) / 262_142
}

impl Cgroup {
    /// Creates the cgroups of container `id` under the cgroup root `base`
    /// (`/sys/fs/cgroup`) with `limits`.
    pub fn create(base: &Path, id: &str, limits: &ContainerResources) -> Result<Self, CgroupError> {
        if !super::isolation::available() {
            return Err(CgroupError::NotRoot);
        }
        let cpu_quota = limits
            .cpu_limit_millis
            .map(|m| (m * PERIOD_US / 1000).max(1000));
        let cpu_shares = limits.cpu_request_millis.map(shares);
        if base.join("cgroup.controllers").exists() {
            let parent = base.join("skiff");
            mkdir(&parent)?;
            // Enabling may fail for a controller the parent lacks; the limit writes
            // below then say so.
            let _ = write(&base.join("cgroup.subtree_control"), "+memory +cpu");
            let _ = write(&parent.join("cgroup.subtree_control"), "+memory +cpu");
            let dir = parent.join(id);
            mkdir(&dir)?;
            let cg = Cgroup {
                version: Version::V2,
                dirs: vec![dir.clone()],
            };
            let apply = || {
                if let Some(m) = limits.memory_limit_bytes {
                    write(&dir.join("memory.max"), &m.to_string())?;
                    let _ = write(&dir.join("memory.swap.max"), "0");
                }
                if let Some(q) = cpu_quota {
                    write(&dir.join("cpu.max"), &format!("{q} {PERIOD_US}"))?;
                }
                if let Some(s) = cpu_shares {
                    write(&dir.join("cpu.weight"), &weight(s).to_string())?;
                }
                Ok(())
            };
            return apply().map(|()| cg.clone()).inspect_err(|_| cg.remove());
        }
        let (memory, cpu) = (base.join("memory"), base.join("cpu"));
        if !memory.is_dir() || !cpu.is_dir() {
            return Err(CgroupError::NoHierarchy(base.display().to_string()));
        }
        let (mem_dir, cpu_dir) = (memory.join("skiff").join(id), cpu.join("skiff").join(id));
        mkdir(&mem_dir)?;
        mkdir(&cpu_dir)?;
        let cg = Cgroup {
            version: Version::V1,
            dirs: vec![mem_dir.clone(), cpu_dir.clone()],
        };
        let apply = || {
            if let Some(m) = limits.memory_limit_bytes {
                write(&mem_dir.join("memory.limit_in_bytes"), &m.to_string())?;
            }
            if let Some(q) = cpu_quota {
                write(&cpu_dir.join("cpu.cfs_period_us"), &PERIOD_US.to_string())?;
                write(&cpu_dir.join("cpu.cfs_quota_us"), &q.to_string())?;
            }
            if let Some(s) = cpu_shares {
                write(&cpu_dir.join("cpu.shares"), &s.to_string())?;
            }
            Ok(())
        };
        apply().map(|()| cg.clone()).inspect_err(|_| cg.remove())
    }

    /// The `cgroup.procs` files the container's process writes itself into.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// The memory cgroup's directory.
    pub fn memory_dir(&self) -> &Path {
        &self.dirs[0]
    }

    /// Cumulative CPU nanoseconds and the memory working set in bytes (usage minus
    /// inactive file cache), when the cgroup's counters can be read.
    pub fn usage(&self) -> Option<(u64, u64)> {
        use super::usage::{read_number, stat_value};
        let text = |dir: &Path, file: &str| std::fs::read_to_string(dir.join(file)).ok();
        match self.version {
            Version::V2 => {
                let dir = &self.dirs[0];
                let cpu = stat_value(&text(dir, "cpu.stat")?, "usage_usec")? * 1000;
                let memory = read_number(&dir.join("memory.current"))?;
                let inactive = text(dir, "memory.stat")
                    .and_then(|t| stat_value(&t, "inactive_file"))
                    .unwrap_or(0);
                Some((cpu, memory.saturating_sub(inactive)))
            }
            Version::V1 => {
                let (mem_dir, cpu_dir) = (&self.dirs[0], self.dirs.get(1)?);
                let cpu = read_number(&cpu_dir.join("cpuacct.usage"))?;
                let memory = read_number(&mem_dir.join("memory.usage_in_bytes"))?;
                let inactive = text(mem_dir, "memory.stat")
                    .and_then(|t| stat_value(&t, "total_inactive_file"))
                    .unwrap_or(0);
                Some((cpu, memory.saturating_sub(inactive)))
            }
        }
    }

    /// Whether the kernel's OOM killer killed a process of this cgroup.
    pub fn oom_killed(&self) -> bool {
        let file = match self.version {
            Version::V2 => "memory.events",
            Version::V1 => "memory.oom_control",
        };
        std::fs::read_to_string(self.dirs[0].join(file))
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("oom_kill "))
                    .and_then(|n| n.trim().parse::<u64>().ok())
            })
            .is_some_and(|n| n > 0)
    }

    /// Removes the cgroups (retrying for a second while exiting processes leave
    /// them). Idempotent.
    pub fn remove(&self) {
        for dir in &self.dirs {
            let mut tries = 0;
            loop {
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) if tries >= 20 => {
                        tracing::warn!(dir = %dir.display(), error = %e, "removing a cgroup");
                        break;
                    }
                    Err(_) => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_conversions_match_the_kubelet_and_runc() {
        assert_eq!(shares(1000), 1024);
        assert_eq!(shares(1), 2);
        assert_eq!(weight(2), 1);
        assert_eq!(weight(1024), 39);
        assert_eq!(weight(262_144), 10000);
    }
}
