//! The runtime conformance suite over both runtimes that ship with Skiff.

use skiff_node::process::ProcessHarness;
use skiff_node::runtime::conformance;
use skiff_node::sim::SimHarness;

#[tokio::test]
async fn sim_runtime_conforms() {
    conformance::run(&SimHarness::new()).await.unwrap();
}

#[tokio::test]
async fn process_runtime_conforms() {
    if which("sh").is_none() || which("sleep").is_none() {
        eprintln!("skipping: the process runtime's conformance run needs sh and sleep on PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let harness = ProcessHarness::new(dir.path().to_owned()).await.unwrap();
    conformance::run(&harness).await.unwrap();
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(program))
        .find(|p| p.is_file())
}
