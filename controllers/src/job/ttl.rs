//! `ttlSecondsAfterFinished`: a finished Job is deleted (background propagation, so
//! the garbage collector removes its pods) once its TTL has passed since it finished,
//! as Kubernetes' ttl-after-finished controller does.
//!
//! ```
//! use k8s_openapi::jiff::Timestamp;
//! use skiff_controllers::job::ttl::expires_at;
//! let done = Timestamp::from_second(100).unwrap();
//! assert_eq!(expires_at(Some(done), Some(30)), Some(Timestamp::from_second(130).unwrap()));
//! assert_eq!(expires_at(Some(done), None), None);
//! ```

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use skiff_core::client::{Api, DeleteParams};
use skiff_core::runtime::Action;

use super::{conditions, job_name, Context, Error};

/// When a Job that finished at `finished` with TTL `ttl` seconds expires.
pub fn expires_at(finished: Option<Timestamp>, ttl: Option<i32>) -> Option<Timestamp> {
    let ttl = ttl.filter(|t| *t >= 0)?;
    finished?
        .checked_add(SignedDuration::from_secs(i64::from(ttl)))
        .ok()
}

/// For a finished Job: deletes it if its TTL passed, or requeues it for then.
pub async fn handle(ctx: &Context, job: &Job, now: Timestamp) -> Result<Action, Error> {
    let status = job.status.clone().unwrap_or_default();
    let ttl = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished);
    let Some(expiry) = expires_at(conditions::finished_at(&status), ttl) else {
        return Ok(Action::await_change());
    };
    if expiry > now {
        let wait = Duration::try_from(expiry.duration_since(now)).unwrap_or(Duration::ZERO);
        return Ok(Action::requeue(wait + Duration::from_millis(10)));
    }
    let ns = job.metadata.namespace.clone().unwrap_or_default();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let params = DeleteParams {
        precondition_uid: job.metadata.uid.clone(),
        ..DeleteParams::background()
    };
    match jobs
        .delete(job.metadata.name.as_deref().unwrap_or_default(), &params)
        .await
    {
        Ok(_) => {
            tracing::info!(job = %job_name(job), "deleted after its ttlSecondsAfterFinished");
            Ok(Action::await_change())
        }
        Err(e) if e.is_not_found() || e.is_conflict() => Ok(Action::await_change()),
        Err(source) => Err(Error::Client {
            action: "deleting a finished job after its TTL",
            job: job_name(job),
            source,
        }),
    }
}
