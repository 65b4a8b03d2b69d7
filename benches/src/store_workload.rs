//! The store benchmark's workloads, run through [`KvStore`] against any store: puts of
//! 8-byte keys with 256-byte values, gets (linearizable or serializable), and the delay
//! from a put to its watch event.
//!
//! Every workload is bounded both by an operation count and by a wall-clock limit,
//! whichever comes first.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use skiff_store::{KeyRange, KvStore, PutRequest, RangeRequest, RemoteStore, Result, WatchRequest};

use crate::latency::{Latencies, Measured};

/// Size of every value written, as in etcd's own benchmark figures.
pub const VALUE_BYTES: usize = 256;

/// When a workload stops: after `count` operations or after `duration`.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Operations to issue in all (across clients).
    pub count: u64,
    /// Longest the workload may run.
    pub duration: Duration,
}

/// The 8-byte key number `n` (decimal, zero-padded).
pub fn key(n: u64) -> Bytes {
    Bytes::from(format!("{:08}", n % 100_000_000))
}

/// Connections for `clients` concurrent clients: one per ten clients, from 1 to 100 (as
/// etcd's benchmark figures are taken).
pub fn connections_for(clients: usize) -> usize {
    clients.div_ceil(10).clamp(1, 100)
}

/// Run `clients` tasks that each call `op(n)` with a fresh operation number until the
/// bounds are reached; client `i` uses store `pool[i % conns]`.
async fn run_clients<F, Fut>(
    pool: &[RemoteStore],
    clients: usize,
    bounds: Bounds,
    op: F,
) -> Measured
where
    F: Fn(RemoteStore, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    let conns = connections_for(clients).min(pool.len()).max(1);
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + bounds.duration;
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let store = pool[i % conns].clone();
            let (issued, op) = (issued.clone(), op.clone());
            tokio::spawn(async move {
                let mut lat = Latencies::new();
                loop {
                    let n = issued.fetch_add(1, Ordering::Relaxed);
                    if n >= bounds.count || Instant::now() >= deadline {
                        return lat;
                    }
                    let t = Instant::now();
                    match op(store.clone(), n).await {
                        Ok(()) => lat.record(t.elapsed()),
                        Err(_) => lat.errors += 1,
                    }
                }
            })
        })
        .collect();
    let mut all = Latencies::new();
    for lat in futures::future::join_all(tasks).await.into_iter().flatten() {
        all.merge(&lat);
    }
    Measured {
        latencies: all,
        elapsed: start.elapsed(),
    }
}

/// Puts of 8-byte keys (cycling through `key_space` keys) with 256-byte values.
pub async fn puts(
    pool: &[RemoteStore],
    clients: usize,
    bounds: Bounds,
    key_space: u64,
) -> Measured {
    let value = Bytes::from(vec![b'v'; VALUE_BYTES]);
    run_clients(pool, clients, bounds, move |store, n| {
        let req = PutRequest::new(key(n % key_space.max(1)), value.clone());
        async move { store.put(req).await.map(drop) }
    })
    .await
}

/// Write keys `0..keys` (unmeasured) so that gets find them.
pub async fn fill(pool: &[RemoteStore], keys: u64) -> Measured {
    let bounds = Bounds {
        count: keys,
        duration: Duration::from_secs(600),
    };
    puts(pool, 16, bounds, keys).await
}

/// Gets of keys `0..keys`, linearizable or serializable.
pub async fn gets(
    pool: &[RemoteStore],
    clients: usize,
    bounds: Bounds,
    keys: u64,
    serializable: bool,
) -> Measured {
    run_clients(pool, clients, bounds, move |store, n| {
        let req = RangeRequest {
            serializable,
            ..RangeRequest::key(key(n % keys.max(1)))
        };
        async move { store.range(req).await.map(drop) }
    })
    .await
}

/// The delay from issuing a put to receiving its event, over `watchers` watches of one
/// prefix (spread over the pool), while one client writes under it sequentially. The
/// throughput reported is events received per second across all watchers.
pub async fn watch_latency(
    pool: &[RemoteStore],
    watchers: usize,
    bounds: Bounds,
) -> Result<Measured> {
    let prefix = Bytes::from_static(b"/bench-watch/");
    let base = Instant::now();
    let mut streams = Vec::with_capacity(watchers);
    for i in 0..watchers {
        let req = WatchRequest {
            range: KeyRange::prefix(prefix.clone()),
            ..Default::default()
        };
        streams.push(pool[i % pool.len()].watch(req).await?);
    }
    let written = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let hard_stop = start + bounds.duration + Duration::from_secs(10);
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            let (written, done) = (written.clone(), done.clone());
            tokio::spawn(async move {
                let mut lat = Latencies::new();
                let mut received = 0u64;
                while Instant::now() < hard_stop {
                    if done.load(Ordering::Acquire) && received >= written.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(next) =
                        tokio::time::timeout(Duration::from_millis(100), stream.next_batch()).await
                    else {
                        continue;
                    };
                    let Some(Ok(batch)) = next else {
                        lat.errors += 1;
                        break;
                    };
                    let now = base.elapsed().as_nanos() as u64;
                    for ev in batch.events {
                        received += 1;
                        match ev
                            .kv
                            .value
                            .get(..8)
                            .and_then(|b| <[u8; 8]>::try_from(b).ok())
                        {
                            Some(ts) => lat.record(Duration::from_nanos(
                                now.saturating_sub(u64::from_le_bytes(ts)),
                            )),
                            None => lat.errors += 1,
                        }
                    }
                }
                lat
            })
        })
        .collect();

    let writer = pool[0].clone();
    let deadline = start + bounds.duration;
    let mut n = 0;
    while n < bounds.count && Instant::now() < deadline {
        let mut value = vec![b'v'; VALUE_BYTES];
        value[..8].copy_from_slice(&(base.elapsed().as_nanos() as u64).to_le_bytes());
        let mut k = prefix.to_vec();
        k.extend_from_slice(&key(n));
        if writer.put(PutRequest::new(k, value)).await.is_ok() {
            written.fetch_add(1, Ordering::AcqRel);
        }
        n += 1;
    }
    done.store(true, Ordering::Release);
    let mut all = Latencies::new();
    for lat in futures::future::join_all(tasks).await.into_iter().flatten() {
        all.merge(&lat);
    }
    Ok(Measured {
        latencies: all,
        elapsed: start.elapsed(),
    })
}
