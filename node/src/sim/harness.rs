//! [`SimHarness`]: the conformance suite's view of the simulated runtime.

use crate::runtime::conformance::Harness;
use crate::runtime::{ContainerConfig, ExecSyncResponse, Runtime};

use super::{SimBehaviour, SimRuntime, BEHAVIOUR_LABEL};

/// Runs [`crate::runtime::conformance::run`] against a fresh [`SimRuntime`].
#[derive(Debug)]
pub struct SimHarness {
    runtime: SimRuntime,
}

impl SimHarness {
    /// A harness over a fresh runtime; `missing:latest` cannot be pulled.
    pub fn new() -> Self {
        let runtime = SimRuntime::new();
        runtime.set_unpullable("missing:latest");
        SimHarness { runtime }
    }
}

impl Default for SimHarness {
    fn default() -> Self {
        Self::new()
    }
}

fn config(name: &str, behaviour: SimBehaviour) -> ContainerConfig {
    let mut c = ContainerConfig {
        name: name.to_owned(),
        image: "sim/app:1".into(),
        ..ContainerConfig::default()
    };
    c.labels
        .insert(BEHAVIOUR_LABEL.into(), behaviour.to_string());
    c
}

impl Harness for SimHarness {
    fn runtime(&self) -> &dyn Runtime {
        &self.runtime
    }

    fn long_running(&self, name: &str) -> ContainerConfig {
        config(name, SimBehaviour::Run)
    }

    fn exits_with(&self, name: &str, code: i32) -> ContainerConfig {
        config(
            name,
            SimBehaviour::Exit {
                code,
                after: std::time::Duration::ZERO,
            },
        )
    }

    fn exec_command(&self, name: &str) -> Option<(Vec<String>, ExecSyncResponse)> {
        let expected = ExecSyncResponse {
            stdout: b"scripted out".to_vec(),
            stderr: b"scripted err".to_vec(),
            exit_code: 3,
        };
        self.runtime.set_exec_result(name, expected.clone());
        Some((vec!["anything".into()], expected))
    }

    fn pullable_image(&self) -> String {
        "sim/app:1".into()
    }

    fn unavailable_image(&self) -> String {
        "missing:latest".into()
    }
}
