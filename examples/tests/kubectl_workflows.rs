//! Everyday kubectl workflows against a running server: the `kubectl create <kind>`
//! generators and `kubectl run` (protobuf request bodies), get -o json, get all,
//! describe, edit through KUBE_EDITOR, strategic merge patches, delete -l and --all,
//! and get -w printing Table rows. Skips when kubectl is missing.

mod kubectl;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kubectl::{headers, ApiServer, TIMEOUT};

#[test]
fn generators_create_objects() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    let get = |args: &[&str], path: &str| {
        let expr = format!("jsonpath={{{path}}}");
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", &expr]);
        server.ok(&all)
    };
    let cm = server.ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=mode=fast",
    ]);
    assert!(cm.contains("configmap/settings created"), "{cm}");
    assert_eq!(get(&["cm", "settings"], ".data.mode"), "fast");

    server.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=password=s3cret",
    ]);
    // "s3cret" in base64, as Secret data is written.
    assert_eq!(get(&["secret", "creds"], ".data.password"), "czNjcmV0");

    server.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=3",
    ]);
    assert_eq!(get(&["deploy", "web"], ".spec.replicas"), "3");
    assert_eq!(
        get(
            &["deploy", "web"],
            ".spec.template.spec.containers[0].image"
        ),
        "nginx:1.27"
    );
    assert_eq!(
        get(&["deploy", "web"], ".spec.selector.matchLabels.app"),
        "web"
    );

    server.ok(&["run", "p", "--image=busybox", "--labels=app=p"]);
    assert_eq!(get(&["pod", "p"], ".spec.containers[0].image"), "busybox");
    assert_eq!(get(&["pod", "p"], ".metadata.labels.app"), "p");

    server.ok(&["create", "namespace", "team-a"]);
    assert_eq!(get(&["namespace", "team-a"], ".status.phase"), "Active");
    server.ok(&[
        "create",
        "configmap",
        "in-ns",
        "-n",
        "team-a",
        "--from-literal=a=b",
    ]);
    assert_eq!(get(&["cm", "in-ns", "-n", "team-a"], ".data.a"), "b");
}

#[test]
fn json_all_describe_edit_patch_delete() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    server.ok(&["create", "deployment", "web", "--image=nginx"]);
    server.ok(&["run", "p1", "--image=nginx", "--labels=app=p,tier=x"]);
    server.ok(&["run", "p2", "--image=nginx", "--labels=app=p"]);
    server.ok(&["run", "q", "--image=nginx", "--labels=app=q"]);

    let json = server.ok(&["get", "deploy", "web", "-o", "json"]);
    let obj: serde_json::Value = serde_json::from_str(&json).expect("get -o json is JSON");
    assert_eq!(obj["kind"], "Deployment");
    assert_eq!(obj["metadata"]["name"], "web");
    let list = server.ok(&["get", "pods", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&list).expect("list JSON");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3));

    let all = server.ok(&["get", "all"]);
    assert!(
        all.contains("pod/p1") && all.contains("deployment.apps/web"),
        "{all}"
    );

    let describe = server.ok(&["describe", "deployment", "web"]);
    assert!(
        describe.contains("Name:") && describe.contains("web") && describe.contains("Replicas:"),
        "{describe}"
    );
    let describe_pod = server.ok(&["describe", "pod", "p1"]);
    assert!(
        describe_pod.contains("Containers:") && describe_pod.contains("p1"),
        "{describe_pod}"
    );

    // kubectl edit with an "editor" that changes the image in the file it is given.
    let editor = server.write(
        "editor.sh",
        "#!/bin/sh\nsed -i 's/image: nginx$/image: nginx:1.27/' \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod editor");
    let edited = server
        .kubectl_command(&["edit", "deployment", "web"])
        .env("KUBE_EDITOR", &editor)
        .stdin(Stdio::null())
        .output()
        .expect("kubectl edit");
    assert!(
        edited.status.success(),
        "{}",
        String::from_utf8_lossy(&edited.stderr)
    );
    let image = |n: usize| {
        server.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            &format!("jsonpath={{.spec.template.spec.containers[{n}].image}}"),
        ])
    };
    assert_eq!(image(0), "nginx:1.27");

    // A strategic merge patch adds a container by name and keeps the other.
    server.ok(&[
        "patch",
        "deploy",
        "web",
        "--type",
        "strategic",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}}}"#,
    ]);
    let names = server.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[*].name}",
    ]);
    let mut names: Vec<&str> = names.split_whitespace().collect();
    names.sort();
    assert_eq!(names, ["nginx", "sidecar"]);

    let by_label = server.ok(&["delete", "pod", "-l", "app=p", "--wait=false"]);
    assert!(
        by_label.contains("pod \"p1\" deleted") && by_label.contains("pod \"p2\" deleted"),
        "{by_label}"
    );
    server.wait_until("p1 and p2 are gone", || {
        server.ok(&["get", "pods", "-o", "name"]).trim() == "pod/q"
    });
    server.ok(&["create", "configmap", "a", "--from-literal=x=1"]);
    server.ok(&["create", "configmap", "b", "--from-literal=x=1"]);
    let everything = server.ok(&["delete", "configmap", "--all"]);
    assert!(
        everything.contains("configmap \"a\" deleted")
            && everything.contains("configmap \"b\" deleted"),
        "{everything}"
    );
    assert!(server
        .ok(&["get", "configmaps", "-o", "name"])
        .trim()
        .is_empty());
}

#[test]
fn watch_prints_table_rows() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    server.ok(&["run", "before", "--image=nginx"]);
    let mut watch = server
        .kubectl_command(&["get", "pods", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kubectl get -w");
    let stdout = watch.stdout.take().expect("stdout");
    let (tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    let next = |seen: &mut Vec<String>| {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left.min(Duration::from_secs(1))) {
            Ok(line) => seen.push(line),
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
            Err(e) => panic!("watch output ended or timed out ({e}); saw {seen:?}"),
        }
    };
    // The list: the header and the existing pod.
    while !seen.iter().any(|l| l.starts_with("before")) {
        next(&mut seen);
    }
    assert_eq!(
        headers(&seen[0]),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{seen:?}"
    );
    // Events of the watch are printed as rows with the same columns.
    server.ok(&["run", "after", "--image=nginx"]);
    while !seen.iter().any(|l| l.starts_with("after")) {
        next(&mut seen);
    }
    let row = seen.iter().find(|l| l.starts_with("after")).cloned();
    let cells: Vec<String> = row
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    assert!(
        cells.len() >= 4 && cells[..4] == ["after", "0/1", "Pending", "0"],
        "a Table row with the pod columns: {seen:?}"
    );
    let _ = watch.kill();
    let _ = watch.wait();
}
