//! Group-commit throughput of the durable store on this machine.
//!
//! Prints four tables:
//! 1. the latency of a raw `write` + `fdatasync` of 4 KiB, appending and overwriting
//!    (what one group commit pays at least once);
//! 2. `RedbBackend::commit` with batches of 1, 16 and 128 records of 256-byte values;
//! 3. reopening and loading the file of the 128-record row;
//! 4. `MvccStore::put` on `RedbBackend` from 1, 16 and 128 concurrent clients (the
//!    writer's group commit batching them).
//!
//! Run with `cargo run --release -p skiff-benches --bin redb_commit [-- SECONDS]`
//! (default 3 s per row). Data goes to a fresh directory under the system temp dir
//! (`TMPDIR`), removed at the end.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use skiff_store::backend::{Backend, CommitBatch, Record, Rev};
use skiff_store::{KvStore, MvccStore, PutRequest, RedbBackend, StoreConfig};

const VALUE_BYTES: usize = 256;

/// The allocator the `skiff` binary uses, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let per_row = Duration::from_secs(seconds);
    let root = scratch_dir();
    println!("data under {}, {seconds} s per row\n", root.display());

    fsync_latency(&root.join("fsync.bin"), per_row);
    backend_commit(&root, per_row);
    reopen(&root.join("commit-128"));
    store_puts(&root, per_row);

    if let Err(e) = std::fs::remove_dir_all(&root) {
        eprintln!("could not remove {}: {e}", root.display());
    }
}

/// A fresh directory for this run.
fn scratch_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir =
        std::env::temp_dir().join(format!("skiff-redb-commit-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch directory");
    dir
}

/// Median, 99th percentile and mean of `samples`, in microseconds.
fn summary(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let n = samples.len();
    let mean = samples.iter().map(|&d| us(d)).sum::<f64>() / n as f64;
    (
        us(samples[n / 2]),
        us(samples[(n * 99 / 100).min(n - 1)]),
        mean,
    )
}

fn fsync_latency(file: &Path, per_row: Duration) {
    println!("## write 4 KiB + fdatasync\n");
    println!("| write | samples | p50 µs | p99 µs | mean µs | per second |");
    println!("|---|---|---|---|---|---|");
    // Appending grows the file, so each sync also commits the file-system journal;
    // overwriting a preallocated block (what redb mostly does) syncs data only.
    for (name, append) in [("append (file grows)", true), ("overwrite in place", false)] {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(file)
            .expect("open fsync file");
        let block = vec![0xabu8; 4096];
        let mut samples = Vec::new();
        let start = Instant::now();
        while start.elapsed() < per_row {
            if !append {
                f.seek(SeekFrom::Start(0)).expect("seek");
            }
            let t = Instant::now();
            f.write_all(&block).expect("write");
            f.sync_data().expect("fdatasync");
            samples.push(t.elapsed());
        }
        let (p50, p99, mean) = summary(&mut samples);
        println!(
            "| {name} | {} | {p50:.0} | {p99:.0} | {mean:.0} | {:.0} |",
            samples.len(),
            1e6 / mean
        );
    }
    println!();
}

fn backend_commit(root: &Path, per_row: Duration) {
    println!("## RedbBackend::commit, {VALUE_BYTES}-byte values\n");
    println!("| records per batch | batches | p50 µs | p99 µs | batches/s | records/s | MiB/s |");
    println!("|---|---|---|---|---|---|---|");
    for batch_size in [1usize, 16, 128] {
        let backend =
            RedbBackend::open(root.join(format!("commit-{batch_size}"))).expect("open backend");
        let value = Bytes::from(vec![b'v'; VALUE_BYTES]);
        let mut main = 1;
        let mut samples = Vec::new();
        let start = Instant::now();
        while start.elapsed() < per_row {
            main += 1;
            let records = (0..batch_size)
                .map(|i| {
                    let record = Record {
                        key: Bytes::from(format!(
                            "/registry/bench/key-{:06}",
                            (main * 131 + i as i64) % 100_000
                        )),
                        value: value.clone(),
                        create_revision: main,
                        version: 1,
                        lease: 0,
                        tombstone: false,
                    };
                    (Rev::new(main, i as i64), record)
                })
                .collect();
            let batch = CommitBatch {
                records,
                ..Default::default()
            };
            let t = Instant::now();
            backend.commit(&batch).expect("commit");
            samples.push(t.elapsed());
        }
        let elapsed = start.elapsed().as_secs_f64();
        let batches = samples.len();
        let (p50, p99, _) = summary(&mut samples);
        let records = (batches * batch_size) as f64 / elapsed;
        println!(
            "| {batch_size} | {batches} | {p50:.0} | {p99:.0} | {:.0} | {records:.0} | {:.1} |",
            batches as f64 / elapsed,
            records * VALUE_BYTES as f64 / (1024.0 * 1024.0)
        );
    }
    println!();
}

/// Open (with redb's full integrity check) and load the file the 128-record row wrote.
fn reopen(dir: &Path) {
    let t = Instant::now();
    let backend = RedbBackend::open(dir).expect("reopen backend");
    let opened = t.elapsed();
    let t = Instant::now();
    let loaded = backend.load().expect("load");
    let load = t.elapsed();
    let (file, in_use) = backend.size();
    println!("## Reopening the 128-record file\n");
    println!("| records | file MiB | in use MiB | open (integrity check) ms | load ms |");
    println!("|---|---|---|---|---|");
    println!(
        "| {} | {:.1} | {:.1} | {:.0} | {:.0} |\n",
        loaded.records.len(),
        file as f64 / (1024.0 * 1024.0),
        in_use as f64 / (1024.0 * 1024.0),
        opened.as_secs_f64() * 1e3,
        load.as_secs_f64() * 1e3
    );
}

fn store_puts(root: &Path, per_row: Duration) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!("## MvccStore::put on RedbBackend, {VALUE_BYTES}-byte values, group commit\n");
    println!("| concurrent clients | puts | puts/s | p50 µs | p99 µs |");
    println!("|---|---|---|---|---|");
    for clients in [1usize, 16, 128] {
        let dir = root.join(format!("store-{clients}"));
        let (puts, elapsed, mut samples) = runtime.block_on(async {
            let backend = RedbBackend::open(&dir).expect("open backend");
            let store = MvccStore::open(backend, StoreConfig::default())
                .await
                .expect("open store");
            let start = Instant::now();
            let tasks: Vec<_> = (0..clients)
                .map(|c| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        let value = Bytes::from(vec![b'v'; VALUE_BYTES]);
                        let mut samples = Vec::new();
                        let mut i = 0u64;
                        while start.elapsed() < per_row {
                            let key = Bytes::from(format!("/registry/bench/c{c}/k{}", i % 1000));
                            let t = Instant::now();
                            store
                                .put(PutRequest::new(key, value.clone()))
                                .await
                                .expect("put");
                            samples.push(t.elapsed());
                            i += 1;
                        }
                        samples
                    })
                })
                .collect();
            let mut samples = Vec::new();
            for t in tasks {
                samples.extend(t.await.expect("client task"));
            }
            (samples.len(), start.elapsed().as_secs_f64(), samples)
        });
        let (p50, p99, _) = summary(&mut samples);
        println!(
            "| {clients} | {puts} | {:.0} | {p50:.0} | {p99:.0} |",
            puts as f64 / elapsed
        );
    }
    println!();
}
