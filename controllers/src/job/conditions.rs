//! A Job's conditions: whether it has finished, and setting a condition the way
//! Kubernetes does (the transition time moves only when the status flips).
//!
//! ```
//! use k8s_openapi::api::batch::v1::JobStatus;
//! use skiff_controllers::job::conditions::{self, COMPLETE};
//! let mut status = JobStatus::default();
//! assert!(!conditions::finished(&status));
//! conditions::set(&mut status, COMPLETE, true, "CompletionsReached", "Reached expected number of succeeded pods", skiff_core::runtime::now());
//! assert!(conditions::finished(&status));
//! ```

use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// The Job finished with success.
pub const COMPLETE: &str = "Complete";
/// The Job finished with failure.
pub const FAILED: &str = "Failed";
/// The Job met its success criteria (set together with [`COMPLETE`]).
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
/// The Job is going to fail (set together with [`FAILED`]).
pub const FAILURE_TARGET: &str = "FailureTarget";
/// The Job is suspended.
pub const SUSPENDED: &str = "Suspended";

/// The condition of `type_`, if present.
pub fn get<'a>(status: &'a JobStatus, type_: &str) -> Option<&'a JobCondition> {
    status
        .conditions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|c| c.type_ == type_)
}

/// Whether the condition `type_` is present and true.
pub fn is_true(status: &JobStatus, type_: &str) -> bool {
    get(status, type_).is_some_and(|c| c.status == "True")
}

/// Whether the Job is finished (`Complete` or `Failed` true).
pub fn finished(status: &JobStatus) -> bool {
    is_true(status, COMPLETE) || is_true(status, FAILED)
}

/// When the Job finished: `completionTime`, or the `Failed` condition's transition.
pub fn finished_at(status: &JobStatus) -> Option<Timestamp> {
    if is_true(status, COMPLETE) {
        if let Some(t) = &status.completion_time {
            return Some(t.0);
        }
    }
    [COMPLETE, FAILED]
        .iter()
        .filter_map(|t| get(status, t))
        .filter(|c| c.status == "True")
        .find_map(|c| c.last_transition_time.as_ref().map(|t| t.0))
}

/// Sets condition `type_` (adding it if absent). The transition time changes only
/// when the status does; reason and message are always updated. Returns whether
/// anything changed.
pub fn set(
    status: &mut JobStatus,
    type_: &str,
    value: bool,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    let value = if value { "True" } else { "False" };
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    if let Some(c) = conditions.iter_mut().find(|c| c.type_ == type_) {
        let flipped = c.status != value;
        let changed =
            flipped || c.reason.as_deref() != Some(reason) || c.message.as_deref() != Some(message);
        if flipped {
            c.status = value.to_owned();
            c.last_transition_time = Some(Time(now));
        }
        c.reason = Some(reason.to_owned());
        c.message = Some(message.to_owned());
        if changed {
            c.last_probe_time = Some(Time(now));
        }
        return changed;
    }
    conditions.push(JobCondition {
        type_: type_.to_owned(),
        status: value.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_on_flip() {
        let mut s = JobStatus::default();
        let t0 = Timestamp::from_second(100).unwrap();
        let t1 = Timestamp::from_second(200).unwrap();
        assert!(set(
            &mut s,
            SUSPENDED,
            true,
            "JobSuspended",
            "Job suspended",
            t0
        ));
        assert!(!set(
            &mut s,
            SUSPENDED,
            true,
            "JobSuspended",
            "Job suspended",
            t1
        ));
        assert_eq!(
            get(&s, SUSPENDED).unwrap().last_transition_time,
            Some(Time(t0))
        );
        assert!(set(
            &mut s,
            SUSPENDED,
            false,
            "JobResumed",
            "Job resumed",
            t1
        ));
        assert_eq!(
            get(&s, SUSPENDED).unwrap().last_transition_time,
            Some(Time(t1))
        );
        assert!(!finished(&s));
        set(&mut s, FAILED, true, "DeadlineExceeded", "late", t1);
        assert!(finished(&s));
        assert_eq!(finished_at(&s), Some(t1));
    }
}
