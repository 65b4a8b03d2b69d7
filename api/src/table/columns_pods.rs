//! Columns of pods, as kube-apiserver's `printPod` fills them: READY counts running
//! ready containers (and started sidecars), STATUS is the phase refined by init and
//! container states (`Init:1/2`, `Init:CrashLoopBackOff`, `CrashLoopBackOff`,
//! `Completed`, `Terminating`, ...), RESTARTS says when the last restart was.
//!
//! ```text
//! NAME   READY   STATUS    RESTARTS      AGE
//! web    1/1     Running   3 (2m ago)    10m
//! ```

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::cells::{array_at, at, human_duration, int_at, str_at, time_at};
use super::columns::{age_column, col, name_column, Column};

/// The columns of pods.
pub fn columns(group: &str, kind: &str) -> Option<Vec<Column>> {
    if (group, kind) != ("", "Pod") {
        return None;
    }
    Some(vec![
        name_column(),
        col("Ready", "string", 0, |o, now| {
            let s = summary(o, now);
            json!(format!("{}/{}", s.ready, s.total))
        }),
        col("Status", "string", 0, |o, now| {
            json!(summary(o, now).reason)
        }),
        col("Restarts", "string", 0, |o, now| {
            json!(summary(o, now).restarts)
        }),
        age_column(),
        col("IP", "string", 1, |o, _| json!(pod_ip(o))),
        col("Node", "string", 1, |o, _| {
            json!(non_empty(str_at(o, "spec.nodeName", "")))
        }),
        col("Nominated Node", "string", 1, |o, _| {
            json!(non_empty(str_at(o, "status.nominatedNodeName", "")))
        }),
        col("Readiness Gates", "string", 1, |o, _| {
            json!(readiness_gates(o))
        }),
    ])
}

/// READY, STATUS and RESTARTS of a pod.
struct Summary {
    ready: usize,
    total: usize,
    reason: String,
    restarts: String,
}

/// `printPod`'s walk over a pod's init and app container statuses.
fn summary(o: &Value, now: DateTime<Utc>) -> Summary {
    let phase = str_at(o, "status.phase", "");
    let mut reason = match str_at(o, "status.reason", "") {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    if array_at(o, "status.conditions").iter().any(|c| {
        str_at(c, "type", "") == "PodScheduled" && str_at(c, "reason", "") == "SchedulingGated"
    }) {
        reason = "SchedulingGated".into();
    }

    let init_specs = array_at(o, "spec.initContainers");
    let is_sidecar = |name: &str| {
        init_specs
            .iter()
            .any(|c| str_at(c, "name", "") == name && str_at(c, "restartPolicy", "") == "Always")
    };
    let mut total = array_at(o, "spec.containers").len();
    total += init_specs
        .iter()
        .filter(|c| str_at(c, "restartPolicy", "") == "Always")
        .count();
    let mut ready = 0;
    let mut restarts = 0;
    let mut sidecar_restarts = 0;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_sidecar_restart: Option<DateTime<Utc>> = None;

    let mut initializing = false;
    let init_statuses = array_at(o, "status.initContainerStatuses");
    for (i, c) in init_statuses.iter().enumerate() {
        let count = int_at(c, "restartCount");
        let finished = time_at(c, "lastState.terminated.finishedAt");
        restarts += count;
        last_restart = later(last_restart, finished);
        let sidecar = is_sidecar(str_at(c, "name", ""));
        if sidecar {
            sidecar_restarts += count;
            last_sidecar_restart = later(last_sidecar_restart, finished);
        }
        let terminated = at(c, "state.terminated").filter(|t| t.is_object());
        let waiting_reason = str_at(c, "state.waiting.reason", "");
        match terminated {
            Some(t) if int_at(t, "exitCode") == 0 => continue,
            _ if sidecar && at(c, "started").and_then(Value::as_bool) == Some(true) => {
                if at(c, "ready").and_then(Value::as_bool) == Some(true) {
                    ready += 1;
                }
                continue;
            }
            Some(t) => reason = format!("Init:{}", ended(t)),
            None if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" => {
                reason = format!("Init:{waiting_reason}");
            }
            None => reason = format!("Init:{i}/{}", init_specs.len()),
        }
        initializing = true;
        break;
    }

    let initialized = array_at(o, "status.conditions")
        .iter()
        .any(|c| str_at(c, "type", "") == "Initialized" && str_at(c, "status", "") == "True");
    if !initializing || initialized {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in array_at(o, "status.containerStatuses").iter().rev() {
            restarts += int_at(c, "restartCount");
            last_restart = later(last_restart, time_at(c, "lastState.terminated.finishedAt"));
            let waiting_reason = str_at(c, "state.waiting.reason", "");
            let terminated = at(c, "state.terminated").filter(|t| t.is_object());
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = terminated {
                reason = ended(t);
            } else if at(c, "ready").and_then(Value::as_bool) == Some(true)
                && at(c, "state.running").is_some_and(Value::is_object)
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = array_at(o, "status.conditions")
                .iter()
                .any(|c| str_at(c, "type", "") == "Ready" && str_at(c, "status", "") == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.into();
        }
    }

    if at(o, "metadata.deletionTimestamp").is_some_and(|t| !t.is_null()) {
        if str_at(o, "status.reason", "") == "NodeLost" {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }

    let restarts = match last_restart {
        Some(t) if restarts != 0 => format!(
            "{restarts} ({} ago)",
            human_duration(now.signed_duration_since(t))
        ),
        _ => restarts.to_string(),
    };
    Summary {
        ready,
        total,
        reason,
        restarts,
    }
}

/// Why a container ended: its reason, else `Signal:N`, else `ExitCode:N`.
fn ended(terminated: &Value) -> String {
    match str_at(terminated, "reason", "") {
        "" if int_at(terminated, "signal") != 0 => {
            format!("Signal:{}", int_at(terminated, "signal"))
        }
        "" => format!("ExitCode:{}", int_at(terminated, "exitCode")),
        reason => reason.to_string(),
    }
}

fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn non_empty(text: &str) -> &str {
    if text.is_empty() {
        "<none>"
    } else {
        text
    }
}

/// The pod's first IP (`status.podIPs[0]`, which the API keeps equal to
/// `status.podIP`), or `<none>`.
fn pod_ip(o: &Value) -> String {
    let first = array_at(o, "status.podIPs")
        .first()
        .map(|ip| str_at(ip, "ip", ""))
        .unwrap_or_else(|| str_at(o, "status.podIP", ""));
    non_empty(first).to_string()
}

/// `true/total` of the readiness gates whose condition is True, or `<none>`.
fn readiness_gates(o: &Value) -> String {
    let gates = array_at(o, "spec.readinessGates");
    if gates.is_empty() {
        return "<none>".into();
    }
    let conditions = array_at(o, "status.conditions");
    let ready = gates
        .iter()
        .filter(|g| {
            let gate = str_at(g, "conditionType", "");
            conditions
                .iter()
                .find(|c| str_at(c, "type", "") == gate)
                .is_some_and(|c| str_at(c, "status", "") == "True")
        })
        .count();
    format!("{ready}/{}", gates.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NAME READY STATUS RESTARTS of a pod.
    fn row(pod: Value) -> [String; 3] {
        let now = Utc::now();
        let cells: Vec<Value> = columns("", "Pod")
            .unwrap()
            .iter()
            .map(|c| (c.cell)(&pod, now))
            .collect();
        [1, 2, 3].map(|i| cells[i].as_str().unwrap_or_default().to_string())
    }

    fn ago(seconds: i64) -> String {
        (Utc::now() - chrono::Duration::seconds(seconds)).to_rfc3339()
    }

    fn running(name: &str, ready: bool, restarts: i64) -> Value {
        json!({"name": name, "ready": ready, "restartCount": restarts,
               "state": {"running": {"startedAt": ago(60)}}})
    }

    #[test]
    fn running_ready_and_restarted() {
        let pod = json!({
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": [
                running("a", true, 0),
                {"name": "b", "ready": true, "restartCount": 3,
                 "state": {"running": {}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(120)}}}
            ]}
        });
        assert_eq!(row(pod), ["2/2", "Running", "3 (2m ago)"]);
    }

    #[test]
    fn container_states_set_the_status() {
        let waiting = json!({
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": [
                running("a", true, 0),
                {"name": "b", "ready": false, "restartCount": 4,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ]}
        });
        // A restart count without a recorded termination time prints the count alone.
        assert_eq!(row(waiting), ["1/2", "CrashLoopBackOff", "4"]);
        let killed = json!({
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "a", "restartCount": 0, "state": {"terminated": {"signal": 9}}}]}
        });
        assert_eq!(row(killed), ["0/1", "Signal:9", "0"]);
        let exited = json!({
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "containerStatuses": [
                {"name": "a", "state": {"terminated": {"exitCode": 2}}}]}
        });
        assert_eq!(row(exited), ["0/1", "ExitCode:2", "0"]);
        // Completed with a container still running: Running if the pod is Ready.
        let completed = json!({
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running",
                       "conditions": [{"type": "Ready", "status": "False"}],
                       "containerStatuses": [
                running("a", true, 0),
                {"name": "b", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
            ]}
        });
        assert_eq!(row(completed), ["1/2", "NotReady", "0"]);
    }

    #[test]
    fn init_containers() {
        let pending = json!({
            "spec": {"initContainers": [{"name": "i1"}, {"name": "i2"}],
                     "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "i1", "state": {"terminated": {"exitCode": 0}}},
                {"name": "i2", "state": {"running": {}}}
            ]}
        });
        assert_eq!(row(pending), ["0/1", "Init:1/2", "0"]);
        let crashing = json!({
            "spec": {"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "i1", "restartCount": 2,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
        });
        assert_eq!(row(crashing), ["0/1", "Init:CrashLoopBackOff", "2"]);
        let failed = json!({
            "spec": {"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "i1", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}
        });
        assert_eq!(row(failed), ["0/1", "Init:Error", "0"]);
        // A started sidecar (restartPolicy Always) counts toward READY and the total.
        let sidecar = json!({
            "spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
                     "containers": [{"name": "a"}]},
            "status": {"phase": "Running",
                       "conditions": [{"type": "Initialized", "status": "True"}],
                       "initContainerStatuses": [
                {"name": "proxy", "started": true, "ready": true, "restartCount": 1,
                 "state": {"running": {}}}],
                       "containerStatuses": [running("a", true, 0)]}
        });
        assert_eq!(row(sidecar), ["2/2", "Running", "1"]);
    }

    #[test]
    fn deletion_gating_and_node_lost() {
        let deleting = json!({
            "metadata": {"deletionTimestamp": ago(1)},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [running("a", true, 0)]}
        });
        assert_eq!(row(deleting)[1], "Terminating");
        let done = json!({
            "metadata": {"deletionTimestamp": ago(1)},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [
                {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}
        });
        assert_eq!(row(done)[1], "Completed");
        let lost = json!({
            "metadata": {"deletionTimestamp": ago(1)},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "reason": "NodeLost"}
        });
        assert_eq!(row(lost)[1], "Unknown");
        let gated = json!({
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}
        });
        assert_eq!(row(gated), ["0/1", "SchedulingGated", "0"]);
    }
}
