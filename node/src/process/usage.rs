//! The resource usage of process-runtime containers, read from `/proc` (the
//! container's process group) or, for a container with its own cgroup, from the
//! cgroup's counters.
//!
//! CPU is cumulative (user + system time of the group's live processes, or the
//! cgroup's `usage_usec`/`cpuacct.usage`); memory is the working set (resident pages,
//! or the cgroup's usage minus its inactive file cache).

use std::collections::HashMap;
use std::path::Path;

/// One process's counters from `/proc/<pid>/stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ProcStat {
    /// Its process group.
    pub pgrp: i32,
    /// User + system CPU time in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set in pages.
    pub rss_pages: u64,
}

/// Parses one `/proc/<pid>/stat` line (the command, in parentheses, may contain
/// spaces and parentheses: fields are counted after the last `)`).
pub(super) fn parse_stat(line: &str) -> Option<ProcStat> {
    let rest = &line[line.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state) of proc(5).
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<i64>().ok());
    Some(ProcStat {
        pgrp: i32::try_from(field(5)?).ok()?,
        cpu_ticks: u64::try_from(field(14)?).ok()? + u64::try_from(field(15)?).ok()?,
        rss_pages: u64::try_from(field(24)?.max(0)).ok()?,
    })
}

/// CPU nanoseconds and resident bytes of every process group in `pgids`, by one
/// scan of `/proc` (blocking).
///
/// Processes still running the agent's own executable are left out: they are the
/// runtime's forks that wait for an isolated container's init (their resident set is
/// the agent's, shared copy-on-write), not the container's workload.
pub(super) fn process_groups(pgids: &[i32]) -> HashMap<i32, (u64, u64)> {
    let mut usage: HashMap<i32, (u64, u64)> = HashMap::new();
    if pgids.is_empty() {
        return usage;
    }
    // SAFETY: sysconf has no preconditions.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let ns_per_tick = 1_000_000_000 / u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100);
    let page = u64::try_from(page).ok().filter(|p| *p > 0).unwrap_or(4096);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return usage;
    };
    let own_exe = std::fs::read_link("/proc/self/exe").ok();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Some(stat) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|l| parse_stat(&l))
        else {
            continue;
        };
        let is_agent =
            || own_exe.is_some() && std::fs::read_link(entry.path().join("exe")).ok() == own_exe;
        if pgids.contains(&stat.pgrp) && !is_agent() {
            let slot = usage.entry(stat.pgrp).or_default();
            slot.0 += stat.cpu_ticks * ns_per_tick;
            slot.1 += stat.rss_pages * page;
        }
    }
    usage
}

/// A value of a `key value` line in a cgroup stat file.
pub(super) fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Reads a number from a cgroup file.
pub(super) fn read_number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_lines() {
        let line = "42 (my (odd) cmd) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 100 1000 50 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat {
                pgrp: 42,
                cpu_ticks: 10,
                rss_pages: 50
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1"), None);
    }

    #[test]
    fn reads_cgroup_stat_values() {
        let text = "usage_usec 1500\nuser_usec 1000\n";
        assert_eq!(stat_value(text, "usage_usec"), Some(1500));
        assert_eq!(stat_value(text, "nope"), None);
    }

    #[test]
    fn scans_a_process_group() {
        use std::os::unix::process::CommandExt;
        let Ok(mut child) = std::process::Command::new("sleep")
            .arg("5")
            .process_group(0)
            .spawn()
        else {
            eprintln!("skipping: sleep is missing");
            return;
        };
        let group = i32::try_from(child.id()).unwrap();
        // Until sleep has replaced the forked test binary, the group counts nothing.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let rss = loop {
            let (_, rss) = process_groups(&[group])
                .get(&group)
                .copied()
                .unwrap_or_default();
            if rss > 0 || std::time::Instant::now() > deadline {
                break rss;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let _ = child.kill();
        let _ = child.wait();
        assert!(rss > 0 && rss < 64 << 20, "sleep's resident set: {rss}");
    }
}
