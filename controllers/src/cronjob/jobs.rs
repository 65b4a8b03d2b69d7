//! The Jobs of a CronJob: the Job for a schedule time (named
//! `{cronjob}-{minutes since the epoch}` so one schedule time can never make two
//! Jobs), and what a Job's state means to its CronJob.
//!
//! ```
//! use k8s_openapi::api::batch::v1::CronJob;
//! use k8s_openapi::jiff::{tz::TimeZone, Timestamp};
//! use skiff_controllers::cronjob::jobs::{job_for, SCHEDULED_AT};
//! let mut cj = CronJob::default();
//! cj.metadata.name = Some("report".into());
//! let t: Timestamp = "2025-01-01T08:30:00Z".parse().unwrap();
//! let job = job_for(&cj, t, &TimeZone::UTC);
//! assert_eq!(job.metadata.name.as_deref(), Some("report-28928670"));
//! assert_eq!(job.metadata.annotations.unwrap()[SCHEDULED_AT], "2025-01-01T08:30:00Z");
//! ```

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::Timestamp;

use crate::job::conditions;
use crate::pods;

/// The annotation with the schedule time a Job was made for (RFC 3339, in the
/// CronJob's time zone).
pub const SCHEDULED_AT: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// The name of the Job for schedule time `at`.
pub fn job_name(cronjob: &str, at: Timestamp) -> String {
    format!("{cronjob}-{}", at.as_second().div_euclid(60))
}

/// The Job `cj` runs for schedule time `at`: its job template, named for `at`,
/// annotated with it, controlled by `cj`.
pub fn job_for(cj: &CronJob, at: Timestamp, zone: &TimeZone) -> Job {
    let template = cj.spec.clone().unwrap_or_default().job_template;
    let tmeta = template.metadata.unwrap_or_default();
    let mut annotations = tmeta.annotations.unwrap_or_default();
    let scheduled = at.to_zoned(zone.clone());
    annotations.insert(
        SCHEDULED_AT.to_owned(),
        scheduled
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
            .replace("+00:00", "Z"),
    );
    let labels: BTreeMap<String, String> = tmeta.labels.unwrap_or_default();
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(
                cj.metadata.name.as_deref().unwrap_or_default(),
                at,
            )),
            namespace: cj.metadata.namespace.clone(),
            labels: (!labels.is_empty()).then_some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![pods::controller_ref(cj)]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// Whether the Job has finished (`Complete` or `Failed`).
pub fn finished(job: &Job) -> bool {
    job.status.as_ref().is_some_and(conditions::finished)
}

/// Whether the Job completed successfully.
pub fn succeeded(job: &Job) -> bool {
    job.status
        .as_ref()
        .is_some_and(|s| conditions::is_true(s, conditions::COMPLETE))
}

/// The reference to `job` a CronJob's `status.active` holds.
pub fn reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".to_owned()),
        kind: Some("Job".to_owned()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        ..ObjectReference::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_is_in_the_cronjob_time_zone() {
        let mut cj = CronJob::default();
        cj.metadata.name = Some("r".into());
        cj.metadata.uid = Some("u".into());
        let t: Timestamp = "2025-07-01T07:30:00Z".parse().unwrap();
        let zone = TimeZone::get("Europe/Paris").unwrap();
        let job = job_for(&cj, t, &zone);
        assert_eq!(
            job.metadata.annotations.unwrap()[SCHEDULED_AT],
            "2025-07-01T09:30:00+02:00"
        );
        assert_eq!(job.metadata.owner_references.unwrap()[0].kind, "CronJob");
    }
}
