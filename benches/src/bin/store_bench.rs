//! The store benchmark: the real etcd and `skiff store`, started side by side on
//! loopback with temporary data directories, driven in turn by the same client
//! (`RemoteStore`) with the same workloads: puts at several concurrencies,
//! linearizable and serializable gets, and put-to-watch-event latency.
//!
//! ```text
//! cargo build --release -p skiff -p skiff-benches
//! target/release/store_bench            # full run, several minutes
//! target/release/store_bench --quick    # a short run
//! ```

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use skiff_benches::latency::{human, Measured};
use skiff_benches::server_process::ServerProcess;
use skiff_benches::store_workload::{self, Bounds};
use skiff_store::{RemoteOptions, RemoteStore};

/// Benchmark `skiff store` against etcd.
#[derive(Parser, Debug)]
#[command(name = "store_bench")]
struct Args {
    /// A short run: fewer operations and shorter phases.
    #[arg(long)]
    quick: bool,
    /// The etcd binary.
    #[arg(long, default_value = "/usr/bin/etcd")]
    etcd_bin: PathBuf,
    /// The `skiff` binary (default: `skiff` beside this binary, else
    /// $CARGO_TARGET_DIR/release/skiff, else target/release/skiff).
    #[arg(long, env = "SKIFF_BIN")]
    skiff_bin: Option<PathBuf>,
    /// Where the temporary data directories go (default: the system temp directory).
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Operations per phase (default 20000; 2000 with --quick).
    #[arg(long)]
    count: Option<u64>,
    /// Longest a phase may run, in seconds (default 15; 3 with --quick).
    #[arg(long)]
    duration: Option<u64>,
    /// Concurrent clients of the put phases.
    #[arg(long, value_delimiter = ',', default_value = "1,16,128,1000")]
    clients: Vec<usize>,
    /// Concurrent clients of the get phases.
    #[arg(long, value_delimiter = ',', default_value = "1,128")]
    get_clients: Vec<usize>,
    /// Watchers of the watch phases.
    #[arg(long, value_delimiter = ',', default_value = "1,100")]
    watchers: Vec<usize>,
    /// Distinct keys the puts cycle through.
    #[arg(long, default_value_t = 100_000)]
    key_space: u64,
    /// Keys written before the get phases, which read them.
    #[arg(long, default_value_t = 10_000)]
    get_keys: u64,
    /// Run only the servers whose name is given ("etcd", "skiff").
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// One server under test with its client connections.
struct Target {
    server: ServerProcess,
    pool: Vec<RemoteStore>,
}

/// One line of the result table.
struct Row {
    workload: String,
    clients: usize,
    server: &'static str,
    measured: Measured,
}

/// `skiff` beside this binary (both built into the same target directory), else under
/// `$CARGO_TARGET_DIR/release`, else `target/release`.
fn default_skiff_bin() -> PathBuf {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("skiff")));
    if let Some(path) = beside.filter(|p| p.exists()) {
        return path;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| "target".into());
    target.join("release").join("skiff")
}

async fn start(server: Result<ServerProcess, String>, conns: usize) -> Result<Target, String> {
    let mut server = server?;
    server.ready(Duration::from_secs(30)).await?;
    let mut pool = Vec::with_capacity(conns);
    for _ in 0..conns {
        let store = RemoteStore::connect(vec![server.client_url.clone()], RemoteOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        pool.push(store);
    }
    Ok(Target { server, pool })
}

fn print_row(r: &Row) {
    let l = &r.measured.latencies;
    println!(
        "{:<22} {:>7} {:<6} {:>8} {:>6} {:>10.0} {:>10} {:>10}",
        r.workload,
        r.clients,
        r.server,
        l.count(),
        l.errors,
        r.measured.throughput(),
        human(l.quantile(0.5)),
        human(l.quantile(0.99)),
    );
}

fn print_header() {
    println!(
        "{:<22} {:>7} {:<6} {:>8} {:>6} {:>10} {:>10} {:>10}",
        "workload", "clients", "server", "ops", "errors", "ops/s", "p50", "p99"
    );
}

/// The allocator the `skiff` binary uses, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let bounds = Bounds {
        count: args
            .count
            .unwrap_or(if args.quick { 2_000 } else { 20_000 }),
        duration: Duration::from_secs(args.duration.unwrap_or(if args.quick { 3 } else { 15 })),
    };
    let data_root = args.data_root.clone().unwrap_or_else(std::env::temp_dir);
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let max_clients = args
        .clients
        .iter()
        .chain(&args.get_clients)
        .copied()
        .max()
        .unwrap_or(1);
    let conns = store_workload::connections_for(max_clients)
        .max(*args.watchers.iter().max().unwrap_or(&1).min(&100));

    let mut targets = Vec::new();
    if wanted("etcd") {
        match start(ServerProcess::etcd(&args.etcd_bin, &data_root), conns).await {
            Ok(t) => targets.push(t),
            Err(e) => eprintln!("etcd not benchmarked: {e}"),
        }
    }
    if wanted("skiff") {
        let bin = args.skiff_bin.clone().unwrap_or_else(default_skiff_bin);
        if bin.exists() {
            match start(ServerProcess::skiff_store(&bin, &data_root), conns).await {
                Ok(t) => targets.push(t),
                Err(e) => eprintln!("skiff store not benchmarked: {e}"),
            }
        } else {
            eprintln!(
                "skiff store not benchmarked: {} does not exist (cargo build --release -p skiff, or --skiff-bin)",
                bin.display()
            );
        }
    }
    if targets.is_empty() {
        eprintln!("no server to benchmark");
        std::process::exit(1);
    }
    eprintln!(
        "phases of at most {} operations or {:?}; data under {}",
        bounds.count,
        bounds.duration,
        data_root.display()
    );

    print_header();
    let record = |row: Row| print_row(&row);
    // Each phase runs on every server in turn, so drift over the run hits all alike.
    for &clients in &args.clients {
        for t in &targets {
            let measured = store_workload::puts(&t.pool, clients, bounds, args.key_space).await;
            record(Row {
                workload: "put".into(),
                clients,
                server: t.server.name,
                measured,
            });
        }
    }
    for t in &targets {
        store_workload::fill(&t.pool, args.get_keys).await;
    }
    for serializable in [false, true] {
        let name = if serializable {
            "get (serializable)"
        } else {
            "get (linearizable)"
        };
        for &clients in &args.get_clients {
            for t in &targets {
                let measured =
                    store_workload::gets(&t.pool, clients, bounds, args.get_keys, serializable)
                        .await;
                record(Row {
                    workload: name.into(),
                    clients,
                    server: t.server.name,
                    measured,
                });
            }
        }
    }
    for &watchers in &args.watchers {
        for t in &targets {
            match store_workload::watch_latency(&t.pool, watchers, bounds).await {
                Ok(measured) => record(Row {
                    workload: "watch put->event".into(),
                    clients: watchers,
                    server: t.server.name,
                    measured,
                }),
                Err(e) => eprintln!("{}: watch phase failed: {e}", t.server.name),
            }
        }
    }
    for t in &targets {
        let size = dir_size(&t.server.data_dir());
        eprintln!(
            "{}: data directory {} MiB after the run",
            t.server.name,
            size / (1024 * 1024)
        );
    }
}

/// Bytes of the files under `dir`.
fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
