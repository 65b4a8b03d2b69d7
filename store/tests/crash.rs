//! The crash test: acknowledged writes survive `kill -9`.
//!
//! The parent ([`acknowledged_writes_survive_sigkill`]) re-runs this test binary as a
//! child ([`crash_child`]), which opens an `MvccStore` on a `RedbBackend` and writes
//! from [`TASKS`] concurrent tasks (puts, leased puts, txns, deletes) plus a compactor,
//! printing one line per acknowledged write. At a random moment the parent kills the
//! child with SIGKILL, reopens the store in-process and checks it against the
//! acknowledgements (see `check`). The same data directory is used for every
//! iteration, so each reopen also recovers from every earlier crash.
//!
//! `SKIFF_CRASH_ITERATIONS` (default 20) sets the number of kills; `SKIFF_CRASH_SEED`
//! fixes the random kill delays (the interleaving of the child stays up to the OS).

#[path = "crash/check.rs"]
mod check;
mod common;
#[path = "crash/workload.rs"]
mod workload;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use skiff_store::*;

use workload::*;

/// Set (to the data directory) in the child's environment.
const CHILD_DIR_ENV: &str = "SKIFF_CRASH_CHILD_DIR";
/// The iteration number, in the child's environment.
const CHILD_ITERATION_ENV: &str = "SKIFF_CRASH_CHILD_ITERATION";
/// How far behind the current revision the child's compactor compacts.
const COMPACT_LAG: Revision = 1500;

/// What one child acknowledged before it was killed.
#[derive(Debug, Default)]
pub struct ChildRun {
    pub iteration: u64,
    /// Per task, the acknowledged operations in order: (seq, revision, flag).
    pub acks: Vec<Vec<(u64, Revision, i64)>>,
    /// Per task, whether its lease grant was acknowledged.
    pub lease_acked: Vec<bool>,
    /// Compactions acknowledged.
    pub compactions: Vec<Revision>,
}

impl ChildRun {
    fn parse(iteration: u64, lines: &[String]) -> ChildRun {
        let mut run = ChildRun {
            iteration,
            acks: vec![Vec::new(); TASKS as usize],
            lease_acked: vec![false; TASKS as usize],
            compactions: Vec::new(),
        };
        for line in lines {
            let fields: Vec<&str> = line.split(' ').collect();
            let num = |i: usize| -> i64 {
                fields
                    .get(i)
                    .and_then(|f| f.parse().ok())
                    .unwrap_or_else(|| panic!("bad line {line:?}"))
            };
            match fields[0] {
                "ACK" => run.acks[num(1) as usize].push((num(2) as u64, num(3), num(4))),
                "LEASE" => run.lease_acked[num(1) as usize] = true,
                "COMPACT" => run.compactions.push(num(1)),
                _ => {} // the test harness's own output
            }
        }
        for (task, acks) in run.acks.iter().enumerate() {
            for (i, &(seq, _, _)) in acks.iter().enumerate() {
                assert_eq!(
                    seq, i as u64,
                    "task {task} of iteration {iteration}: acks not contiguous"
                );
            }
        }
        run
    }

    /// Acknowledged writes (lease grants and compactions included).
    fn acked(&self) -> usize {
        self.acks.iter().map(Vec::len).sum::<usize>()
            + self.lease_acked.iter().filter(|&&a| a).count()
            + self.compactions.len()
    }
}

/// A tiny deterministic generator for the kill delays (splitmix64).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

/// Kills the child if the parent fails half-way.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let iterations: u64 = std::env::var("SKIFF_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed = std::env::var("SKIFF_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("crash test: {iterations} iterations, SKIFF_CRASH_SEED={seed}");
    let mut rng = SplitMix(seed);
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let mut runs: Vec<ChildRun> = Vec::new();
    for iteration in 0..iterations {
        // Mostly somewhere in the first second of load; now and then right after start.
        let kill_after = if rng.between(0, 9) == 0 {
            rng.between(0, 30)
        } else {
            rng.between(100, 900)
        };
        let lines = run_child(dir.path(), iteration, Duration::from_millis(kill_after));
        runs.push(ChildRun::parse(iteration, &lines));
        let report = runtime.block_on(async {
            let store = common::open_store(dir.path()).await;
            check::check(&store, &runs).await
        });
        // The next child needs the file: wait until the dropped store has let go of it.
        drop(common::open_backend_when_released(dir.path()));
        println!(
            "iteration {iteration}: killed after {kill_after} ms, {} writes acknowledged; {report}",
            runs[iteration as usize].acked()
        );
    }
    let total: usize = runs.iter().map(ChildRun::acked).sum();
    println!(
        "crash test: {iterations} kills, {total} acknowledged writes checked, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        total > 0,
        "no child acknowledged anything: the test checked nothing"
    );
}

/// Run one child until `kill_after` past its READY line, kill it with SIGKILL, and
/// return every complete line it printed.
fn run_child(dir: &Path, iteration: u64, kill_after: Duration) -> Vec<String> {
    let exe = std::env::current_exe().expect("test binary path");
    let child = Command::new(exe)
        .args([
            "--exact",
            "crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_ITERATION_ENV, iteration.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                // A line without its newline was cut by the kill: it acknowledged nothing.
                Ok(_) if line.last() == Some(&b'\n') => {
                    line.pop();
                    let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
                }
                _ => return,
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line == "READY" => break,
            Ok(_) => continue,
            Err(_) => panic!(
                "child of iteration {iteration} did not open the store within 60 s (exit: {:?})",
                child.0.try_wait()
            ),
        }
    }
    // The random moment of the crash.
    std::thread::sleep(kill_after);
    if let Ok(Some(status)) = child.0.try_wait() {
        panic!("child of iteration {iteration} exited on its own before the kill: {status}");
    }
    child.0.kill().expect("SIGKILL the child");
    child.0.wait().expect("reap the child");
    reader.join().expect("reader thread");
    rx.try_iter().collect()
}

/// The child: writes under load until killed. Only runs when started by the parent.
#[test]
#[ignore = "the child process of acknowledged_writes_survive_sigkill; run by it"]
fn crash_child() {
    let (Ok(dir), Ok(iteration)) = (
        std::env::var(CHILD_DIR_ENV),
        std::env::var(CHILD_ITERATION_ENV),
    ) else {
        eprintln!("crash_child: not started by acknowledged_writes_survive_sigkill; nothing to do");
        return;
    };
    let iteration: u64 = iteration.parse().expect("iteration number");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let backend = RedbBackend::open(&dir).unwrap_or_else(|e| die(format!("open: {e}")));
        let store = MvccStore::open(backend, StoreConfig::default())
            .await
            .unwrap_or_else(|e| die(format!("open store: {e}")));
        // On a line of its own: the harness has printed "test crash_child ... " unterminated.
        emit("\nREADY");
        let compactor = tokio::spawn(compact_forever(store.clone()));
        let writers: Vec<_> = (0..TASKS)
            .map(|task| tokio::spawn(write_forever(store.clone(), iteration, task)))
            .collect();
        for w in writers {
            w.await.unwrap_or_else(|e| die(format!("writer: {e}")));
        }
        compactor
            .await
            .unwrap_or_else(|e| die(format!("compactor: {e}")));
    });
}

/// One writer task: its lease, then its operations in order, each printed once acked.
async fn write_forever(store: MvccStore, iteration: u64, task: u64) {
    let lease = lease_id(iteration, task);
    store
        .lease_grant(lease, LEASE_TTL)
        .await
        .unwrap_or_else(|e| die(format!("lease grant: {e}")));
    emit(&format!("LEASE {task} {lease}"));
    let mut last_txn_rev: Revision = 0;
    for seq in 0.. {
        let op = op(iteration, task, seq);
        let (revision, flag) = match &op {
            Op::Put { key, value, leased } => {
                let req = PutRequest {
                    lease: if *leased { lease } else { 0 },
                    ..PutRequest::new(Bytes::from(key.clone()), Bytes::from(value.clone()))
                };
                let resp = store
                    .put(req)
                    .await
                    .unwrap_or_else(|e| die(format!("put: {e}")));
                (resp.header.revision, 0)
            }
            Op::Txn { .. } => {
                let req = txn_request(&op, last_txn_rev).expect("a txn op");
                let resp = store
                    .txn(req)
                    .await
                    .unwrap_or_else(|e| die(format!("txn: {e}")));
                if resp.succeeded {
                    last_txn_rev = resp.header.revision;
                }
                (resp.header.revision, resp.succeeded as i64)
            }
            Op::Delete { key } => {
                let req = DeleteRangeRequest {
                    range: KeyRange::key(Bytes::from(key.clone())),
                    prev_kv: false,
                };
                let resp = store
                    .delete_range(req)
                    .await
                    .unwrap_or_else(|e| die(format!("delete: {e}")));
                (resp.header.revision, resp.deleted)
            }
        };
        emit(&format!("ACK {task} {seq} {revision} {flag}"));
    }
}

/// Compact to [`COMPACT_LAG`] revisions behind the current one, every 150 ms.
async fn compact_forever(store: MvccStore) {
    loop {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let status = store
            .status()
            .await
            .unwrap_or_else(|e| die(format!("status: {e}")));
        let target = status.header.revision - COMPACT_LAG;
        if target > status.compact_revision {
            match store.compact(target).await {
                Ok(_) => emit(&format!("COMPACT {target}")),
                Err(e) => die(format!("compact {target}: {e}")),
            }
        }
    }
}

/// Print one line and flush it: once it is out, the parent counts it as acknowledged.
fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        // The parent is gone.
        std::process::exit(2);
    }
}

/// End the child at once on an unexpected error (a panic in a task would not).
fn die(msg: String) -> ! {
    eprintln!("crash_child: {msg}");
    std::process::exit(3);
}
