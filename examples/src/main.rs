//! The `skiff` binary: thin wiring of Skiff's crates into cluster components.

use clap::Parser;

/// Skiff: a Kubernetes-compatible orchestrator.
#[derive(Parser, Debug)]
#[command(name = "skiff", version, about)]
enum Command {}

fn main() {
    let _cmd = Command::parse();
}
