//! The API server benchmark: Skiff's API server on a durable embedded store, driven
//! in-process (no socket; `inprocess` calls the handlers with values,
//! `inprocess-http` sends HTTP requests with JSON bodies to the router) and over HTTPS
//! on loopback (client certificates, HTTP/2)
//! with the same workloads: pod creates at several concurrencies, gets, full and
//! paginated lists of 10,000 pods, and watch fan-out (one write delivered to 1,000
//! and 10,000 watchers). Prints a Markdown table; the Kubernetes SLO for mutating
//! calls is p99 ≤ 1 s.
//!
//! ```text
//! cargo run --release -p skiff-benches --bin apiserver_bench            # full run
//! cargo run --release -p skiff-benches --bin apiserver_bench -- --quick # short run
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use skiff_benches::apiserver_setup::BenchApiServer;
use skiff_benches::apiserver_workload::{
    create_pods, ensure_namespace, get_pods, get_raw, list_pods, watch_fan_out, FanOut, Phase,
};
use skiff_benches::latency::{human, Measured};
use skiff_core::client::Client;

/// Benchmark Skiff's API server in-process and over HTTPS.
#[derive(Parser, Debug)]
#[command(name = "apiserver_bench")]
struct Args {
    /// A short run: 2,000 pods, short phases, 1,000 watchers.
    #[arg(long)]
    quick: bool,
    /// Pods created (and then read and listed) per transport.
    #[arg(long)]
    pods: Option<u64>,
    /// Concurrent clients of the create and get phases.
    #[arg(long, value_delimiter = ',', default_value = "1,16,128")]
    clients: Vec<usize>,
    /// Watchers of the fan-out phases.
    #[arg(long, value_delimiter = ',')]
    watchers: Vec<usize>,
    /// Writes measured per fan-out phase.
    #[arg(long, default_value_t = 20)]
    writes: u64,
    /// Longest a create/get phase may run, in seconds.
    #[arg(long)]
    duration: Option<u64>,
    /// Transports to run: inprocess (handlers called with values), inprocess-http
    /// (HTTP requests with JSON bodies to the router, no socket), https.
    #[arg(long, value_delimiter = ',', default_value = "inprocess,https")]
    transports: Vec<String>,
    /// Where the temporary data directory goes (default: the system temp directory).
    #[arg(long)]
    data_root: Option<PathBuf>,
}

/// Watchers per HTTPS connection in the fan-out phases.
const WATCHERS_PER_CONNECTION: usize = 500;

fn row(transport: &str, workload: &str, clients: &str, m: &Measured) {
    println!(
        "| {transport} | {workload} | {clients} | {} | {:.0}/s | {} | {} | {} |",
        m.latencies.count(),
        m.throughput(),
        human(m.latencies.quantile(0.5)),
        human(m.latencies.quantile(0.99)),
        m.latencies.errors,
    );
}

fn fan_out_row(transport: &str, f: &FanOut) {
    println!(
        "| {transport} | watch fan-out (to each watcher) | {} watchers | {} | - | {} | {} | {} |",
        f.watchers,
        f.per_watcher.count(),
        human(f.per_watcher.quantile(0.5)),
        human(f.per_watcher.quantile(0.99)),
        f.incomplete,
    );
    println!(
        "| {transport} | watch fan-out (to all watchers) | {} watchers | {} | - | {} | {} | {} |",
        f.watchers,
        f.to_all.count(),
        human(f.to_all.quantile(0.5)),
        human(f.to_all.quantile(0.99)),
        f.incomplete,
    );
}

/// The allocator the `skiff` binary uses, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let pods = args.pods.unwrap_or(if args.quick { 2_000 } else { 10_000 });
    let max = Duration::from_secs(args.duration.unwrap_or(if args.quick { 5 } else { 30 }));
    let watchers = if args.watchers.is_empty() {
        if args.quick {
            vec![1_000]
        } else {
            vec![1_000, 10_000]
        }
    } else {
        args.watchers.clone()
    };
    let bench = match BenchApiServer::start(args.data_root.as_deref()).await {
        Ok(bench) => bench,
        Err(e) => {
            eprintln!("cannot start the API server: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("| transport | workload | clients | ops | throughput | p50 | p99 | errors |");
    println!("|---|---|---|---|---|---|---|---|");
    for transport in &args.transports {
        let client: Arc<dyn Client> = match transport.as_str() {
            "inprocess" => bench.in_process_client(),
            "inprocess-http" => bench.in_process_http_client(),
            "https" => match bench.https_client() {
                Ok(client) => client,
                Err(e) => {
                    eprintln!("cannot build the HTTPS client: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            },
            other => {
                eprintln!("unknown transport {other:?} (inprocess, inprocess-http, https)");
                return std::process::ExitCode::FAILURE;
            }
        };
        run_transport(&bench, transport, &client, &args, pods, max, &watchers).await;
    }
    std::process::ExitCode::SUCCESS
}

async fn run_transport(
    bench: &BenchApiServer,
    transport: &str,
    client: &Arc<dyn Client>,
    args: &Args,
    pods: u64,
    max: Duration,
    watchers: &[usize],
) {
    // Creates: each concurrency level writes into its own namespace; the last level's
    // namespace is topped up to `pods` for the read phases.
    let mut read_namespace = String::new();
    let mut created = 0;
    for &clients in &args.clients {
        let namespace = format!("{transport}-c{clients}");
        ensure_namespace(client, &namespace).await;
        let phase = Phase {
            ops: pods,
            concurrency: clients,
            max,
        };
        let m = create_pods(client, &namespace, "pod", phase).await;
        row(transport, "create pod", &clients.to_string(), &m);
        if m.latencies.count() >= created {
            created = m.latencies.count();
            read_namespace = namespace;
        }
    }
    if created < pods && !read_namespace.is_empty() {
        // Top up (unmeasured) so the reads see `pods` pods.
        let top_up = Phase {
            ops: pods,
            concurrency: 128,
            max: Duration::from_secs(600),
        };
        let namespace = format!("{transport}-reads");
        ensure_namespace(client, &namespace).await;
        let m = create_pods(client, &namespace, "pod", top_up).await;
        created = m.latencies.count();
        read_namespace = namespace;
    }

    for &clients in &args.clients {
        let phase = Phase {
            ops: pods * 2,
            concurrency: clients,
            max,
        };
        let m = get_pods(client, &read_namespace, "pod", created, phase).await;
        row(transport, "get pod", &clients.to_string(), &m);
    }

    for (page, label) in [(0u32, "list (one response)"), (500, "list (pages of 500)")] {
        for clients in [1usize, 16] {
            let phase = Phase {
                ops: if args.quick { 5 } else { 20 } * clients as u64,
                concurrency: clients,
                max,
            };
            let (m, items) = list_pods(client, &read_namespace, page, phase).await;
            row(
                transport,
                &format!("{label} of {items} pods"),
                &clients.to_string(),
                &m,
            );
        }
    }

    if transport == "inprocess" {
        server_side_lists(bench, &read_namespace, args, max).await;
    }

    for &count in watchers {
        let namespace = format!("{transport}-fanout-{count}");
        ensure_namespace(client, &namespace).await;
        // In-process watchers share the one client; over HTTPS they spread over
        // connections of WATCHERS_PER_CONNECTION streams.
        let clients: Vec<Arc<dyn Client>> = if transport == "https" {
            let connections = count.div_ceil(WATCHERS_PER_CONNECTION).max(1);
            let mut clients = Vec::with_capacity(connections);
            for _ in 0..connections {
                match bench.https_client() {
                    Ok(client) => clients.push(client),
                    Err(e) => {
                        eprintln!("cannot build an HTTPS client: {e}");
                        return;
                    }
                }
            }
            clients
        } else {
            vec![client.clone()]
        };
        let f = watch_fan_out(
            &clients,
            &namespace,
            count,
            args.writes,
            Duration::from_secs(30),
        )
        .await;
        fan_out_row(transport, &f);
    }
}

/// The server's side of a list of the read namespace, body read but not decoded: from
/// the store (`resourceVersionMatch=Exact`, the path every list took before lists were
/// served from the watch cache) and from the watch cache (a consistent list).
async fn server_side_lists(bench: &BenchApiServer, namespace: &str, args: &Args, max: Duration) {
    let base = format!("/api/v1/namespaces/{namespace}/pods");
    let Ok(current) = bench.server().store().status().await else {
        eprintln!("cannot read the store's revision");
        return;
    };
    let revision = current.header.revision;
    for (label, query) in [
        (
            "server side: list from the store",
            format!("{base}?resourceVersion={revision}&resourceVersionMatch=Exact"),
        ),
        ("server side: list from the watch cache", base.clone()),
        (
            "server side: first page of 500 from the watch cache",
            format!("{base}?limit=500"),
        ),
    ] {
        for clients in [1usize, 16] {
            let phase = Phase {
                ops: if args.quick { 5 } else { 20 } * clients as u64,
                concurrency: clients,
                max,
            };
            let (m, bytes) = get_raw(bench.server(), &query, phase).await;
            row(
                "inprocess",
                &format!("{label} ({:.1} MB)", bytes as f64 / 1e6),
                &clients.to_string(),
                &m,
            );
        }
    }
}
