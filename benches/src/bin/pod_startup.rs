//! Pod startup latency (created → Running, as a watcher sees it) against the
//! Kubernetes SLO (p99 ≤ 5 s): one node with the process runtime, or many hollow
//! nodes with the simulated runtime. See `skiff_benches::pod_startup`.
//!
//! `cargo run --release -p skiff-benches --bin pod_startup -- process --pods 100 --rate 10`
//! `cargo run --release -p skiff-benches --bin pod_startup -- sim --nodes 1000 --pods 3000 --rate 50`

use clap::{Parser, ValueEnum};
use skiff_benches::latency::human;
use skiff_benches::pod_startup::{run, Runtime, Workload};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Kind {
    /// One node, the process runtime.
    Process,
    /// Hollow nodes, the simulated runtime.
    Sim,
}

#[derive(Parser, Debug)]
struct Args {
    /// Which runtime.
    kind: Kind,
    /// Hollow nodes (sim only).
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Pods to create.
    #[arg(long, default_value_t = 100)]
    pods: usize,
    /// Pods created per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
}

/// The allocator the `skiff` binary uses, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let runtime = match args.kind {
        Kind::Process => Runtime::Process,
        Kind::Sim => Runtime::Sim { nodes: args.nodes },
    };
    let workload = Workload {
        runtime,
        pods: args.pods,
        per_second: args.rate,
    };
    println!("{workload:?}");
    match run(&workload).await {
        Ok(r) => {
            let l = &r.latencies;
            println!(
                "nodes ready in {}; {} pods Running ({} missing) in {}",
                human(r.nodes_ready),
                l.count(),
                r.missing,
                human(r.wall)
            );
            println!(
                "created -> Running: p50 {}  p90 {}  p99 {}  max {}   (SLO: p99 <= 5s)",
                human(l.quantile(0.5)),
                human(l.quantile(0.9)),
                human(l.quantile(0.99)),
                human(l.quantile(1.0)),
            );
        }
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            std::process::exit(1);
        }
    }
}
