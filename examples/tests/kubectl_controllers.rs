//! `skiff controller-manager` beside `skiff apiserver`, driven by the real kubectl: a
//! Deployment gets its ReplicaSet and pods, scaling changes the pod count, and deleting
//! a namespace deletes everything in it and then the namespace. Skips when kubectl is
//! missing.

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
        .args(["controller-manager", "--leader-elect", "--kubeconfig"])
        .arg(&server.kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn skiff controller-manager");
    Manager(child)
}

fn count(server: &ApiServer, args: &[&str]) -> usize {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--no-headers", "--ignore-not-found"]);
    let out = server.kubectl(&all);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

#[test]
fn deployments_scale_and_namespaces_cascade() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    let _manager = start_manager(&server);

    server.ok(&["create", "namespace", "demo"]);
    server.ok(&[
        "-n",
        "demo",
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=3",
    ]);
    server.wait_until("the deployment has one ReplicaSet and 3 pods", || {
        count(&server, &["-n", "demo", "rs"]) == 1 && count(&server, &["-n", "demo", "pods"]) == 3
    });

    server.ok(&["-n", "demo", "scale", "deployment/web", "--replicas=1"]);
    server.wait_until("scaling down leaves 1 pod", || {
        count(&server, &["-n", "demo", "pods"]) == 1
    });

    server.ok(&[
        "-n",
        "demo",
        "create",
        "configmap",
        "settings",
        "--from-literal=a=b",
    ]);
    server.ok(&["delete", "namespace", "demo", "--wait=false"]);
    server.wait_until("the namespace and everything in it are gone", || {
        count(&server, &["namespace", "demo"]) == 0
    });
    assert_eq!(count(&server, &["pods", "-A"]), 0, "pods left behind");
    assert_eq!(count(&server, &["rs", "-A"]), 0, "ReplicaSets left behind");
    assert_eq!(
        count(&server, &["deploy", "-A"]),
        0,
        "Deployments left behind"
    );
}
