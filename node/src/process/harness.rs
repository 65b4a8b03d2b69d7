//! [`ProcessHarness`]: the conformance suite's view of the process runtime.

use std::path::PathBuf;

use crate::runtime::conformance::Harness;
use crate::runtime::{ContainerConfig, ExecSyncResponse, Image, Runtime, RuntimeError};

use super::{ProcessRuntime, ProcessRuntimeConfig};

/// Runs [`crate::runtime::conformance::run`] against a [`ProcessRuntime`] under a
/// directory of the caller's (a temporary one in tests). Needs `sh` and `sleep`.
#[derive(Debug)]
pub struct ProcessHarness {
    runtime: ProcessRuntime,
}

impl ProcessHarness {
    /// A runtime under `root` with the image `local/app:1` imported.
    pub async fn new(root: PathBuf) -> Result<Self, RuntimeError> {
        let runtime = ProcessRuntime::new(ProcessRuntimeConfig::new(root));
        runtime
            .images()
            .import(
                "local/app:1",
                Image {
                    entrypoint: vec!["sleep".into()],
                    cmd: vec!["60".into()],
                    ..Image::default()
                },
            )
            .await?;
        Ok(ProcessHarness { runtime })
    }
}

fn host(name: &str, command: &[&str]) -> ContainerConfig {
    ContainerConfig {
        name: name.to_owned(),
        image: "host".into(),
        command: command.iter().map(|s| s.to_string()).collect(),
        run_on_host: true,
        ..ContainerConfig::default()
    }
}

impl Harness for ProcessHarness {
    fn runtime(&self) -> &dyn Runtime {
        &self.runtime
    }

    fn long_running(&self, name: &str) -> ContainerConfig {
        host(name, &["sleep", "60"])
    }

    fn exits_with(&self, name: &str, code: i32) -> ContainerConfig {
        host(name, &["sh", "-c", &format!("exit {code}")])
    }

    fn pullable_image(&self) -> String {
        "local/app:1".into()
    }

    fn unavailable_image(&self) -> String {
        "registry.example/never:1".into()
    }

    fn exec_command(&self, _name: &str) -> Option<(Vec<String>, ExecSyncResponse)> {
        Some((
            ["sh", "-c", "echo out; echo err >&2; exit 3"]
                .map(str::to_owned)
                .to_vec(),
            ExecSyncResponse {
                stdout: b"out\n".to_vec(),
                stderr: b"err\n".to_vec(),
                exit_code: 3,
            },
        ))
    }
}
