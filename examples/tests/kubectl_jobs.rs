//! Jobs and CronJobs with the real kubectl against `skiff apiserver` and
//! `skiff controller-manager`: `kubectl create job` gets a pod with Kubernetes' labels,
//! finishing that pod completes the Job (`kubectl wait --for=condition=complete`), and
//! `kubectl create job --from=cronjob/...` runs a CronJob's template. There is no node
//! agent: the test finishes the pod through the status subresource. Skips when kubectl
//! is missing.

mod kubectl;

use std::process::{Child, Command, Stdio};

use kubectl::ApiServer;

/// A running `skiff controller-manager`, killed on drop.
struct Manager(Child);

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_manager(server: &ApiServer) -> Manager {
    let child = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["controller-manager", "--kubeconfig"])
        .arg(&server.kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn skiff controller-manager");
    Manager(child)
}

fn pod_of(server: &ApiServer, job: &str) -> Option<String> {
    let out = server.kubectl(&[
        "get",
        "pods",
        "-l",
        &format!("batch.kubernetes.io/job-name={job}"),
        "-o",
        "name",
    ]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}

fn succeed(server: &ApiServer, pod: &str) {
    server.ok(&[
        "patch",
        pod,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Succeeded"}}"#,
    ]);
}

#[test]
fn kubectl_jobs_complete_and_cronjobs_template_jobs() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    let _manager = start_manager(&server);

    server.ok(&["create", "job", "pi", "--image=busybox", "--", "true"]);
    let mut pod = None;
    server.wait_until("the job's pod", || {
        pod = pod_of(&server, "pi");
        pod.is_some()
    });
    let pod = pod.unwrap_or_default();
    let labels = server.ok(&["get", &pod, "-o", "jsonpath={.metadata.labels}"]);
    assert!(labels.contains("controller-uid"), "{labels}");
    succeed(&server, &pod);
    server.ok(&[
        "wait",
        "--for=condition=complete",
        "job/pi",
        "--timeout=60s",
    ]);
    let succeeded = server.ok(&["get", "job", "pi", "-o", "jsonpath={.status.succeeded}"]);
    assert_eq!(succeeded.trim(), "1");

    server.ok(&[
        "create",
        "cronjob",
        "nightly",
        "--image=busybox",
        "--schedule=0 3 * * *",
        "--",
        "true",
    ]);
    server.ok(&["create", "job", "manual", "--from=cronjob/nightly"]);
    let mut pod = None;
    server.wait_until("the manual job's pod", || {
        pod = pod_of(&server, "manual");
        pod.is_some()
    });
    succeed(&server, &pod.unwrap_or_default());
    server.ok(&[
        "wait",
        "--for=condition=complete",
        "job/manual",
        "--timeout=60s",
    ]);
}
