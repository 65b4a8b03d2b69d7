//! The CronJob controller (batch/v1): creates a Job at each time of a cron schedule,
//! as Kubernetes' cronjob controller (v2) does.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use futures::StreamExt;
//! use skiff_controllers::cronjob;
//! cronjob::run(client, cronjob::Config::default()).for_each(|_| async {}).await;
//! # }
//! ```
//!
//! # What it does
//! - Parses `spec.schedule` in `spec.timeZone` ([`schedule`]) and, at each schedule
//!   time, creates the Job of its `jobTemplate` named `{cronjob}-{minutes since the
//!   epoch}` with the `batch.kubernetes.io/cronjob-scheduled-timestamp` annotation
//!   ([`jobs`]); then requeues itself for the next schedule time.
//! - Runs missed schedule times only once (the latest), and only within
//!   `startingDeadlineSeconds` when set (else a `MissSchedule` event); more than 100
//!   missed times give a `TooManyMissedTimes` warning, and the latest still runs, as
//!   in Kubernetes since the v2 controller.
//! - `concurrencyPolicy`: `Allow`, `Forbid` (skip while a Job runs, `JobAlreadyActive`),
//!   `Replace` (delete the running Jobs first).
//! - `suspend` stops new Jobs; `successfulJobsHistoryLimit` and
//!   `failedJobsHistoryLimit` bound the finished Jobs kept ([`history`]).
//! - Status: `active`, `lastScheduleTime`, `lastSuccessfulTime`.
//!
//! Time comes from [`Config::clock`]. A schedule without `timeZone` is read in
//! [`Config::time_zone`], the controller manager's local zone by default (jiff's
//! `TimeZone::system()`: `TZ`, else `/etc/localtime`), as Kubernetes does. `@every` is
//! not supported.

pub mod history;
pub mod jobs;
pub mod schedule;

use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use skiff_core::client::{Api, Client, ClientError, DeleteParams, PostParams};
use skiff_core::runtime::controller::{self, Action};
use skiff_core::runtime::events::{EventType, Recorder, Reporter};
use skiff_core::runtime::reflector::{self, index, Store, Writer};
use skiff_core::runtime::{controller_of, watcher, Clock, Controller, ObjectRef, SystemClock};

use schedule::{Schedule, MISSED_COUNT_LIMIT};

/// Added to the wait for the next schedule time, so the reconcile lands after it.
pub const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);

/// What a CronJob reconcile failed with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A client call failed.
    #[error("{action} for {cronjob}: {source}")]
    Client {
        /// What was being done.
        action: &'static str,
        /// The CronJob.
        cronjob: String,
        /// The client error.
        #[source]
        source: ClientError,
    },
}

/// How the controller behaves.
#[derive(Clone)]
pub struct Config {
    /// The time source the schedules are read against.
    pub clock: Arc<dyn Clock>,
    /// Reconcile every CronJob this often as well (for clocks that jump, as in
    /// tests); `None` relies on the requeue at each next schedule time.
    pub resync: Option<Duration>,
    /// The zone of schedules without `spec.timeZone`.
    pub time_zone: TimeZone,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            clock: Arc::new(SystemClock),
            resync: None,
            time_zone: TimeZone::system(),
        }
    }
}

/// What the reconciles share.
pub struct Context {
    client: Arc<dyn Client>,
    jobs: Store<Job>,
    recorder: Recorder,
    config: Config,
}

/// Runs the CronJob controller; dropping the stream stops it.
pub fn run(
    client: Arc<dyn Client>,
    config: Config,
) -> BoxStream<'static, Result<(ObjectRef, Action), controller::Error<Error>>> {
    let job_writer = Writer::<Job>::default().with_index(index::OWNER, index::owner_uid);
    let jobs = job_writer.as_reader();
    let job_events = reflector::watch_all(client.clone(), job_writer);
    let mut ctl = Controller::<CronJob>::new(client.clone(), None, watcher::Config::default())
        .owns_stream(job_events);
    if let Some(every) = config.resync {
        let store = ctl.store();
        ctl = ctl.reconcile_on(resync(store, every));
    }
    let ctx = Arc::new(Context {
        client: client.clone(),
        jobs,
        recorder: Recorder::new(client, Reporter::new("cronjob-controller")),
        config,
    });
    ctl.concurrency(5)
        .run(reconcile, |_, _, _| Action::requeue_rate_limited(), ctx)
}

/// Every cached CronJob's key, every `every`.
fn resync(store: Store<CronJob>, every: Duration) -> BoxStream<'static, ObjectRef> {
    futures::stream::unfold(store, move |store| async move {
        tokio::time::sleep(every).await;
        let keys: Vec<ObjectRef> = store
            .list()
            .iter()
            .map(|c| ObjectRef::from_obj(c.as_ref()))
            .collect();
        Some((futures::stream::iter(keys), store))
    })
    .flatten()
    .boxed()
}

fn cronjob_name(cj: &CronJob) -> String {
    ObjectRef::from_obj(cj).to_string()
}

/// One reconcile's view: the fresh CronJob, its new status and the events to write.
struct Pass<'a> {
    ctx: &'a Context,
    cj: CronJob,
    status: CronJobStatus,
    events: Vec<(EventType, &'static str, String)>,
}

impl Pass<'_> {
    fn event(&mut self, kind: EventType, reason: &'static str, message: String) {
        self.events.push((kind, reason, message));
    }

    fn client_error(&self, action: &'static str, source: ClientError) -> Error {
        Error::Client {
            action,
            cronjob: cronjob_name(&self.cj),
            source,
        }
    }

    fn active(&mut self) -> &mut Vec<ObjectReference> {
        self.status.active.get_or_insert_with(Vec::new)
    }
}

/// Starts the Job due for one CronJob (if any), reconciles its active list and
/// history, and writes its status.
pub async fn reconcile(cached: Arc<CronJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    // The cache may lag behind our own status writes; the schedule bookkeeping
    // (lastScheduleTime, active) must not.
    let ns = cached.metadata.namespace.clone().unwrap_or_default();
    let name = cached.metadata.name.clone().unwrap_or_default();
    let api: Api<CronJob> = Api::namespaced(ctx.client.clone(), &ns);
    let cj = match api.get_opt(&name).await {
        Ok(Some(cj)) if cj.metadata.uid == cached.metadata.uid => cj,
        Ok(_) => return Ok(Action::await_change()),
        Err(source) => {
            return Err(Error::Client {
                action: "reading",
                cronjob: cronjob_name(&cached),
                source,
            })
        }
    };
    let mut pass = Pass {
        ctx: &ctx,
        status: cj.status.clone().unwrap_or_default(),
        cj,
        events: Vec::new(),
    };
    let children = children(&ctx, &pass.cj);
    let outcome = sync(&mut pass, &children).await;
    if pass.cj.metadata.deletion_timestamp.is_none() {
        cleanup_history(&mut pass, &children).await;
    }
    write_status(&api, &pass).await?;
    let reference = Recorder::reference_of(&pass.cj);
    for (kind, reason, message) in std::mem::take(&mut pass.events) {
        let _ = ctx
            .recorder
            .publish(&reference, kind, reason, &message)
            .await;
    }
    outcome
}

/// The Jobs the CronJob controls, from the cache.
fn children(ctx: &Context, cj: &CronJob) -> Vec<Arc<Job>> {
    let uid = cj.metadata.uid.clone().unwrap_or_default();
    ctx.jobs
        .by_index(index::OWNER, &uid)
        .into_iter()
        .filter(|j| controller_of(&j.metadata).is_some_and(|c| c.uid == uid))
        .collect()
}

/// The body of a reconcile, before the history cleanup and the status write.
async fn sync(pass: &mut Pass<'_>, children: &[Arc<Job>]) -> Result<Action, Error> {
    reconcile_active(pass, children).await?;
    if pass.cj.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let spec = pass.cj.spec.clone().unwrap_or_default();
    let sched = match Schedule::parse_or(
        &spec.schedule,
        spec.time_zone.as_deref(),
        &pass.ctx.config.time_zone,
    ) {
        Ok(s) => s,
        Err(e) => {
            let reason = match e {
                schedule::Error::Unparseable { .. } => "UnparseableSchedule",
                schedule::Error::UnknownTimeZone { .. } => "UnknownTimeZone",
            };
            pass.event(EventType::Warning, reason, e.to_string());
            return Ok(Action::await_change());
        }
    };
    if spec.suspend == Some(true) {
        return Ok(Action::await_change());
    }
    let now = pass.ctx.config.clock.now();
    let next = requeue_at_next(&sched, now);
    let created = pass
        .cj
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(now, |t| t.0);
    let mut earliest = pass
        .status
        .last_schedule_time
        .as_ref()
        .map_or(created, |t| t.0);
    let deadline = spec
        .starting_deadline_seconds
        .map(|s| SignedDuration::from_secs(s.max(0)));
    if let Some(d) = deadline {
        earliest = earliest.max(now.checked_sub(d).unwrap_or(Timestamp::MIN));
    }
    let missed = sched.missed(earliest, now);
    let Some(scheduled) = missed.latest else {
        return Ok(next);
    };
    if missed.count >= MISSED_COUNT_LIMIT {
        pass.event(
            EventType::Warning,
            "TooManyMissedTimes",
            "too many missed start times: > 100. Set or decrease .spec.startingDeadlineSeconds or check clock skew".into(),
        );
    }
    if deadline.is_some_and(|d| scheduled.checked_add(d).is_ok_and(|t| t < now)) {
        pass.event(
            EventType::Warning,
            "MissSchedule",
            format!(
                "Missed scheduled time to start a job: {}",
                scheduled.strftime("%a, %d %b %Y %H:%M:%S %z")
            ),
        );
        return Ok(next);
    }
    let job_name = jobs::job_name(
        pass.cj.metadata.name.as_deref().unwrap_or_default(),
        scheduled,
    );
    let already = pass
        .active()
        .iter()
        .any(|r| r.name.as_deref() == Some(job_name.as_str()))
        || pass
            .status
            .last_schedule_time
            .as_ref()
            .is_some_and(|t| t.0 == scheduled);
    if already {
        return Ok(next);
    }
    match spec.concurrency_policy.as_deref() {
        Some("Forbid") if !pass.active().is_empty() => {
            pass.event(
                EventType::Normal,
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid".into(),
            );
            return Ok(next);
        }
        Some("Replace") => {
            for r in pass.active().clone() {
                let name = r.name.clone().unwrap_or_default();
                if delete_job(pass, &name, r.uid.clone()).await? {
                    pass.active().retain(|a| a.uid != r.uid);
                }
            }
        }
        _ => {}
    }
    let Some(job) = create_job(pass, scheduled, sched.zone()).await? else {
        return Ok(next);
    };
    pass.active().push(jobs::reference(&job));
    pass.status.last_schedule_time = Some(Time(scheduled));
    Ok(next)
}

/// Waits until the first schedule time after `now`.
fn requeue_at_next(sched: &Schedule, now: Timestamp) -> Action {
    match sched.next_after(now) {
        Some(t) => {
            let wait = Duration::try_from(t.duration_since(now)).unwrap_or(Duration::ZERO);
            Action::requeue(wait + NEXT_SCHEDULE_DELTA)
        }
        None => Action::await_change(),
    }
}

/// Drops finished and vanished Jobs from `status.active`, records
/// `lastSuccessfulTime`.
async fn reconcile_active(pass: &mut Pass<'_>, children: &[Arc<Job>]) -> Result<(), Error> {
    for job in children {
        let uid = job.metadata.uid.clone();
        let name = job.metadata.name.clone().unwrap_or_default();
        let in_active = pass.active().iter().any(|r| r.uid == uid);
        if !in_active && !jobs::finished(job) {
            pass.event(
                EventType::Warning,
                "UnexpectedJob",
                format!("Saw a job that the controller did not create or forgot: {name}"),
            );
        } else if in_active && jobs::finished(job) {
            pass.active().retain(|r| r.uid != uid);
            let condition = if jobs::succeeded(job) {
                "Complete"
            } else {
                "Failed"
            };
            pass.event(
                EventType::Normal,
                "SawCompletedJob",
                format!("Saw completed job: {name}, condition: {condition}"),
            );
        }
        if jobs::succeeded(job) {
            let done = job.status.as_ref().and_then(|s| s.completion_time.clone());
            if let Some(t) = done {
                if pass
                    .status
                    .last_successful_time
                    .as_ref()
                    .is_none_or(|l| l.0 < t.0)
                {
                    pass.status.last_successful_time = Some(t);
                }
            }
        }
    }
    let ns = pass.cj.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Job> = Api::namespaced(pass.ctx.client.clone(), &ns);
    for r in pass.active().clone() {
        if children.iter().any(|j| j.metadata.uid == r.uid) {
            continue;
        }
        // The cache may not show it yet: ask the API server.
        let name = r.name.clone().unwrap_or_default();
        match api.get_opt(&name).await {
            Ok(Some(j)) if j.metadata.uid == r.uid => {}
            Ok(_) => {
                pass.active().retain(|a| a.uid != r.uid);
                pass.event(
                    EventType::Normal,
                    "MissingJob",
                    format!("Active job went missing: {name}"),
                );
            }
            Err(e) => return Err(pass.client_error("reading an active job", e)),
        }
    }
    Ok(())
}

/// Creates the Job for `scheduled`. `None` when a Job of that name exists that this
/// CronJob does not control.
async fn create_job(
    pass: &mut Pass<'_>,
    scheduled: Timestamp,
    zone: &k8s_openapi::jiff::tz::TimeZone,
) -> Result<Option<Job>, Error> {
    let job = jobs::job_for(&pass.cj, scheduled, zone);
    let ns = pass.cj.metadata.namespace.clone().unwrap_or_default();
    let name = job.metadata.name.clone().unwrap_or_default();
    let api: Api<Job> = Api::namespaced(pass.ctx.client.clone(), &ns);
    match api.create(&job, &PostParams::default()).await {
        Ok(made) => {
            pass.event(
                EventType::Normal,
                "SuccessfulCreate",
                format!("Created job {name}"),
            );
            Ok(Some(made))
        }
        Err(e) if e.is_conflict() => {
            let existing = api
                .get(&name)
                .await
                .map_err(|e| pass.client_error("reading an existing job", e))?;
            let ours = controller_of(&existing.metadata)
                .is_some_and(|c| Some(&c.uid) == pass.cj.metadata.uid.as_ref());
            Ok(ours.then_some(existing))
        }
        Err(e) => {
            pass.event(
                EventType::Warning,
                "FailedCreate",
                format!("Error creating job: {e}"),
            );
            Err(pass.client_error("creating a job", e))
        }
    }
}

/// Deletes a Job with background propagation (its pods go with it). Returns whether
/// it is gone.
async fn delete_job(pass: &mut Pass<'_>, name: &str, uid: Option<String>) -> Result<bool, Error> {
    let ns = pass.cj.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Job> = Api::namespaced(pass.ctx.client.clone(), &ns);
    let params = DeleteParams {
        precondition_uid: uid,
        ..DeleteParams::background()
    };
    match api.delete(name, &params).await {
        Ok(_) => {
            pass.event(
                EventType::Normal,
                "SuccessfulDelete",
                format!("Deleted job {name}"),
            );
            Ok(true)
        }
        Err(e) if e.is_not_found() => Ok(true),
        Err(e) => {
            pass.event(
                EventType::Warning,
                "FailedDelete",
                format!("Deleted job: {e}"),
            );
            Err(pass.client_error("deleting a job", e))
        }
    }
}

/// Deletes the finished Jobs beyond the history limits (errors are left for the next
/// reconcile).
async fn cleanup_history(pass: &mut Pass<'_>, children: &[Arc<Job>]) {
    let spec = pass.cj.spec.clone().unwrap_or_default();
    let finished: Vec<Arc<Job>> = children
        .iter()
        .filter(|j| jobs::finished(j))
        .cloned()
        .collect();
    let (ok, failed): (Vec<_>, Vec<_>) = finished.into_iter().partition(|j| jobs::succeeded(j));
    let mut doomed = Vec::new();
    if let Some(limit) = spec.successful_jobs_history_limit {
        doomed.extend(history::oldest_beyond(&ok, limit));
    }
    if let Some(limit) = spec.failed_jobs_history_limit {
        doomed.extend(history::oldest_beyond(&failed, limit));
    }
    for job in doomed {
        let name = job.metadata.name.clone().unwrap_or_default();
        if let Err(e) = delete_job(pass, &name, job.metadata.uid.clone()).await {
            tracing::warn!(error = %e, "history cleanup");
        }
    }
}

/// Writes the new status if it changed.
async fn write_status(api: &Api<CronJob>, pass: &Pass<'_>) -> Result<(), Error> {
    let mut status = pass.status.clone();
    if status.active.as_ref().is_some_and(Vec::is_empty) {
        status.active = None;
    }
    let mut old = pass.cj.status.clone().unwrap_or_default();
    if old.active.as_ref().is_some_and(Vec::is_empty) {
        old.active = None;
    }
    if status == old {
        return Ok(());
    }
    let mut next = pass.cj.clone();
    next.status = Some(status);
    let name = pass.cj.metadata.name.clone().unwrap_or_default();
    match api
        .replace_status(&name, &next, &PostParams::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(pass.client_error("updating status", e)),
    }
}
