//! The node's own usage from `/proc/stat` (CPU time of all cores, idle excluded) and
//! `/proc/meminfo` (the working set: total minus available memory).

/// Busy CPU clock ticks of all cores from the `cpu` line of `/proc/stat`: user, nice,
/// system, irq, softirq and steal (guest time is already in user).
pub fn busy_ticks(proc_stat: &str) -> Option<u64> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    if v.len() < 4 {
        return None;
    }
    Some(at(0) + at(1) + at(2) + at(5) + at(6) + at(7))
}

/// The memory working set in bytes from `/proc/meminfo`: `MemTotal - MemAvailable`.
pub fn working_set_bytes(meminfo: &str) -> Option<u64> {
    let kib = |key: &str| {
        meminfo.lines().find_map(|l| {
            let rest = l.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    Some(kib("MemTotal")?.saturating_sub(kib("MemAvailable")?) * 1024)
}

/// The node's cumulative busy CPU nanoseconds and its memory working set, read now
/// (blocking; `None` where `/proc` cannot be read).
pub fn sample() -> (Option<u64>, Option<u64>) {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ns_per_tick = 1_000_000_000 / u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100);
    let cpu = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| busy_ticks(&t))
        .map(|t| t * ns_per_tick);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| working_set_bytes(&t));
    (cpu, memory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_busy_cpu_ticks() {
        let text = "cpu  10 2 3 1000 50 4 5 6 0 0\ncpu0 5 1 1 500 25 2 2 3 0 0\n";
        assert_eq!(busy_ticks(text), Some(10 + 2 + 3 + 4 + 5 + 6));
        assert_eq!(busy_ticks("cpu0 1 2 3 4\n"), None);
        assert_eq!(busy_ticks("cpu  x y\n"), None);
    }

    #[test]
    fn reads_the_memory_working_set() {
        let text = "MemTotal:       16000 kB\nMemFree:         1000 kB\nMemAvailable:    6000 kB\n";
        assert_eq!(working_set_bytes(text), Some(10000 * 1024));
        assert_eq!(working_set_bytes("MemTotal: 5 kB\n"), None);
    }

    #[test]
    fn samples_this_machine() {
        let (cpu, memory) = sample();
        if std::path::Path::new("/proc/meminfo").exists() {
            assert!(memory.is_some_and(|m| m > 0));
            assert!(cpu.is_some());
        }
    }
}
