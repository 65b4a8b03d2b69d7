//! Reconcile throughput of the ReplicaSet and Deployment controllers: a Deployment of
//! 10,000 replicas to rollout complete, then a rolling update of its image. See
//! `skiff_benches::rollout`.
//!
//! `cargo run --release -p skiff-benches --bin rollout_bench`
//! `cargo run --release -p skiff-benches --bin rollout_bench -- --replicas 1000 --durable`

use clap::Parser;
use skiff_benches::latency::human;
use skiff_benches::rollout::{run, Phase, Workload};

#[derive(Parser, Debug)]
struct Args {
    /// The Deployment's replicas.
    #[arg(long, default_value_t = 10_000)]
    replicas: i32,
    /// Node objects the fake scheduler binds pods to.
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    /// The durable store (redb in a temporary directory) instead of the in-memory one.
    #[arg(long)]
    durable: bool,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
}

fn line(what: &str, p: &Phase) {
    println!(
        "{what:<32} {:>10}  {:>8.0} pods/s  ({} pods created, {} deletions finished)",
        human(p.elapsed),
        p.pods_per_second(),
        p.pods_created,
        p.pods_deleted,
    );
}

/// The allocator the `skiff` binary uses, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let workload = Workload {
        replicas: args.replicas,
        nodes: args.nodes,
        durable: args.durable,
        progress: !args.quiet,
    };
    println!("{workload:?}");
    match run(&workload).await {
        Ok(r) => {
            line("create -> rollout complete", &r.create);
            line("new image -> rollout complete", &r.update);
            println!(
                "(kube-controller-manager at its default --kube-api-qps=20 creates about 20 pods/s)"
            );
        }
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            std::process::exit(1);
        }
    }
}
