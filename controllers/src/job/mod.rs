//! The Job controller (batch/v1): runs pods of a Job until enough of them succeed,
//! or the Job fails, and reports its status, as Kubernetes' job controller does.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use futures::StreamExt;
//! use skiff_controllers::job;
//! job::run(client, job::Config::default()).for_each(|_| async {}).await;
//! # }
//! ```
//!
//! # What it does
//! - Keeps `min(parallelism, completions - succeeded)` pods active (a work queue, with
//!   `completions` unset, runs `parallelism` pods until one succeeds and completes when
//!   all have finished). Pods come from the template (with the `controller-uid` and
//!   `job-name` labels the API server puts there) and a controller owner reference.
//! - Indexed mode: one pod per completion index, with the index annotation and label,
//!   `JOB_COMPLETION_INDEX`, hostname `{job}-{index}`; `status.completedIndexes`.
//! - Failed pods are replaced after a back-off (10 s doubling, capped at 6 minutes;
//!   [`Config::failure_backoff`]). More than `backoffLimit` failures (or, with
//!   `restartPolicy: OnFailure`, that many container restarts) fail the Job with
//!   `BackoffLimitExceeded`; running past `activeDeadlineSeconds` with
//!   `DeadlineExceeded`. A failing Job's active pods are deleted.
//! - Conditions `Complete` + `SuccessCriteriaMet`, `Failed` + `FailureTarget`,
//!   `Suspended`; status `active`, `ready`, `terminating`, `succeeded`, `failed`,
//!   `startTime`, `completionTime`. Events like Kubernetes'.
//! - `suspend: true` deletes the active pods; resuming resets `startTime`.
//! - `ttlSecondsAfterFinished` ([`ttl`]).
//! - `podFailurePolicy` ([`failure_policy`]): `FailJob`, `Ignore` and `Count` rules on
//!   exit codes and pod conditions.
//!
//! # Organization
//! - [`plan`]: the decision, as a pure function; [`children`]: pods by state;
//!   [`indexed`]: completion indexes; [`backoff`]: the failure back-off;
//!   [`template`]: the pod of a Job; [`failure_policy`]; [`conditions`]; [`status`];
//!   [`ttl`].
//!
//! Not done: the `batch.kubernetes.io/job-tracking` finalizer (counts come from the
//! pods that exist, see [`plan`]), adoption of orphan pods, `successPolicy`,
//! `backoffLimitPerIndex` (and `FailIndex` rules), `podReplacementPolicy: Failed`.

pub mod backoff;
pub mod children;
pub mod conditions;
pub mod failure_policy;
pub mod indexed;
pub mod plan;
pub mod status;
pub mod template;
pub mod ttl;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use skiff_core::client::{Api, Client, ClientError, DeleteParams, PostParams};
use skiff_core::runtime::controller::{self, Action};
use skiff_core::runtime::events::{EventType, Recorder, Reporter};
use skiff_core::runtime::reflector::{self, index, Store, Writer};
use skiff_core::runtime::{
    controller_of, watcher, Backoff, Clock, Controller, ObjectRef, SystemClock,
};
use skiff_core::selector::LabelSelector;

use crate::expectations::Expectations;
use plan::{Inputs, Outcome};

/// The label Kubernetes' generated Job selector matches.
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// The label with the Job's name on its pods.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// The `spec.managedBy` value of Jobs this controller handles (or none).
pub const MANAGED_BY: &str = "kubernetes.io/job-controller";

/// What a Job reconcile failed with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The selector does not parse.
    #[error("invalid selector of {0}: {1}")]
    InvalidSelector(String, String),
    /// A client call failed.
    #[error("{action} for {job}: {source}")]
    Client {
        /// What was being done.
        action: &'static str,
        /// The Job.
        job: String,
        /// The client error.
        #[source]
        source: ClientError,
    },
}

/// How the controller behaves.
#[derive(Clone)]
pub struct Config {
    /// The time source (deadlines, TTLs, back-off, timestamps in status).
    pub clock: Arc<dyn Clock>,
    /// The pause before replacing failed pods (Kubernetes: 10 s doubling to 6 min).
    pub failure_backoff: Backoff,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            clock: Arc::new(SystemClock),
            failure_backoff: Backoff::new(backoff::BASE, backoff::MAX),
        }
    }
}

/// What the reconciles share.
pub struct Context {
    client: Arc<dyn Client>,
    pods: Store<Pod>,
    expectations: Expectations,
    recorder: Recorder,
    first_seen: backoff::FirstSeen,
    config: Config,
}

/// Runs the Job controller; dropping the stream stops it.
pub fn run(
    client: Arc<dyn Client>,
    config: Config,
) -> BoxStream<'static, Result<(ObjectRef, Action), controller::Error<Error>>> {
    let pod_writer = Writer::<Pod>::default().with_index(index::OWNER, index::owner_uid);
    let pods = pod_writer.as_reader();
    let pod_events = reflector::watch_all(client.clone(), pod_writer);
    let ctx = Arc::new(Context {
        client: client.clone(),
        pods,
        expectations: Expectations::default(),
        recorder: Recorder::new(client.clone(), Reporter::new("job-controller")),
        first_seen: backoff::FirstSeen::default(),
        config,
    });
    Controller::<Job>::new(client, None, watcher::Config::default())
        .owns_stream(pod_events)
        .concurrency(5)
        .run(reconcile, |_, _, _| Action::requeue_rate_limited(), ctx)
}

fn job_name(job: &Job) -> String {
    ObjectRef::from_obj(job).to_string()
}

/// The pods `job` controls that its selector matches (all it controls when it has no
/// selector).
fn owned_pods(ctx: &Context, job: &Job) -> Result<Vec<Arc<Pod>>, Error> {
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let selector = match job.spec.as_ref().and_then(|s| s.selector.as_ref()) {
        Some(s) => Some(
            LabelSelector::from_label_selector(s)
                .map_err(|e| Error::InvalidSelector(job_name(job), e.to_string()))?,
        ),
        None => None,
    };
    Ok(ctx
        .pods
        .by_index(index::OWNER, &uid)
        .into_iter()
        .filter(|p| controller_of(&p.metadata).is_some_and(|c| c.uid == uid))
        .filter(|p| {
            let labels = p.metadata.labels.clone().unwrap_or_default();
            selector.as_ref().is_none_or(|s| s.matches(&labels))
        })
        .collect())
}

/// Brings one Job's pods toward its spec, then writes its status.
pub async fn reconcile(job: Arc<Job>, ctx: Arc<Context>) -> Result<Action, Error> {
    let spec = job.spec.clone().unwrap_or_default();
    let managed_elsewhere = spec.managed_by.as_deref().is_some_and(|m| m != MANAGED_BY);
    if job.metadata.deletion_timestamp.is_some() || managed_elsewhere {
        return Ok(Action::await_change());
    }
    let now = ctx.config.clock.now();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let old = job.status.clone().unwrap_or_default();
    if conditions::finished(&old) {
        ctx.first_seen.forget(&uid);
        return ttl::handle(&ctx, &job, now).await;
    }
    let key = ObjectRef::from_obj(job.as_ref());
    let pods = owned_pods(&ctx, &job)?;
    let cached = |name: &str| {
        pods.iter().any(|p| {
            p.metadata.name.as_deref() == Some(name) && p.metadata.deletion_timestamp.is_none()
        })
    };
    let in_sync = ctx.expectations.satisfied(&key, cached);
    let mut children = children::Children::sort(pods.clone());
    if let Some(policy) = &spec.pod_failure_policy {
        children.apply_failure_policy(policy);
    }

    let mut next = old.clone();
    let suspended = spec.suspend == Some(true);
    let mut events: Vec<(EventType, &str, String)> = Vec::new();
    if suspended {
        if conditions::set(
            &mut next,
            conditions::SUSPENDED,
            true,
            "JobSuspended",
            "Job suspended",
            now,
        ) && !conditions::is_true(&old, conditions::SUSPENDED)
        {
            events.push((EventType::Normal, "Suspended", "Job suspended".into()));
        }
    } else {
        if conditions::is_true(&old, conditions::SUSPENDED) {
            conditions::set(
                &mut next,
                conditions::SUSPENDED,
                false,
                "JobResumed",
                "Job resumed",
                now,
            );
            // The deadline counts from the resumption.
            next.start_time = Some(Time(now));
            events.push((EventType::Normal, "Resumed", "Job resumed".into()));
        }
        if next.start_time.is_none() {
            next.start_time = Some(Time(now));
        }
    }

    let (failures, last_success) = failure_times(&ctx, &uid, &children, now);
    let decided = plan::plan(&Inputs {
        spec: &spec,
        old: &old,
        children: &children,
        started: if suspended {
            None
        } else {
            next.start_time.as_ref().map(|t| t.0)
        },
        failures: &failures,
        last_success,
        backoff: ctx.config.failure_backoff,
        now,
    });
    let mut action = Action::await_change();
    let mut deleted = 0;
    let mut created = 0;
    match &decided.outcome {
        Some(outcome) => {
            deleted = delete_pods(&ctx, &job, &key, &decided.delete).await?;
            finish(&mut next, outcome, now, &mut events);
        }
        None if suspended => {
            deleted = delete_pods(&ctx, &job, &key, &children.active).await?;
        }
        None if in_sync => {
            deleted = delete_pods(&ctx, &job, &key, &decided.delete).await?;
            created = create_pods(&ctx, &job, &key, &decided.create).await?;
            if let Some(wait) = decided.requeue {
                action = Action::requeue(wait + Duration::from_millis(10));
            }
            if let Some(wait) = deadline_in(&spec, &next, now) {
                action = earliest(action, Action::requeue(wait));
            }
        }
        None => action = Action::requeue(Duration::from_secs(1)),
    }
    next.active = Some(count(children.active.len() + created).saturating_sub(count(deleted)));
    next.ready = Some(count(
        children
            .active
            .iter()
            .filter(|p| crate::pods::is_ready(p))
            .count(),
    ));
    next.terminating = Some(count(children.terminating.len() + deleted));
    next.succeeded = Some(decided.succeeded);
    next.failed = Some(decided.failed);
    next.completed_indexes = decided.completed_indexes.clone();
    status::write(&ctx.client, &job, next.clone()).await?;
    for (kind, reason, message) in events {
        let _ = ctx
            .recorder
            .publish(
                &Recorder::reference_of(job.as_ref()),
                kind,
                reason,
                &message,
            )
            .await;
    }
    if conditions::finished(&next) {
        ctx.first_seen.forget(&uid);
        let mut done = (*job).clone();
        done.status = Some(next);
        return ttl::handle(&ctx, &done, now).await;
    }
    Ok(action)
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The earlier of two requeues.
fn earliest(a: Action, b: Action) -> Action {
    match (a.requeue_after(), b.requeue_after()) {
        (Some(x), Some(y)) if y < x => b,
        (None, Some(_)) => b,
        _ => a,
    }
}

/// How long until `activeDeadlineSeconds` runs out, if set.
fn deadline_in(
    spec: &k8s_openapi::api::batch::v1::JobSpec,
    status: &k8s_openapi::api::batch::v1::JobStatus,
    now: Timestamp,
) -> Option<Duration> {
    let deadline = u64::try_from(spec.active_deadline_seconds?).ok()?;
    let started = status.start_time.as_ref()?.0;
    let elapsed = Duration::try_from(now.duration_since(started)).unwrap_or(Duration::ZERO);
    Some(Duration::from_secs(deadline).saturating_sub(elapsed) + Duration::from_millis(10))
}

/// When each failed pod finished (or was first seen failed), and the latest success.
fn failure_times(
    ctx: &Context,
    job_uid: &str,
    children: &children::Children,
    now: Timestamp,
) -> (Vec<Timestamp>, Option<Timestamp>) {
    let current: HashSet<String> = children
        .failed
        .iter()
        .filter_map(|p| p.metadata.uid.clone())
        .collect();
    let failures = children
        .failed
        .iter()
        .map(|p| {
            let pod_uid = p.metadata.uid.clone().unwrap_or_default();
            let seen = ctx.first_seen.record(job_uid, &current, &pod_uid, now);
            children::finished_at(p).unwrap_or(seen)
        })
        .collect();
    let last_success = children
        .succeeded
        .iter()
        .filter_map(|p| children::finished_at(p))
        .max();
    (failures, last_success)
}

/// Sets the finishing conditions and queues the matching event.
fn finish(
    next: &mut k8s_openapi::api::batch::v1::JobStatus,
    outcome: &Outcome,
    now: Timestamp,
    events: &mut Vec<(EventType, &str, String)>,
) {
    match outcome {
        Outcome::Complete => {
            let (reason, message) = (
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            );
            conditions::set(
                next,
                conditions::SUCCESS_CRITERIA_MET,
                true,
                reason,
                message,
                now,
            );
            conditions::set(next, conditions::COMPLETE, true, reason, message, now);
            next.completion_time = Some(Time(now));
            events.push((EventType::Normal, "Completed", "Job completed".into()));
        }
        Outcome::Failed { reason, message } => {
            conditions::set(next, conditions::FAILURE_TARGET, true, reason, message, now);
            conditions::set(next, conditions::FAILED, true, reason, message, now);
            events.push((EventType::Warning, reason, message.clone()));
        }
    }
}

/// Creates the planned pods (by completion index in Indexed mode). Returns how many
/// were created; a failure is reported as a `FailedCreate` event and stops the batch.
async fn create_pods(
    ctx: &Context,
    job: &Job,
    key: &ObjectRef,
    indexes: &[Option<i32>],
) -> Result<usize, Error> {
    let ns = key.namespace.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let reference = Recorder::reference_of(job);
    let mut created = 0;
    for index in indexes {
        let pod = template::pod_for(job, *index);
        match api.create(&pod, &PostParams::default()).await {
            Ok(made) => {
                let name = made.metadata.name.clone().unwrap_or_default();
                ctx.expectations.expect_creations(key, [name.clone()]);
                created += 1;
                let _ = ctx
                    .recorder
                    .publish(
                        &reference,
                        EventType::Normal,
                        "SuccessfulCreate",
                        &format!("Created pod: {name}"),
                    )
                    .await;
            }
            Err(e) => {
                let _ = ctx
                    .recorder
                    .publish(
                        &reference,
                        EventType::Warning,
                        "FailedCreate",
                        &format!("Error creating: {e}"),
                    )
                    .await;
                return Err(Error::Client {
                    action: "creating a pod",
                    job: job_name(job),
                    source: e,
                });
            }
        }
    }
    Ok(created)
}

/// Deletes `pods` (each only in the incarnation seen). Returns how many it deleted.
async fn delete_pods(
    ctx: &Context,
    job: &Job,
    key: &ObjectRef,
    pods: &[Arc<Pod>],
) -> Result<usize, Error> {
    let ns = key.namespace.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let reference = Recorder::reference_of(job);
    let mut deleted = 0;
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let params = DeleteParams {
            precondition_uid: pod.metadata.uid.clone(),
            ..DeleteParams::default()
        };
        match api.delete(&name, &params).await {
            Ok(_) => {
                ctx.expectations.expect_deletions(key, [name.clone()]);
                deleted += 1;
                let _ = ctx
                    .recorder
                    .publish(
                        &reference,
                        EventType::Normal,
                        "SuccessfulDelete",
                        &format!("Deleted pod: {name}"),
                    )
                    .await;
            }
            Err(e) if e.is_not_found() || e.is_conflict() => {}
            Err(source) => {
                return Err(Error::Client {
                    action: "deleting a pod",
                    job: job_name(job),
                    source,
                })
            }
        }
    }
    Ok(deleted)
}
