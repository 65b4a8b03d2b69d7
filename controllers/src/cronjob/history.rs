//! Which finished Jobs of a CronJob to delete: all but the newest
//! `successfulJobsHistoryLimit` completed and `failedJobsHistoryLimit` failed ones,
//! oldest first by `status.startTime` (Jobs without one count as newest), then name.
//!
//! ```
//! use std::sync::Arc;
//! use k8s_openapi::api::batch::v1::Job;
//! use skiff_controllers::cronjob::history::oldest_beyond;
//! let jobs: Vec<Arc<Job>> = (0..4).map(|i| {
//!     let mut j = Job::default();
//!     j.metadata.name = Some(format!("j-{i}"));
//!     Arc::new(j)
//! }).collect();
//! let gone = oldest_beyond(&jobs, 3);
//! assert_eq!(gone.len(), 1);
//! assert_eq!(gone[0].metadata.name.as_deref(), Some("j-0"));
//! ```

use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;

/// The Jobs of `jobs` past the newest `limit`, oldest first.
pub fn oldest_beyond(jobs: &[Arc<Job>], limit: i32) -> Vec<Arc<Job>> {
    let keep = usize::try_from(limit).unwrap_or(0);
    if jobs.len() <= keep {
        return Vec::new();
    }
    let mut sorted = jobs.to_vec();
    sorted.sort_by_key(|j| {
        let start = j
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .map(|t| t.0);
        (start.is_none(), start, j.metadata.name.clone())
    });
    sorted.truncate(jobs.len() - keep);
    sorted
}
