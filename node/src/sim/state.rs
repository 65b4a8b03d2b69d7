//! The simulated runtime's bookkeeping: sandboxes, containers, images, rules.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use super::SimBehaviour;
use crate::runtime::{
    ContainerConfig, ContainerState, ContainerStatus, ExecSyncResponse, Image, PodSandboxStatus,
    RuntimeError,
};

/// Everything the runtime knows, behind one mutex.
#[derive(Default)]
pub(super) struct SimState {
    /// Increments for every id handed out: ids are never reused.
    pub seq: u64,
    /// `a.b.c` of the pods' IPs.
    pub ip_prefix: String,
    /// The last host number given (1..=254, then wraps).
    pub last_ip: u32,
    pub sandboxes: HashMap<String, SimSandbox>,
    pub containers: HashMap<String, SimContainer>,
    pub images: BTreeMap<String, Image>,
    pub unpullable: HashSet<String>,
    /// Behaviours by container name.
    pub rules: HashMap<String, SimBehaviour>,
    /// Scripted exec results by container name (default: exit 0, no output).
    pub exec_results: HashMap<String, ExecSyncResponse>,
    /// Synthetic resource usage by container name (default: none).
    pub usage: HashMap<String, super::SimUsage>,
}

impl SimState {
    pub fn next_id(&mut self, kind: &str) -> String {
        self.seq += 1;
        format!("sim-{kind}-{}", self.seq)
    }

    pub fn next_ip(&mut self) -> String {
        self.last_ip = self.last_ip % 254 + 1;
        format!("{}.{}", self.ip_prefix, self.last_ip)
    }
}

pub(super) struct SimSandbox {
    pub status: PodSandboxStatus,
}

pub(super) struct SimContainer {
    pub status: ContainerStatus,
    pub behaviour: SimBehaviour,
    /// Creation order (ties between attempts).
    pub seq: u64,
}

impl SimContainer {
    pub fn new(
        id: String,
        sandbox_id: &str,
        config: &ContainerConfig,
        image_ref: String,
        behaviour: SimBehaviour,
        seq: u64,
    ) -> Self {
        SimContainer {
            status: ContainerStatus {
                id,
                sandbox_id: sandbox_id.to_owned(),
                name: config.name.clone(),
                attempt: config.attempt,
                state: ContainerState::Created,
                created_at: SystemTime::now(),
                started_at: None,
                finished_at: None,
                exit_code: None,
                image: config.image.clone(),
                image_ref,
                reason: String::new(),
                message: String::new(),
                log_path: None,
                labels: config.labels.clone(),
            },
            behaviour,
            seq,
        }
    }

    /// Starts it; returns the scripted exit, if any.
    pub fn start(&mut self) -> Result<Option<(i32, Duration)>, RuntimeError> {
        let now = SystemTime::now();
        self.status.started_at = Some(now);
        match &self.behaviour {
            SimBehaviour::Run => {
                self.status.state = ContainerState::Running;
                Ok(None)
            }
            SimBehaviour::Exit { code, after } => {
                self.status.state = ContainerState::Running;
                Ok(Some((*code, *after)))
            }
            SimBehaviour::FailStart { message } => {
                let message = message.clone();
                self.status.state = ContainerState::Exited;
                self.status.finished_at = Some(now);
                self.status.exit_code = Some(128);
                self.status.reason = "StartError".into();
                self.status.message = message.clone();
                Err(RuntimeError::StartFailed {
                    id: self.status.id.clone(),
                    message,
                })
            }
        }
    }

    pub fn exit(&mut self, code: i32, message: &str) {
        self.status.state = ContainerState::Exited;
        self.status.finished_at = Some(SystemTime::now());
        self.status.exit_code = Some(code);
        self.status.reason = if code == 0 { "Completed" } else { "Error" }.into();
        self.status.message = message.to_owned();
    }

    pub fn exit_if_running(&mut self, code: i32) {
        if self.status.state == ContainerState::Running {
            self.exit(code, "");
        }
    }

    /// Stops it as a process that dies of the signal it gets: SIGTERM (143) with a
    /// grace period, SIGKILL (137) without.
    pub fn stop(&mut self, timeout: Duration) {
        match self.status.state {
            ContainerState::Running => {
                self.exit(if timeout.is_zero() { 137 } else { 143 }, "");
            }
            ContainerState::Created | ContainerState::Unknown => {
                self.status.state = ContainerState::Exited;
                self.status.finished_at = Some(SystemTime::now());
                self.status.exit_code = Some(0);
                self.status.reason = "NeverStarted".into();
            }
            ContainerState::Exited => {}
        }
    }
}
