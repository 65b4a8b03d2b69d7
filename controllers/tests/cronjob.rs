//! The CronJob controller against an in-process API server, on a manual clock: the
//! tests move time a minute at a time instead of waiting for it. There is no Job
//! controller here: the tests finish Jobs by writing their status.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{cluster, wait_for};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Event;
use serde_json::json;
use skiff_controllers::cronjob::{self, jobs::SCHEDULED_AT};
use skiff_core::client::{Api, Client, Patch};
use skiff_core::runtime::{now, ManualClock};

const WAIT: Duration = Duration::from_secs(30);
const MINUTE: Duration = Duration::from_secs(60);
/// The first step: a minute and a second, so that the window since the CronJob's
/// creation (a moment after the clock was set) always holds a schedule time.
const FIRST: Duration = Duration::from_secs(61);

fn cronjob(name: &str, extra: serde_json::Value) -> CronJob {
    let mut spec = json!({
        "schedule": "* * * * *",
        "jobTemplate": {"metadata": {"labels": {"from": name}}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
}

fn start(client: &Arc<dyn Client>) -> (Arc<ManualClock>, tokio::task::JoinHandle<()>) {
    let clock = Arc::new(ManualClock::new(now()));
    let config = cronjob::Config {
        clock: clock.clone(),
        resync: Some(Duration::from_millis(50)),
        ..cronjob::Config::default()
    };
    let task = tokio::spawn(cronjob::run(client.clone(), config).for_each(|_| async {}));
    (clock, task)
}

async fn owned_jobs(jobs: &Api<Job>, uid: &str) -> Vec<Job> {
    let mut owned: Vec<Job> = jobs
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|j| {
            j.metadata.deletion_timestamp.is_none()
                && j.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.uid == uid)
        })
        .collect();
    owned.sort_by_key(|j| j.metadata.name.clone());
    owned
}

async fn wait_jobs(
    jobs: &Api<Job>,
    uid: &str,
    what: &str,
    check: impl Fn(&[Job]) -> bool,
) -> Vec<Job> {
    wait_for(what, WAIT, || {
        let (jobs, uid) = (jobs.clone(), uid.to_owned());
        let ok = &check;
        async move {
            let owned = owned_jobs(&jobs, &uid).await;
            ok(&owned).then_some(owned)
        }
    })
    .await
}

async fn complete(jobs: &Api<Job>, job: &Job, ok: bool) {
    let t = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now());
    let type_ = if ok { "Complete" } else { "Failed" };
    let mut status = json!({"startTime": t, "conditions": [{"type": type_, "status": "True"}]});
    if ok {
        status["completionTime"] = json!(t);
    }
    jobs.patch_status(
        job.metadata.name.as_deref().unwrap(),
        &Patch::Merge(json!({"status": status})),
        &Default::default(),
    )
    .await
    .unwrap();
}

async fn wait_event(client: &Arc<dyn Client>, reason: &str) {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    wait_for(&format!("event {reason}"), WAIT, || {
        let events = events.clone();
        let reason = reason.to_owned();
        async move {
            let list = events.list(&Default::default()).await.ok()?;
            list.items
                .iter()
                .any(|e| e.reason.as_deref() == Some(reason.as_str()))
                .then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn fires_on_schedule_with_kubernetes_names_and_status() {
    let (_server, client) = cluster().await;
    let (clock, _ctl) = start(&client);
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let created = cronjobs
        .create(&cronjob("tick", json!({})), &Default::default())
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    // Nothing before the first schedule time.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(owned_jobs(&jobs, &uid).await.is_empty());

    clock.advance(FIRST);
    let first = wait_jobs(&jobs, &uid, "one job", |j| j.len() == 1).await;
    let scheduled = now_minute(&clock);
    let job = &first[0];
    assert_eq!(
        job.metadata.name.clone().unwrap(),
        format!("tick-{}", scheduled / 60)
    );
    let stamp = &job.metadata.annotations.as_ref().unwrap()[SCHEDULED_AT];
    let parsed: k8s_openapi::jiff::Timestamp = stamp.parse().unwrap();
    assert_eq!(parsed.as_second(), scheduled);
    assert_eq!(job.metadata.labels.as_ref().unwrap()["from"], "tick");
    let status = wait_for("status with the active job", WAIT, || {
        let cronjobs = cronjobs.clone();
        async move {
            let s = cronjobs.get("tick").await.ok()?.status?;
            (s.active.as_ref()?.len() == 1 && s.last_schedule_time.is_some()).then_some(s)
        }
    })
    .await;
    assert_eq!(status.last_schedule_time.unwrap().0.as_second(), scheduled);

    // Allow: the next minute starts another while the first runs.
    complete(&jobs, job, true).await;
    clock.advance(MINUTE);
    wait_jobs(&jobs, &uid, "two jobs", |j| j.len() == 2).await;
    let status = wait_for("lastSuccessfulTime", WAIT, || {
        let cronjobs = cronjobs.clone();
        async move {
            let s = cronjobs.get("tick").await.ok()?.status?;
            (s.last_successful_time.is_some() && s.active.as_ref()?.len() == 1).then_some(s)
        }
    })
    .await;
    assert_ne!(status.active.unwrap()[0].name, job.metadata.name);
}

/// The schedule time the manual clock's minute started at, in seconds.
fn now_minute(clock: &ManualClock) -> i64 {
    use skiff_core::runtime::Clock;
    let s = clock.now().as_second();
    s - s.rem_euclid(60)
}

#[tokio::test]
async fn forbid_skips_while_a_job_runs() {
    let (_server, client) = cluster().await;
    let (clock, _ctl) = start(&client);
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let created = cronjobs
        .create(
            &cronjob("solo", json!({"concurrencyPolicy": "Forbid"})),
            &Default::default(),
        )
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    clock.advance(FIRST);
    let first = wait_jobs(&jobs, &uid, "one job", |j| j.len() == 1).await;
    clock.advance(MINUTE);
    wait_event(&client, "JobAlreadyActive").await;
    assert_eq!(owned_jobs(&jobs, &uid).await.len(), 1);

    complete(&jobs, &first[0], true).await;
    clock.advance(MINUTE);
    wait_jobs(&jobs, &uid, "a second job after the first finished", |j| {
        j.len() == 2
    })
    .await;
}

#[tokio::test]
async fn replace_deletes_the_running_job() {
    let (_server, client) = cluster().await;
    let (clock, _ctl) = start(&client);
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let created = cronjobs
        .create(
            &cronjob("swap", json!({"concurrencyPolicy": "Replace"})),
            &Default::default(),
        )
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    clock.advance(FIRST);
    let first = wait_jobs(&jobs, &uid, "one job", |j| j.len() == 1).await;
    let first_name = first[0].metadata.name.clone();
    clock.advance(MINUTE);
    let second = wait_jobs(&jobs, &uid, "the replacement only", |j| {
        j.len() == 1 && j[0].metadata.name != first_name
    })
    .await;
    let status = wait_for("active is the replacement", WAIT, || {
        let cronjobs = cronjobs.clone();
        async move {
            let s = cronjobs.get("swap").await.ok()?.status?;
            (s.active.as_ref()?.len() == 1).then_some(s)
        }
    })
    .await;
    assert_eq!(status.active.unwrap()[0].name, second[0].metadata.name);
}

#[tokio::test]
async fn history_limits_keep_the_newest_finished_jobs() {
    let (_server, client) = cluster().await;
    let (clock, _ctl) = start(&client);
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let created = cronjobs
        .create(
            &cronjob(
                "hist",
                json!({"successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 1}),
            ),
            &Default::default(),
        )
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let mut names = Vec::new();
    for ok in [true, false, true, false] {
        clock.advance(FIRST);
        let all = wait_jobs(&jobs, &uid, "a new job", |j| {
            j.iter().any(|j| {
                !names.contains(&j.metadata.name)
                    && j.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_none()
            })
        })
        .await;
        let new = all
            .into_iter()
            .find(|j| !names.contains(&j.metadata.name))
            .unwrap();
        names.push(new.metadata.name.clone());
        complete(&jobs, &new, ok).await;
    }
    // Kept: the newest success (the 3rd) and the newest failure (the 4th).
    let kept = wait_jobs(&jobs, &uid, "two jobs kept", |j| j.len() == 2).await;
    let kept: Vec<_> = kept.into_iter().map(|j| j.metadata.name).collect();
    assert!(
        kept.contains(&names[2]) && kept.contains(&names[3]),
        "{kept:?} of {names:?}"
    );
}

#[tokio::test]
async fn suspended_cronjobs_start_nothing_and_late_runs_past_the_deadline_are_missed() {
    let (_server, client) = cluster().await;
    let (clock, _ctl) = start(&client);
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let created = cronjobs
        .create(
            &cronjob(
                "held",
                json!({"suspend": true, "startingDeadlineSeconds": 10}),
            ),
            &Default::default(),
        )
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    clock.advance(FIRST);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(owned_jobs(&jobs, &uid).await.is_empty());
    // Resumed 50 s past the minute: the missed run is beyond the 10 s deadline.
    let t = now_minute(&clock) + 50;
    clock.set(k8s_openapi::jiff::Timestamp::from_second(t).unwrap());
    cronjobs
        .patch(
            "held",
            &Patch::Merge(json!({"spec": {"suspend": false}})),
            &Default::default(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(owned_jobs(&jobs, &uid).await.is_empty());
    // The next minute, on time: it runs.
    clock.set(k8s_openapi::jiff::Timestamp::from_second(t + 15).unwrap());
    wait_jobs(&jobs, &uid, "a job on time", |j| j.len() == 1).await;
}

#[tokio::test]
async fn many_missed_times_warn_and_only_the_latest_runs() {
    let (_server, client) = cluster().await;
    let (clock, _ctl) = start(&client);
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let created = cronjobs
        .create(&cronjob("behind", json!({})), &Default::default())
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    clock.advance(Duration::from_secs(3 * 3600));
    wait_event(&client, "TooManyMissedTimes").await;
    let one = wait_jobs(&jobs, &uid, "one job", |j| j.len() == 1).await;
    let latest = now_minute(&clock) / 60;
    assert_eq!(
        one[0].metadata.name.clone().unwrap(),
        format!("behind-{latest}")
    );
}

#[tokio::test]
async fn schedules_are_read_in_the_time_zone() {
    use skiff_core::runtime::Clock;
    let (_server, client) = cluster().await;
    let (clock, _ctl) = start(&client);
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    // On the hour in Kolkata (UTC+05:30) is half past the hour in UTC.
    let created = cronjobs
        .create(
            &cronjob(
                "ist",
                json!({"schedule": "0 * * * *", "timeZone": "Asia/Kolkata"}),
            ),
            &Default::default(),
        )
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let s = clock.now().as_second();
    let hour = s - s.rem_euclid(3600);
    let half_past = if hour + 1800 > s + 1 {
        hour + 1800
    } else {
        hour + 5400
    };
    clock.set(k8s_openapi::jiff::Timestamp::from_second(half_past + 5).unwrap());
    let one = wait_jobs(&jobs, &uid, "one job", |j| j.len() == 1).await;
    assert_eq!(
        one[0].metadata.name.clone().unwrap(),
        format!("ist-{}", half_past / 60)
    );
    let stamp = &one[0].metadata.annotations.as_ref().unwrap()[SCHEDULED_AT];
    assert!(stamp.ends_with("+05:30"), "{stamp}");
}

#[tokio::test]
async fn a_schedule_without_time_zone_is_read_in_the_managers_zone() {
    use k8s_openapi::jiff::tz::TimeZone;
    let (_server, client) = cluster().await;
    let clock = Arc::new(ManualClock::new(now()));
    let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
    let config = cronjob::Config {
        clock: clock.clone(),
        resync: Some(Duration::from_millis(50)),
        time_zone: tokyo.clone(),
    };
    let _ctl = tokio::spawn(cronjob::run(client.clone(), config).for_each(|_| async {}));
    // The minute after the next one, written as Tokyo's wall clock shows it.
    let target = now_minute(&clock) + 120;
    let wall = k8s_openapi::jiff::Timestamp::from_second(target)
        .unwrap()
        .to_zoned(tokyo);
    let schedule = format!("{} {} * * *", wall.minute(), wall.hour());
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let created = cronjobs
        .create(
            &cronjob("tokyo", json!({"schedule": schedule})),
            &Default::default(),
        )
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    clock.advance(Duration::from_secs(181));
    let fired = wait_jobs(&jobs, &uid, "the Tokyo job", |j| j.len() == 1).await;
    let job = &fired[0];
    assert_eq!(
        job.metadata.name.clone().unwrap(),
        format!("tokyo-{}", target / 60)
    );
    let stamp = &job.metadata.annotations.as_ref().unwrap()[SCHEDULED_AT];
    assert!(stamp.ends_with("+09:00"), "{stamp}");
}
