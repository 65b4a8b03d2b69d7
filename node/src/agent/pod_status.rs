//! What the agent knows about each container of a pod ([`ContainerRecord`]) and the
//! pure functions that turn it into the pod's phase and `status`, as the kubelet
//! computes them.
//!
//! ```
//! use skiff_node::agent::pod_status::{phase, Tally};
//! // Never: every container ended and one failed.
//! let t = Tally { stopped: 2, succeeded: 1, ..Tally::default() };
//! assert_eq!(phase("Never", true, false, &t), "Failed");
//! assert_eq!(phase("Always", true, false, &t), "Running");
//! ```

use std::time::SystemTime;

use k8s_openapi::api::core::v1::{
    ContainerState as K8sState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus as K8sContainerStatus, HostIP, PodCondition, PodIP,
    PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::runtime::{ContainerState, ContainerStatus};

/// Why the agent holds a container back (shown as its `waiting` state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// `CrashLoopBackOff`, `ErrImageNeverPull`, `CreateContainerConfigError`, ...
    pub reason: String,
    /// For the user.
    pub message: String,
}

/// The agent's bookkeeping of one container of the pod spec, across its attempts.
#[derive(Clone, Debug, Default)]
pub struct ContainerRecord {
    /// Its name in the spec.
    pub name: String,
    /// Its image in the spec.
    pub image: String,
    /// Whether it is an init container.
    pub init: bool,
    /// The runtime's status of the current attempt, if one was created.
    pub current: Option<ContainerStatus>,
    /// Restarts so far (`restartCount`).
    pub restart_count: i32,
    /// How many attempts were created (the next attempt's number).
    pub attempts: u32,
    /// Restarts the back-off has counted (reset after a long run).
    pub backoff_restarts: u32,
    /// The previous attempt's final status (`lastState`).
    pub last_terminated: Option<ContainerStatus>,
    /// Why the agent holds it back, if it does.
    pub waiting: Option<Waiting>,
    /// Set when it runs on the host because its image is not in the store.
    pub host_note: Option<String>,
    /// When the current attempt started (for probe delays).
    pub started: Option<std::time::Instant>,
    /// The readiness probe's tally, when the container has one.
    pub readiness: Option<super::probe::ProbeState>,
    /// The liveness probe's tally, when the container has one.
    pub liveness: Option<super::probe::ProbeState>,
    /// The startup probe's tally, when the container has one: until it succeeds the
    /// container is not `started` and its other probes do not run.
    pub startup: Option<super::probe::ProbeState>,
    /// The command of its `lifecycle.preStop.exec` hook, if it has one.
    pub pre_stop: Option<super::hooks::Hook>,
}

impl ContainerRecord {
    /// The state of the current attempt (`None`: never created).
    pub fn state(&self) -> Option<ContainerState> {
        self.current.as_ref().map(|c| c.state)
    }

    /// The exit code of the current attempt, if it exited.
    pub fn exit_code(&self) -> Option<i32> {
        self.current
            .as_ref()
            .filter(|c| c.state == ContainerState::Exited)
            .and_then(|c| c.exit_code)
    }

    /// Whether the current attempt is running.
    pub fn running(&self) -> bool {
        self.state() == Some(ContainerState::Running)
    }

    /// Whether it has started: running, and its startup probe (if any) succeeded.
    pub fn started(&self) -> bool {
        self.running() && self.startup.as_ref().is_none_or(|p| p.ok)
    }

    /// Whether it is ready: started, not held back, and its readiness probe (if any)
    /// passing.
    pub fn ready(&self) -> bool {
        self.started() && self.waiting.is_none() && self.readiness.as_ref().is_none_or(|p| p.ok)
    }
}

/// Counts of the regular containers by state, as the kubelet's `getPhase` tallies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Not started yet (never ran).
    pub waiting: usize,
    /// Running.
    pub running: usize,
    /// Ended (and not running again yet).
    pub stopped: usize,
    /// Ended with exit code 0.
    pub succeeded: usize,
}

impl Tally {
    /// Tallies the regular containers of `records`.
    pub fn of(records: &[ContainerRecord]) -> Tally {
        let mut t = Tally::default();
        for r in records.iter().filter(|r| !r.init) {
            match r.state() {
                Some(ContainerState::Running) => t.running += 1,
                Some(ContainerState::Exited) => {
                    t.stopped += 1;
                    if r.exit_code() == Some(0) {
                        t.succeeded += 1;
                    }
                }
                _ if r.last_terminated.is_some() => t.stopped += 1,
                _ => t.waiting += 1,
            }
        }
        t
    }
}

/// The pod's phase from its restart policy, whether its init containers are done,
/// whether one failed for good, and the tally of its containers.
pub fn phase(
    restart_policy: &str,
    initialized: bool,
    init_failed: bool,
    t: &Tally,
) -> &'static str {
    if init_failed {
        return "Failed";
    }
    if !initialized || t.waiting > 0 {
        return "Pending";
    }
    if t.running > 0 {
        return "Running";
    }
    if t.stopped > 0 {
        return match restart_policy {
            "Always" => "Running",
            _ if t.stopped == t.succeeded => "Succeeded",
            "Never" => "Failed",
            _ => "Running",
        };
    }
    "Pending"
}

/// A `SystemTime` as a timestamp (times before 1970 or past jiff's range read as the
/// epoch).
pub fn timestamp(t: SystemTime) -> k8s_openapi::jiff::Timestamp {
    use k8s_openapi::jiff::Timestamp;
    t.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| {
            let secs = i64::try_from(d.as_secs()).ok()?;
            Timestamp::new(secs, i32::try_from(d.subsec_nanos()).ok()?).ok()
        })
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A `SystemTime` as an API time.
pub fn api_time(t: SystemTime) -> Time {
    Time(timestamp(t))
}

/// Now, as an API time.
pub fn now() -> Time {
    api_time(SystemTime::now())
}

fn terminated(c: &ContainerStatus, runtime: &str) -> ContainerStateTerminated {
    ContainerStateTerminated {
        exit_code: c.exit_code.unwrap_or(0),
        reason: (!c.reason.is_empty()).then(|| c.reason.clone()),
        message: (!c.message.is_empty()).then(|| c.message.clone()),
        started_at: c.started_at.map(api_time),
        finished_at: c.finished_at.map(api_time),
        container_id: Some(format!("{runtime}://{}", c.id)),
        signal: None,
    }
}

fn waiting(reason: &str, message: Option<&str>) -> K8sState {
    K8sState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_owned()),
            message: message.map(str::to_owned),
        }),
        ..K8sState::default()
    }
}

/// One container's `containerStatuses` entry. `initializing`: the pod's init
/// containers are not done (regular containers wait with `PodInitializing`).
pub fn container_status(
    r: &ContainerRecord,
    runtime: &str,
    initializing: bool,
) -> K8sContainerStatus {
    let exited = r.state() == Some(ContainerState::Exited);
    let state = match (&r.waiting, &r.current) {
        (Some(w), _) => waiting(&w.reason, Some(&w.message)),
        (None, None) if initializing && !r.init => waiting("PodInitializing", None),
        (None, None) => waiting("ContainerCreating", None),
        (None, Some(c)) => match c.state {
            ContainerState::Created => waiting("ContainerCreating", None),
            ContainerState::Running => K8sState {
                running: Some(ContainerStateRunning {
                    started_at: c.started_at.map(api_time),
                }),
                ..K8sState::default()
            },
            ContainerState::Exited => K8sState {
                terminated: Some(terminated(c, runtime)),
                ..K8sState::default()
            },
            ContainerState::Unknown => waiting("Unknown", Some("the runtime lost the container")),
        },
    };
    // While waiting to restart, the exited attempt is the last state.
    let last = match (&r.waiting, &r.current) {
        (Some(_), Some(c)) if exited => Some(c),
        _ => r.last_terminated.as_ref(),
    };
    let last_state = last.map(|c| K8sState {
        terminated: Some(terminated(c, runtime)),
        ..K8sState::default()
    });
    let ready = if r.init {
        r.exit_code() == Some(0)
    } else {
        r.ready()
    };
    K8sContainerStatus {
        name: r.name.clone(),
        image: r.image.clone(),
        image_id: r
            .current
            .as_ref()
            .map(|c| c.image_ref.clone())
            .unwrap_or_default(),
        container_id: r.current.as_ref().map(|c| format!("{runtime}://{}", c.id)),
        ready,
        restart_count: r.restart_count,
        started: Some(r.started()),
        state: Some(state),
        last_state,
        ..K8sContainerStatus::default()
    }
}

/// A condition; keeps `lastTransitionTime` of `previous` when the status is the same.
pub fn condition(
    kind: &str,
    ok: bool,
    reason: Option<String>,
    message: Option<String>,
    previous: &[PodCondition],
) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    let transition = previous
        .iter()
        .find(|c| c.type_ == kind && c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or_else(now);
    PodCondition {
        type_: kind.to_owned(),
        status: status.to_owned(),
        reason,
        message,
        last_transition_time: Some(transition),
        ..PodCondition::default()
    }
}

/// Everything the pod's status is computed from.
#[derive(Debug)]
pub struct PodView<'a> {
    /// The containers, init ones first in spec order.
    pub records: &'a [ContainerRecord],
    /// The runtime's name (for `containerID`s).
    pub runtime: &'a str,
    /// The phase.
    pub phase: &'a str,
    /// Whether the init containers are done.
    pub initialized: bool,
    /// The node's IP.
    pub host_ip: &'a str,
    /// The pod's IP, once its sandbox has one.
    pub pod_ip: Option<&'a str>,
    /// When the agent took the pod up.
    pub start_time: Option<Time>,
    /// A note for the user (`status.message`).
    pub message: Option<String>,
    /// The conditions last reported (for transition times).
    pub previous: &'a [PodCondition],
}

/// The pod's `status`.
pub fn pod_status(v: &PodView<'_>) -> PodStatus {
    let regular: Vec<&ContainerRecord> = v.records.iter().filter(|r| !r.init).collect();
    let terminal = matches!(v.phase, "Succeeded" | "Failed");
    let unready: Vec<&str> = regular
        .iter()
        .filter(|r| !r.ready())
        .map(|r| r.name.as_str())
        .collect();
    let incomplete: Vec<&str> = v
        .records
        .iter()
        .filter(|r| r.init && r.exit_code() != Some(0))
        .map(|r| r.name.as_str())
        .collect();
    let containers_ready = unready.is_empty() && !terminal;
    let (not_ready_reason, not_ready_message) = if terminal {
        (Some("PodCompleted".to_owned()), None)
    } else if containers_ready {
        (None, None)
    } else {
        (
            Some("ContainersNotReady".to_owned()),
            Some(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            )),
        )
    };
    let conditions = vec![
        condition("PodScheduled", true, None, None, v.previous),
        condition(
            "Initialized",
            v.initialized,
            (!v.initialized).then(|| "ContainersNotInitialized".to_owned()),
            (!v.initialized).then(|| {
                format!(
                    "containers with incomplete status: [{}]",
                    incomplete.join(" ")
                )
            }),
            v.previous,
        ),
        condition(
            "ContainersReady",
            containers_ready,
            not_ready_reason.clone(),
            not_ready_message.clone(),
            v.previous,
        ),
        condition(
            "Ready",
            containers_ready,
            not_ready_reason,
            not_ready_message,
            v.previous,
        ),
    ];
    let initializing = !v.initialized;
    let init_statuses: Vec<K8sContainerStatus> = v
        .records
        .iter()
        .filter(|r| r.init)
        .map(|r| container_status(r, v.runtime, initializing))
        .collect();
    PodStatus {
        phase: Some(v.phase.to_owned()),
        conditions: Some(conditions),
        host_ip: Some(v.host_ip.to_owned()),
        host_ips: Some(vec![HostIP {
            ip: v.host_ip.to_owned(),
        }]),
        pod_ip: v.pod_ip.map(str::to_owned),
        pod_ips: v.pod_ip.map(|ip| vec![PodIP { ip: ip.to_owned() }]),
        start_time: v.start_time.clone(),
        message: v.message.clone(),
        container_statuses: Some(
            regular
                .iter()
                .map(|r| container_status(r, v.runtime, initializing))
                .collect(),
        ),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        ..PodStatus::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(code: i32) -> ContainerStatus {
        ContainerStatus {
            id: "c1".into(),
            sandbox_id: "s".into(),
            name: "c".into(),
            attempt: 0,
            state: ContainerState::Exited,
            created_at: SystemTime::UNIX_EPOCH,
            started_at: Some(SystemTime::UNIX_EPOCH),
            finished_at: Some(SystemTime::UNIX_EPOCH),
            exit_code: Some(code),
            image: "i".into(),
            image_ref: "sim://i".into(),
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message: String::new(),
            log_path: None,
            labels: Default::default(),
        }
    }

    #[test]
    fn phases() {
        let t = |waiting, running, stopped, succeeded| Tally {
            waiting,
            running,
            stopped,
            succeeded,
        };
        assert_eq!(phase("Always", false, false, &t(0, 0, 0, 0)), "Pending");
        assert_eq!(phase("Always", true, false, &t(1, 1, 0, 0)), "Pending");
        assert_eq!(phase("Always", true, false, &t(0, 1, 1, 0)), "Running");
        assert_eq!(phase("Always", true, false, &t(0, 0, 1, 1)), "Running");
        assert_eq!(phase("OnFailure", true, false, &t(0, 0, 2, 2)), "Succeeded");
        assert_eq!(phase("OnFailure", true, false, &t(0, 0, 2, 1)), "Running");
        assert_eq!(phase("Never", true, false, &t(0, 0, 2, 1)), "Failed");
        assert_eq!(phase("Never", true, false, &t(0, 0, 1, 1)), "Succeeded");
        assert_eq!(phase("Never", false, true, &t(1, 0, 0, 0)), "Failed");
    }

    #[test]
    fn crash_loop_shows_waiting_and_last_state() {
        let r = ContainerRecord {
            name: "c".into(),
            image: "i".into(),
            current: Some(exited(1)),
            restart_count: 2,
            waiting: Some(Waiting {
                reason: "CrashLoopBackOff".into(),
                message: "back-off 20s".into(),
            }),
            ..ContainerRecord::default()
        };
        let s = container_status(&r, "sim", false);
        let w = s.state.unwrap().waiting.unwrap();
        assert_eq!(w.reason.as_deref(), Some("CrashLoopBackOff"));
        let last = s.last_state.unwrap().terminated.unwrap();
        assert_eq!(last.exit_code, 1);
        assert_eq!(last.container_id.as_deref(), Some("sim://c1"));
        assert_eq!(s.restart_count, 2);
        assert!(!s.ready);
        assert_eq!(Tally::of(&[r]).stopped, 1);
    }

    #[test]
    fn status_conditions() {
        let init = ContainerRecord {
            name: "setup".into(),
            init: true,
            ..ContainerRecord::default()
        };
        let main = ContainerRecord {
            name: "main".into(),
            ..ContainerRecord::default()
        };
        let records = [init, main];
        let status = pod_status(&PodView {
            records: &records,
            runtime: "sim",
            phase: "Pending",
            initialized: false,
            host_ip: "10.0.0.1",
            pod_ip: None,
            start_time: None,
            message: None,
            previous: &[],
        });
        let conds = status.conditions.unwrap();
        let get = |t: &str| conds.iter().find(|c| c.type_ == t).unwrap().clone();
        assert_eq!(get("PodScheduled").status, "True");
        assert_eq!(get("Initialized").status, "False");
        assert_eq!(
            get("Initialized").message.as_deref(),
            Some("containers with incomplete status: [setup]")
        );
        assert_eq!(get("Ready").status, "False");
        let main = &status.container_statuses.unwrap()[0];
        assert_eq!(
            main.state
                .as_ref()
                .unwrap()
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("PodInitializing")
        );
        assert_eq!(status.init_container_statuses.unwrap().len(), 1);
    }
}
