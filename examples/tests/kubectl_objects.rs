//! Working with objects through the real kubectl: create -f, get in every output
//! format with the server's Table columns, selectors, label, annotate, patch (merge and
//! JSON), scale, delete, and get -w. Skips when kubectl is missing.

mod kubectl;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kubectl::{deployment, headers, ApiServer, TIMEOUT};

#[test]
fn create_and_get_in_every_format() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    let manifest = server.write("web.yaml", &deployment("web", "nginx:1.25"));
    let created = server.ok(&["create", "-f", &manifest]);
    assert!(created.contains("deployment.apps/web created"), "{created}");
    let again = server.fails(&["create", "-f", &manifest]);
    assert!(
        again.contains("AlreadyExists") || again.contains("already exists"),
        "{again}"
    );

    let table = server.ok(&["get", "deployments"]);
    assert_eq!(
        headers(&table),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{table}"
    );
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("web ") && l.contains("0/2")),
        "{table}"
    );
    let wide = server.ok(&["get", "deployments", "-o", "wide"]);
    assert!(
        headers(&wide).ends_with(&["CONTAINERS".into(), "IMAGES".into(), "SELECTOR".into()]),
        "{wide}"
    );
    assert!(
        wide.contains("nginx:1.25") && wide.contains("app=web"),
        "{wide}"
    );

    let yaml = server.ok(&["get", "deployment", "web", "-o", "yaml"]);
    assert!(
        yaml.contains("image: nginx:1.25") && yaml.contains("resourceVersion:"),
        "{yaml}"
    );
    let image = server.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(image, "nginx:1.25");

    let labelled = server.ok(&["get", "deploy", "-l", "tier=web", "-o", "name"]);
    assert_eq!(labelled.trim(), "deployment.apps/web");
    let none = server.kubectl(&["get", "deploy", "-l", "tier=db"]);
    assert!(String::from_utf8_lossy(&none.stderr).contains("No resources found"));

    let all_ns = server.ok(&["get", "deploy", "-A"]);
    assert_eq!(headers(&all_ns)[..2], ["NAMESPACE", "NAME"], "{all_ns}");

    let pods = server.write("pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p1\nspec:\n  containers:\n  - name: c\n    image: busybox\n");
    server.ok(&["create", "-f", &pods]);
    let pods_table = server.ok(&["get", "pods"]);
    assert_eq!(
        headers(&pods_table),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{pods_table}"
    );
    let by_field = server.ok(&[
        "get",
        "pods",
        "--field-selector",
        "metadata.name=p1",
        "-o",
        "name",
    ]);
    assert_eq!(by_field.trim(), "pod/p1");
    let pods_wide = server.ok(&["get", "pods", "-o", "wide"]);
    assert!(
        headers(&pods_wide).ends_with(&[
            "IP".into(),
            "NODE".into(),
            "NOMINATED NODE".into(),
            "READINESS GATES".into()
        ]),
        "{pods_wide}"
    );
}

#[test]
fn label_annotate_patch_scale_delete() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    let manifest = server.write("web.yaml", &deployment("web", "nginx:1.25"));
    server.ok(&["create", "-f", &manifest]);
    let get = |path: &str| {
        server.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            &format!("jsonpath={{{path}}}"),
        ])
    };

    server.ok(&["label", "deploy", "web", "release=stable"]);
    assert_eq!(get(".metadata.labels.release"), "stable");
    server.ok(&["annotate", "deploy", "web", "owner=team-a"]);
    assert_eq!(get(".metadata.annotations.owner"), "team-a");

    server.ok(&[
        "patch",
        "deploy",
        "web",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"replicas":4}}"#,
    ]);
    assert_eq!(get(".spec.replicas"), "4");
    server.ok(&[
        "patch",
        "deploy",
        "web",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":5}]"#,
    ]);
    assert_eq!(get(".spec.replicas"), "5");
    server.ok(&["scale", "deploy", "web", "--replicas", "3"]);
    assert_eq!(get(".spec.replicas"), "3");

    let deleted = server.ok(&["delete", "deploy", "web"]);
    assert!(deleted.contains("deleted"), "{deleted}");
    let gone = server.fails(&["get", "deploy", "web"]);
    assert!(
        gone.contains("NotFound") || gone.contains("not found"),
        "{gone}"
    );
}

#[test]
fn watch_sees_added_modified_deleted() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    let mut watch = server
        .kubectl_command(&["get", "configmaps", "-w", "--output-watch-events"])
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
    // The watch is open once kubectl printed its header line... or nothing, when the
    // list is empty; give the list a moment by waiting for the server to have served it.
    server.wait_until("the watch is listed", || {
        server
            .ok(&["get", "--raw", "/metrics"])
            .contains("verb=\"WATCH\",group=\"\",version=\"v1\",resource=\"configmaps\"")
            || server
                .ok(&["get", "--raw", "/metrics"])
                .contains("verb=\"LIST\",group=\"\",version=\"v1\",resource=\"configmaps\"")
    });
    let cm = server.write(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\ndata:\n  a: \"1\"\n",
    );
    server.ok(&["create", "-f", &cm]);
    server.ok(&["label", "configmap", "c1", "x=y"]);
    server.ok(&["delete", "configmap", "c1"]);

    let mut seen = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while !["ADDED", "MODIFIED", "DELETED"].iter().all(|e| {
        seen.iter()
            .any(|l: &String| l.starts_with(e) && l.contains("c1"))
    }) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left.min(Duration::from_secs(1))) {
            Ok(line) => seen.push(line),
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => continue,
            Err(e) => panic!("watch output ended or timed out ({e}); saw {seen:?}"),
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
}
