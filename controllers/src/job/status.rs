//! Writing a Job's status: only when it changed, as a compare-and-swap on the Job's
//! resourceVersion (a conflict means a newer Job is on its way, whose event
//! reconciles again).
//!
//! ```
//! use k8s_openapi::api::batch::v1::JobStatus;
//! use skiff_controllers::job::status::same;
//! let a = JobStatus { active: Some(1), ..Default::default() };
//! assert!(same(&a, &a.clone()));
//! assert!(!same(&a, &JobStatus::default()));
//! ```

use std::sync::Arc;

use k8s_openapi::api::batch::v1::{Job, JobStatus};
use skiff_core::client::Client;

use super::{job_name, Error};

fn normalized(s: &JobStatus) -> JobStatus {
    let zero = |v: Option<i32>| v.filter(|n| *n != 0);
    JobStatus {
        active: zero(s.active),
        ready: zero(s.ready),
        terminating: zero(s.terminating),
        succeeded: zero(s.succeeded),
        failed: zero(s.failed),
        completed_indexes: s.completed_indexes.clone().filter(|c| !c.is_empty()),
        ..s.clone()
    }
}

/// Whether two statuses say the same (a count of 0 equals an unset count).
pub fn same(a: &JobStatus, b: &JobStatus) -> bool {
    normalized(a) == normalized(b)
}

/// Writes `next` as `job`'s status if it differs from the current one.
pub async fn write(client: &Arc<dyn Client>, job: &Job, next: JobStatus) -> Result<(), Error> {
    if same(&next, &job.status.clone().unwrap_or_default()) {
        return Ok(());
    }
    let mut updated = job.clone();
    updated.status = Some(next);
    crate::status_patch::replace_status(client, &updated)
        .await
        .map_err(|source| Error::Client {
            action: "updating status",
            job: job_name(job),
            source,
        })
}
