//! What a Job's reconcile should do, decided from its spec, its pods and its old
//! status without any I/O: finish (complete or fail, deleting the active pods), or
//! create and delete pods toward `parallelism` and `completions`.
//!
//! ```
//! use k8s_openapi::api::batch::v1::{JobSpec, JobStatus};
//! use skiff_controllers::job::children::Children;
//! use skiff_controllers::job::plan::{plan, Inputs};
//! let spec = JobSpec { completions: Some(5), parallelism: Some(2), ..Default::default() };
//! let p = plan(&Inputs { spec: &spec, old: &JobStatus::default(), children: &Children::default(),
//!     started: None, failures: &[], last_success: None,
//!     backoff: skiff_core::runtime::Backoff::default(), now: skiff_core::runtime::now() });
//! assert_eq!(p.create, vec![None, None]);
//! ```
//!
//! Counting: without the `batch.kubernetes.io/job-tracking` finalizer, `succeeded`
//! and `failed` are counted from the pods that exist, never below the counts the
//! status already holds (so deleting finished pods does not lower them), and Indexed
//! jobs keep `completedIndexes` from the old status.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{JobSpec, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use skiff_core::runtime::Backoff;

use super::children::Children;
use super::indexed;
use crate::replicaset::rank;

/// Pods created or deleted per reconcile at most (Kubernetes' `MaxPodCreateDeletePerSync`).
pub const BURST: usize = 500;

/// How a Job ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Enough pods succeeded.
    Complete,
    /// The Job failed: `reason` is `PodFailurePolicy`, `BackoffLimitExceeded` or
    /// `DeadlineExceeded`.
    Failed {
        /// The condition reason.
        reason: &'static str,
        /// The condition message.
        message: String,
    },
}

/// What the plan is made from.
pub struct Inputs<'a> {
    /// The Job's spec.
    pub spec: &'a JobSpec,
    /// The Job's status before this reconcile.
    pub old: &'a JobStatus,
    /// Its pods.
    pub children: &'a Children,
    /// `status.startTime` (after this reconcile set it, if it did).
    pub started: Option<Timestamp>,
    /// When each failed pod finished.
    pub failures: &'a [Timestamp],
    /// When the last success happened, if known.
    pub last_success: Option<Timestamp>,
    /// The pause between failed pods and their replacements.
    pub backoff: Backoff,
    /// Now.
    pub now: Timestamp,
}

/// What to do.
#[derive(Debug, Default)]
pub struct Plan {
    /// Finish the Job this way.
    pub outcome: Option<Outcome>,
    /// Pods to create: their completion index in Indexed mode, `None` otherwise.
    pub create: Vec<Option<i32>>,
    /// Active pods to delete.
    pub delete: Vec<Arc<Pod>>,
    /// `status.succeeded`.
    pub succeeded: i32,
    /// `status.failed`.
    pub failed: i32,
    /// `status.completedIndexes` (Indexed mode).
    pub completed_indexes: Option<String>,
    /// Reconcile again after this long (back-off before replacing failed pods).
    pub requeue: Option<Duration>,
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn is_indexed(spec: &JobSpec) -> bool {
    spec.completion_mode.as_deref() == Some("Indexed")
}

/// Decides what to do; see the module docs.
pub fn plan(i: &Inputs<'_>) -> Plan {
    let spec = i.spec;
    let c = i.children;
    let parallelism = usize::try_from(spec.parallelism.unwrap_or(1)).unwrap_or(0);
    let mut p = Plan::default();

    let completed: Option<BTreeSet<i32>> = is_indexed(spec).then(|| {
        let total = spec.completions.unwrap_or(0);
        let mut set = indexed::parse(
            i.old.completed_indexes.as_deref().unwrap_or_default(),
            total,
        );
        set.extend(
            c.succeeded
                .iter()
                .filter_map(|p| indexed::index_of(p, total)),
        );
        set
    });
    p.succeeded = match &completed {
        Some(set) => count(set.len()),
        None => i.old.succeeded.unwrap_or(0).max(count(c.succeeded.len())),
    };
    p.failed = i.old.failed.unwrap_or(0).max(count(c.failed.len()));
    p.completed_indexes = completed.as_ref().map(indexed::format);

    p.outcome = outcome(i, &p);
    if p.outcome.is_some() {
        p.delete = c.active.clone();
        return p;
    }
    let wait = super::backoff::remaining(&i.backoff, i.failures, i.last_success, i.now);
    match &completed {
        Some(done) => manage_indexed(i, done, parallelism, &mut p),
        None => manage(i, parallelism, &mut p),
    }
    if !p.create.is_empty() && wait.is_some() {
        p.create.clear();
        p.requeue = wait;
    }
    p.create.truncate(BURST);
    p.delete.truncate(BURST);
    p
}

/// Failed (back-off limit, deadline) or complete, if either.
fn outcome(i: &Inputs<'_>, p: &Plan) -> Option<Outcome> {
    let spec = i.spec;
    let limit = spec.backoff_limit.unwrap_or(6).max(0);
    let on_failure = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        == Some("OnFailure");
    if let Some(message) = &i.children.fail_job {
        return Some(Outcome::Failed {
            reason: "PodFailurePolicy",
            message: message.clone(),
        });
    }
    let restarts = i.children.active_restarts();
    let restarts_exceeded = on_failure
        && if limit == 0 {
            restarts > 0
        } else {
            restarts >= i64::from(limit)
        };
    if p.failed > limit || restarts_exceeded {
        return Some(Outcome::Failed {
            reason: "BackoffLimitExceeded",
            message: "Job has reached the specified backoff limit".to_owned(),
        });
    }
    if let (Some(deadline), Some(started)) = (spec.active_deadline_seconds, i.started) {
        if i.now.as_second().saturating_sub(started.as_second()) >= deadline {
            return Some(Outcome::Failed {
                reason: "DeadlineExceeded",
                message: "Job was active longer than specified deadline".to_owned(),
            });
        }
    }
    let complete = match spec.completions {
        Some(n) => p.succeeded >= n,
        // A work queue: done once one pod succeeded and none is left running.
        None => p.succeeded > 0 && i.children.active.is_empty(),
    };
    complete.then_some(Outcome::Complete)
}

/// Non-indexed: keep `min(parallelism, completions - succeeded)` pods active (for a
/// work queue, `parallelism` until a pod succeeds, then no new ones).
fn manage(i: &Inputs<'_>, parallelism: usize, p: &mut Plan) {
    let active = i.children.active.len();
    let want = match i.spec.completions {
        Some(n) => parallelism.min(usize::try_from(n - p.succeeded).unwrap_or(0)),
        None if p.succeeded > 0 => active.min(parallelism),
        None => parallelism,
    };
    if active > want {
        p.delete = rank::to_delete(&i.children.active, active - want);
    } else {
        p.create = vec![None; want - active];
    }
}

/// Indexed: one active pod per pending index, lowest indexes first; pods with a bad,
/// duplicate or already completed index are deleted.
fn manage_indexed(i: &Inputs<'_>, done: &BTreeSet<i32>, parallelism: usize, p: &mut Plan) {
    let total = i.spec.completions.unwrap_or(0);
    let mut by_index: BTreeMap<i32, Arc<Pod>> = BTreeMap::new();
    for pod in &i.children.active {
        match indexed::index_of(pod, total) {
            Some(ix) if !done.contains(&ix) && !by_index.contains_key(&ix) => {
                by_index.insert(ix, pod.clone());
            }
            _ => p.delete.push(pod.clone()),
        }
    }
    let remaining = usize::try_from(total)
        .unwrap_or(0)
        .saturating_sub(done.len());
    let want = parallelism.min(remaining);
    if by_index.len() > want {
        let extra = by_index.len() - want;
        p.delete
            .extend(by_index.values().rev().take(extra).cloned());
        return;
    }
    let pending = (0..total).filter(|ix| !done.contains(ix) && !by_index.contains_key(ix));
    p.create = pending.take(want - by_index.len()).map(Some).collect();
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::PodStatus;

    use super::*;

    fn pod(phase: &str, index: Option<i32>) -> Arc<Pod> {
        let mut p = Pod {
            status: Some(PodStatus {
                phase: Some(phase.into()),
                ..PodStatus::default()
            }),
            ..Pod::default()
        };
        if let Some(ix) = index {
            p.metadata.annotations = Some([(indexed::INDEX_KEY.to_owned(), ix.to_string())].into());
        }
        Arc::new(p)
    }

    fn run(spec: &JobSpec, pods: Vec<Arc<Pod>>, failures: &[Timestamp]) -> Plan {
        let children = Children::sort(pods);
        plan(&Inputs {
            spec,
            old: &JobStatus::default(),
            children: &children,
            started: Some(Timestamp::from_second(0).unwrap()),
            failures,
            last_success: None,
            backoff: Backoff::new(Duration::from_secs(10), Duration::from_secs(360)),
            now: Timestamp::from_second(5).unwrap(),
        })
    }

    #[test]
    fn creates_up_to_parallelism_and_completes() {
        let spec = JobSpec {
            completions: Some(3),
            parallelism: Some(2),
            ..JobSpec::default()
        };
        assert_eq!(run(&spec, vec![], &[]).create.len(), 2);
        let p = run(
            &spec,
            vec![pod("Succeeded", None), pod("Succeeded", None)],
            &[],
        );
        assert_eq!((p.create.len(), p.succeeded), (1, 2));
        let p = run(&spec, vec![pod("Succeeded", None); 3], &[]);
        assert_eq!(p.outcome, Some(Outcome::Complete));
    }

    #[test]
    fn work_queue_completes_when_one_succeeded_and_none_run() {
        let spec = JobSpec {
            parallelism: Some(3),
            ..JobSpec::default()
        };
        assert_eq!(run(&spec, vec![], &[]).create.len(), 3);
        let p = run(
            &spec,
            vec![pod("Succeeded", None), pod("Running", None)],
            &[],
        );
        assert!(p.outcome.is_none() && p.create.is_empty());
        let p = run(&spec, vec![pod("Succeeded", None)], &[]);
        assert_eq!(p.outcome, Some(Outcome::Complete));
    }

    #[test]
    fn failures_back_off_then_exceed_the_limit() {
        let spec = JobSpec {
            backoff_limit: Some(1),
            ..JobSpec::default()
        };
        let at = Timestamp::from_second(0).unwrap();
        let p = run(&spec, vec![pod("Failed", None)], &[at]);
        assert!(p.create.is_empty());
        assert_eq!(p.requeue, Some(Duration::from_secs(5)));
        let p = run(&spec, vec![pod("Failed", None); 2], &[at, at]);
        assert!(matches!(
            p.outcome,
            Some(Outcome::Failed {
                reason: "BackoffLimitExceeded",
                ..
            })
        ));
    }

    #[test]
    fn deadline_fails_and_deletes_active() {
        let spec = JobSpec {
            active_deadline_seconds: Some(5),
            ..JobSpec::default()
        };
        let p = run(&spec, vec![pod("Running", None)], &[]);
        assert!(matches!(
            p.outcome,
            Some(Outcome::Failed {
                reason: "DeadlineExceeded",
                ..
            })
        ));
        assert_eq!(p.delete.len(), 1);
    }

    #[test]
    fn indexed_fills_the_lowest_pending_indexes() {
        let spec = JobSpec {
            completions: Some(4),
            parallelism: Some(2),
            completion_mode: Some("Indexed".into()),
            ..JobSpec::default()
        };
        let p = run(
            &spec,
            vec![
                pod("Succeeded", Some(0)),
                pod("Running", Some(2)),
                pod("Running", Some(2)),
            ],
            &[],
        );
        assert_eq!(p.create, vec![Some(1)]);
        assert_eq!(p.delete.len(), 1, "the duplicate of index 2");
        assert_eq!(p.completed_indexes.as_deref(), Some("0"));
        let all = (0..4).map(|i| pod("Succeeded", Some(i))).collect();
        let p = run(&spec, all, &[]);
        assert_eq!(p.outcome, Some(Outcome::Complete));
        assert_eq!(p.completed_indexes.as_deref(), Some("0-3"));
    }
}
