//! The `skiff` binary: thin wiring of Skiff's crates into cluster components. Each
//! subcommand lives in its own module; this file only parses flags and dispatches.

mod apiserver;
mod controller_manager;
mod store;

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Skiff: a Kubernetes-compatible orchestrator.
#[derive(Parser, Debug)]
#[command(name = "skiff", version, about)]
enum Command {
    /// Run the store: a single-member etcd speaking the etcd v3 gRPC API.
    Store(store::StoreArgs),
    /// Run the Kubernetes API server over HTTPS (admin kubeconfig in --data-dir).
    Apiserver(apiserver::ApiServerArgs),
    /// Run the controllers (ReplicaSet, Deployment, namespace, garbage collector)
    /// against an API server given by a kubeconfig.
    ControllerManager(controller_manager::ControllerManagerArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let result = match Command::parse() {
        Command::Store(args) => store::run(args).await.map_err(|e| e.to_string()),
        Command::Apiserver(args) => apiserver::run(args).await.map_err(|e| e.to_string()),
        Command::ControllerManager(args) => controller_manager::run(args)
            .await
            .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
