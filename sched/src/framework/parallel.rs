//! [`parallel_map`]: runs a function over `0..n` on a few threads, in small chunks
//! handed out in order, so work that can stop early (filtering until enough nodes were
//! found) wastes little.
//!
//! Threads are scoped and started per call, which costs tens of microseconds; below
//! [`PARALLEL_THRESHOLD`] items the call runs on the caller's thread.
//!
//! ```
//! use skiff_sched::framework::parallel_map;
//! let squares = parallel_map(1000, 2, |i| i * i);
//! assert_eq!(squares[999], 999 * 999);
//! assert_eq!(squares.len(), 1000);
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};

/// Below this many items, [`parallel_map`] does not start threads.
pub const PARALLEL_THRESHOLD: usize = 512;

/// Items a worker takes at a time.
const CHUNK: usize = 64;

/// `(0..n).map(f).collect()`, computed on up to `workers` threads (the caller's
/// included) when `n` is at least [`PARALLEL_THRESHOLD`]. Chunks are taken in index
/// order, so lower indexes are computed first.
pub fn parallel_map<T, F>(n: usize, workers: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> T + Sync,
{
    if workers <= 1 || n < PARALLEL_THRESHOLD {
        return (0..n).map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut out = Vec::new();
        loop {
            let start = next.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= n {
                break;
            }
            for i in start..(start + CHUNK).min(n) {
                out.push((i, f(i)));
            }
        }
        out
    };
    let mut parts: Vec<Vec<(usize, T)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..workers).map(|_| s.spawn(work)).collect();
        let mut parts = vec![work()];
        for h in handles {
            match h.join() {
                Ok(p) => parts.push(p),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        parts
    });
    let mut all: Vec<(usize, T)> = Vec::with_capacity(n);
    for p in parts.iter_mut() {
        all.append(p);
    }
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_across_threads() {
        for n in [0, 1, 511, 512, 5000] {
            let v = parallel_map(n, 2, |i| i);
            assert_eq!(v, (0..n).collect::<Vec<_>>());
        }
    }
}
