//! The Job controller against an in-process API server. There is no node agent: the
//! tests finish pods by writing their phase through the status subresource.

mod common;

use std::time::Duration;

use common::{cluster, wait_for};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use skiff_controllers::job::{self, conditions, indexed};
use skiff_core::client::{Api, Client, Patch};
use skiff_core::runtime::Backoff;
use std::sync::Arc;

const WAIT: Duration = Duration::from_secs(30);

fn job(name: &str, spec: serde_json::Value) -> Job {
    let mut spec = spec;
    spec["template"] = json!({"spec": {"restartPolicy": "Never",
        "containers": [{"name": "c", "image": "busybox"}]}});
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
}

fn start(client: &Arc<dyn Client>) -> tokio::task::JoinHandle<()> {
    let config = job::Config {
        failure_backoff: Backoff::new(Duration::from_millis(50), Duration::from_millis(400)),
        ..job::Config::default()
    };
    tokio::spawn(job::run(client.clone(), config).for_each(|_| async {}))
}

async fn active_pods(pods: &Api<Pod>, uid: &str) -> Vec<Pod> {
    pods.list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none()
                && p.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.uid == uid)
                && !matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Succeeded" | "Failed")
                )
        })
        .collect()
}

async fn wait_active(pods: &Api<Pod>, uid: &str, n: usize) -> Vec<Pod> {
    wait_for(&format!("{n} active pods"), WAIT, || {
        let (pods, uid) = (pods.clone(), uid.to_owned());
        async move {
            let active = active_pods(&pods, &uid).await;
            (active.len() == n).then_some(active)
        }
    })
    .await
}

async fn finish(pods: &Api<Pod>, pod: &Pod, phase: &str) {
    let status = Patch::Merge(json!({"status": {"phase": phase}}));
    pods.patch_status(
        pod.metadata.name.as_deref().unwrap(),
        &status,
        &Default::default(),
    )
    .await
    .unwrap();
}

async fn wait_condition(jobs: &Api<Job>, name: &str, type_: &str) -> Job {
    wait_for(&format!("{name} {type_}"), WAIT, || {
        let (jobs, name, type_) = (jobs.clone(), name.to_owned(), type_.to_owned());
        async move {
            let j = jobs.get(&name).await.ok()?;
            conditions::is_true(j.status.as_ref()?, &type_).then_some(j)
        }
    })
    .await
}

#[tokio::test]
async fn runs_to_completion_with_parallelism() {
    let (_server, client) = cluster().await;
    let _ctl = start(&client);
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = jobs
        .create(
            &job("pi", json!({"completions": 3, "parallelism": 2})),
            &Default::default(),
        )
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let first = wait_active(&pods, &uid, 2).await;
    let labels = first[0].metadata.labels.clone().unwrap();
    assert_eq!(labels[job::JOB_NAME_LABEL], "pi");
    assert_eq!(labels["job-name"], "pi");
    assert_eq!(labels[job::CONTROLLER_UID_LABEL], uid);
    assert!(first[0]
        .metadata
        .name
        .as_deref()
        .unwrap()
        .starts_with("pi-"));

    let running = wait_for("status active 2 with a start time", WAIT, || {
        let jobs = jobs.clone();
        async move {
            let s = jobs.get("pi").await.ok()?.status?;
            (s.active == Some(2) && s.start_time.is_some()).then_some(s)
        }
    })
    .await;
    assert!(running.completion_time.is_none());

    for p in &first {
        finish(&pods, p, "Succeeded").await;
    }
    // One more completion is needed: one new pod, not two.
    let last = wait_active(&pods, &uid, 1).await;
    finish(&pods, &last[0], "Succeeded").await;
    let done = wait_condition(&jobs, "pi", conditions::COMPLETE).await;
    let status = done.status.unwrap();
    assert_eq!(status.succeeded, Some(3));
    assert_eq!(status.active.unwrap_or(0), 0);
    assert!(status.completion_time.is_some());
    assert!(conditions::is_true(
        &status,
        conditions::SUCCESS_CRITERIA_MET
    ));
}

#[tokio::test]
async fn work_queue_completes_when_a_pod_succeeds_and_the_rest_finish() {
    let (_server, client) = cluster().await;
    let _ctl = start(&client);
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = jobs
        .create(
            &job("queue", json!({"parallelism": 2})),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(created.spec.as_ref().unwrap().completions, None);
    let uid = created.metadata.uid.clone().unwrap();
    let both = wait_active(&pods, &uid, 2).await;
    finish(&pods, &both[0], "Succeeded").await;
    wait_for("succeeded 1", WAIT, || {
        let jobs = jobs.clone();
        async move { (jobs.get("queue").await.ok()?.status?.succeeded == Some(1)).then_some(()) }
    })
    .await;
    // No replacement once a pod succeeded.
    assert_eq!(active_pods(&pods, &uid).await.len(), 1);
    finish(&pods, &both[1], "Succeeded").await;
    let done = wait_condition(&jobs, "queue", conditions::COMPLETE).await;
    assert_eq!(done.status.unwrap().succeeded, Some(2));
}

#[tokio::test]
async fn failing_pods_are_replaced_until_the_backoff_limit() {
    let (_server, client) = cluster().await;
    let _ctl = start(&client);
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = jobs
        .create(
            &job("flaky", json!({"backoffLimit": 1})),
            &Default::default(),
        )
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let first = wait_active(&pods, &uid, 1).await;
    finish(&pods, &first[0], "Failed").await;
    let second = wait_for("a replacement pod", WAIT, || {
        let (pods, uid, old) = (pods.clone(), uid.clone(), first[0].metadata.name.clone());
        async move {
            let active = active_pods(&pods, &uid).await;
            active.into_iter().find(|p| p.metadata.name != old)
        }
    })
    .await;
    finish(&pods, &second, "Failed").await;
    let failed = wait_condition(&jobs, "flaky", conditions::FAILED).await;
    let status = failed.status.unwrap();
    let cond = conditions::get(&status, conditions::FAILED).unwrap();
    assert_eq!(cond.reason.as_deref(), Some("BackoffLimitExceeded"));
    assert!(conditions::is_true(&status, conditions::FAILURE_TARGET));
    assert_eq!(status.failed, Some(2));
    assert!(active_pods(&pods, &uid).await.is_empty());
}

#[tokio::test]
async fn active_deadline_fails_the_job_and_deletes_its_pods() {
    let (_server, client) = cluster().await;
    let _ctl = start(&client);
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = jobs
        .create(
            &job(
                "slow",
                json!({"parallelism": 2, "completions": 2, "activeDeadlineSeconds": 1}),
            ),
            &Default::default(),
        )
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    wait_active(&pods, &uid, 2).await;
    let failed = wait_condition(&jobs, "slow", conditions::FAILED).await;
    let status = failed.status.unwrap();
    assert_eq!(
        conditions::get(&status, conditions::FAILED)
            .unwrap()
            .reason
            .as_deref(),
        Some("DeadlineExceeded")
    );
    wait_active(&pods, &uid, 0).await;
}

#[tokio::test]
async fn indexed_jobs_run_one_pod_per_index() {
    let (_server, client) = cluster().await;
    let _ctl = start(&client);
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = jobs
        .create(
            &job(
                "idx",
                json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed"}),
            ),
            &Default::default(),
        )
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let mut all = wait_active(&pods, &uid, 3).await;
    all.sort_by_key(|p| p.metadata.annotations.clone().unwrap()[indexed::INDEX_KEY].clone());
    for (i, p) in all.iter().enumerate() {
        assert_eq!(
            p.metadata.annotations.as_ref().unwrap()[indexed::INDEX_KEY],
            i.to_string()
        );
        assert_eq!(
            p.metadata.labels.as_ref().unwrap()[indexed::INDEX_KEY],
            i.to_string()
        );
        assert!(p
            .metadata
            .name
            .as_deref()
            .unwrap()
            .starts_with(&format!("idx-{i}-")));
        let spec = p.spec.clone().unwrap();
        assert_eq!(spec.hostname, Some(format!("idx-{i}")));
        let env = spec.containers[0].env.clone().unwrap();
        assert!(env.iter().any(|e| e.name == indexed::INDEX_ENV));
    }
    finish(&pods, &all[1], "Succeeded").await;
    wait_for("completedIndexes 1", WAIT, || {
        let jobs = jobs.clone();
        async move {
            let s = jobs.get("idx").await.ok()?.status?;
            (s.completed_indexes.as_deref() == Some("1")).then_some(())
        }
    })
    .await;
    // A failed index gets a new pod with the same index.
    finish(&pods, &all[0], "Failed").await;
    let again = wait_for("index 0 again", WAIT, || {
        let (pods, uid, old) = (pods.clone(), uid.clone(), all[0].metadata.name.clone());
        async move {
            active_pods(&pods, &uid).await.into_iter().find(|p| {
                p.metadata.name != old
                    && p.metadata.annotations.as_ref().unwrap()[indexed::INDEX_KEY] == "0"
            })
        }
    })
    .await;
    finish(&pods, &again, "Succeeded").await;
    finish(&pods, &all[2], "Succeeded").await;
    let done = wait_condition(&jobs, "idx", conditions::COMPLETE).await;
    let status = done.status.unwrap();
    assert_eq!(status.completed_indexes.as_deref(), Some("0-2"));
    assert_eq!(status.succeeded, Some(3));
    assert_eq!(status.failed, Some(1));
}

#[tokio::test]
async fn finished_jobs_are_deleted_after_their_ttl() {
    let (_server, client) = cluster().await;
    let _ctl = start(&client);
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = jobs
        .create(
            &job("brief", json!({"ttlSecondsAfterFinished": 1})),
            &Default::default(),
        )
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let pod = wait_active(&pods, &uid, 1).await;
    finish(&pods, &pod[0], "Succeeded").await;
    wait_condition(&jobs, "brief", conditions::COMPLETE).await;
    wait_for("the job to be deleted", WAIT, || {
        let jobs = jobs.clone();
        async move { jobs.get_opt("brief").await.ok()?.is_none().then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn suspend_deletes_active_pods_and_resume_restarts_them() {
    let (_server, client) = cluster().await;
    let _ctl = start(&client);
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = jobs
        .create(
            &job("pausable", json!({"parallelism": 2, "completions": 4})),
            &Default::default(),
        )
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    wait_active(&pods, &uid, 2).await;
    let suspend = |on: bool| Patch::Merge(json!({"spec": {"suspend": on}}));
    jobs.patch("pausable", &suspend(true), &Default::default())
        .await
        .unwrap();
    wait_active(&pods, &uid, 0).await;
    let suspended = wait_condition(&jobs, "pausable", conditions::SUSPENDED).await;
    assert_eq!(suspended.status.unwrap().active.unwrap_or(0), 0);

    jobs.patch("pausable", &suspend(false), &Default::default())
        .await
        .unwrap();
    wait_active(&pods, &uid, 2).await;
    let resumed = jobs.get("pausable").await.unwrap().status.unwrap();
    let cond = conditions::get(&resumed, conditions::SUSPENDED).unwrap();
    assert_eq!(cond.status, "False");
    assert_eq!(cond.reason.as_deref(), Some("JobResumed"));
}

#[tokio::test]
async fn pod_failure_policy_ignores_disruptions_and_fails_on_an_exit_code() {
    let (_server, client) = cluster().await;
    let _ctl = start(&client);
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let policy = json!({"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        {"action": "FailJob", "onExitCodes": {"containerName": "c", "operator": "In", "values": [42]}},
    ]});
    let created = jobs
        .create(
            &job(
                "policed",
                json!({"backoffLimit": 0, "podFailurePolicy": policy}),
            ),
            &Default::default(),
        )
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();

    // Evicted by the taint manager: not counted, even with backoffLimit 0.
    let first = wait_active(&pods, &uid, 1).await;
    let disrupted = Patch::Merge(json!({"status": {"phase": "Failed", "conditions": [
        {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager"}]}}));
    pods.patch_status(
        first[0].metadata.name.as_deref().unwrap(),
        &disrupted,
        &Default::default(),
    )
    .await
    .unwrap();
    let second = wait_for("a replacement pod", WAIT, || {
        let (pods, uid, old) = (pods.clone(), uid.clone(), first[0].metadata.name.clone());
        async move {
            let active = active_pods(&pods, &uid).await;
            active.into_iter().find(|p| p.metadata.name != old)
        }
    })
    .await;
    let status = jobs
        .get("policed")
        .await
        .unwrap()
        .status
        .unwrap_or_default();
    assert!(!conditions::is_true(&status, conditions::FAILED));
    assert_eq!(status.failed.unwrap_or(0), 0);

    // Exit code 42 of container c: the Job fails at once.
    let exit42 = Patch::Merge(json!({"status": {"phase": "Failed", "containerStatuses": [
        {"name": "c", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
         "state": {"terminated": {"exitCode": 42}}}]}}));
    pods.patch_status(
        second.metadata.name.as_deref().unwrap(),
        &exit42,
        &Default::default(),
    )
    .await
    .unwrap();
    let failed = wait_condition(&jobs, "policed", conditions::FAILED).await;
    let status = failed.status.unwrap();
    let cond = conditions::get(&status, conditions::FAILED).unwrap();
    assert_eq!(cond.reason.as_deref(), Some("PodFailurePolicy"));
    let message = cond.message.clone().unwrap_or_default();
    assert!(
        message.contains("failed with exit code 42 matching FailJob rule at index 1"),
        "{message}"
    );
    assert_eq!(status.failed, Some(1));
}
