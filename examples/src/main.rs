//! The `skiff` binary: thin wiring of Skiff's crates into cluster components. Each
//! subcommand lives in its own module; this file only parses flags and dispatches.

mod apiserver;
mod apiserver_flags;
mod controller_flags;
mod controller_manager;
mod image;
mod kubeconfig;
mod logging;
mod node;
mod scheduler;
mod store;
mod up;

use clap::{Parser, Subcommand};

/// Skiff: a Kubernetes-compatible orchestrator.
#[derive(Parser, Debug)]
#[command(name = "skiff", version, about)]
struct Cli {
    /// Log lines as text or as one JSON object per line (level filter: RUST_LOG).
    #[arg(long, value_enum, global = true, default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a whole cluster in one process: store, API server, controllers, scheduler
    /// and node agents (admin kubeconfig in --data-dir).
    Up(up::UpArgs),
    /// Run the store: a single-member etcd speaking the etcd v3 gRPC API.
    Store(store::StoreArgs),
    /// Run the Kubernetes API server over HTTPS (admin kubeconfig in --data-dir).
    Apiserver(apiserver::ApiServerArgs),
    /// Run the controllers (ReplicaSet, Deployment, namespace, garbage collector, ...)
    /// against an API server given by a kubeconfig.
    ControllerManager(controller_manager::ControllerManagerArgs),
    /// Run the scheduler against an API server given by a kubeconfig.
    Scheduler(scheduler::SchedulerArgs),
    /// Run node agents (one real node, or many hollow ones) against an API server
    /// given by a kubeconfig.
    Node(node::NodeArgs),
    /// Issue a kubeconfig for a user or a node, signed by the cluster CA.
    Kubeconfig(kubeconfig::KubeconfigArgs),
    /// Import, list and remove images in the process runtime's local image store.
    Image(image::ImageArgs),
}

/// mimalloc instead of glibc's malloc: allocation was about a quarter of the CPU of
/// the API server's and scheduler's hot paths under glibc (see benches/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let result = match cli.command {
        Command::Up(args) => up::run(args).await.map_err(|e| e.to_string()),
        Command::Store(args) => store::run(args).await.map_err(|e| e.to_string()),
        Command::Apiserver(args) => apiserver::run(args).await.map_err(|e| e.to_string()),
        Command::ControllerManager(args) => controller_manager::run(args)
            .await
            .map_err(|e| e.to_string()),
        Command::Scheduler(args) => scheduler::run(args).await.map_err(|e| e.to_string()),
        Command::Node(args) => node::run(args).await.map_err(|e| e.to_string()),
        Command::Kubeconfig(args) => kubeconfig::run(args).map_err(|e| e.to_string()),
        Command::Image(args) => image::run(args).await.map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
