//! A Job's pods sorted by what they count for: active (running or pending, not
//! terminating), terminating, succeeded and failed.
//!
//! ```
//! use std::sync::Arc;
//! use k8s_openapi::api::core::v1::{Pod, PodStatus};
//! use skiff_controllers::job::children::Children;
//! let mut done = Pod::default();
//! done.status = Some(PodStatus { phase: Some("Succeeded".into()), ..Default::default() });
//! let c = Children::sort(vec![Arc::new(Pod::default()), Arc::new(done)]);
//! assert_eq!((c.active.len(), c.succeeded.len(), c.failed.len()), (1, 1, 0));
//! ```

use std::sync::Arc;

use k8s_openapi::api::batch::v1::PodFailurePolicy;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use super::failure_policy::{judge, Verdict};

/// The pods of one Job, by state.
#[derive(Default)]
pub struct Children {
    /// Not finished and not terminating.
    pub active: Vec<Arc<Pod>>,
    /// Being deleted and not finished.
    pub terminating: Vec<Arc<Pod>>,
    /// Phase `Succeeded`.
    pub succeeded: Vec<Arc<Pod>>,
    /// Phase `Failed`, counted against `backoffLimit`.
    pub failed: Vec<Arc<Pod>>,
    /// Phase `Failed`, but ignored by the Job's `podFailurePolicy`.
    pub ignored: Vec<Arc<Pod>>,
    /// The message of the first `FailJob` rule a failed pod matched.
    pub fail_job: Option<String>,
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref().and_then(|s| s.phase.as_deref())
}

impl Children {
    /// Sorts `pods` (already known to belong to the Job).
    pub fn sort(pods: Vec<Arc<Pod>>) -> Self {
        let mut c = Children::default();
        for pod in pods {
            match phase(&pod) {
                Some("Succeeded") => c.succeeded.push(pod),
                Some("Failed") => c.failed.push(pod),
                _ if pod.metadata.deletion_timestamp.is_some() => c.terminating.push(pod),
                _ => c.active.push(pod),
            }
        }
        c
    }

    /// Judges the failed pods by `policy` ([`super::failure_policy`]): ignored ones
    /// move from `failed` to `ignored`; the first `FailJob` match sets `fail_job`.
    pub fn apply_failure_policy(&mut self, policy: &PodFailurePolicy) {
        let mut counted = Vec::with_capacity(self.failed.len());
        for pod in std::mem::take(&mut self.failed) {
            match judge(policy, &pod) {
                Verdict::Ignore => self.ignored.push(pod),
                Verdict::FailJob(message) => {
                    self.fail_job.get_or_insert(message);
                    counted.push(pod);
                }
                Verdict::Count => counted.push(pod),
            }
        }
        self.failed = counted;
    }

    /// Container restarts across the active pods (what `backoffLimit` counts for
    /// `restartPolicy: OnFailure`).
    pub fn active_restarts(&self) -> i64 {
        self.active
            .iter()
            .filter_map(|p| p.status.as_ref())
            .flat_map(|s| {
                s.container_statuses
                    .iter()
                    .flatten()
                    .chain(s.init_container_statuses.iter().flatten())
            })
            .map(|c| i64::from(c.restart_count))
            .sum()
    }
}

/// When a finished pod finished, if its status says: the latest container
/// termination, else the `Ready` condition turning false.
pub fn finished_at(pod: &Pod) -> Option<Timestamp> {
    let status = pod.status.as_ref()?;
    let from_containers = status
        .container_statuses
        .iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    from_containers.or_else(|| {
        status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Ready" && c.status == "False")
            .and_then(|c| c.last_transition_time.as_ref())
            .map(|t| t.0)
    })
}
