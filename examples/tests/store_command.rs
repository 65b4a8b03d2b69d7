//! `skiff store` as a user runs it: start the binary, use it with the real etcdctl,
//! restart it on the same data directory, stop it with SIGTERM and Ctrl-C (SIGINT), and
//! check it exits cleanly.
//!
//! Skips, with a printed reason, when `/usr/bin/etcdctl` or `/bin/kill` is missing.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ETCDCTL: &str = "/usr/bin/etcdctl";
const TIMEOUT: Duration = Duration::from_secs(30);

fn tools_missing() -> bool {
    for tool in [ETCDCTL, "/bin/kill"] {
        if !Path::new(tool).exists() {
            eprintln!("skipping: {tool} is not installed");
            return true;
        }
    }
    false
}

/// A running `skiff store` and the lines it logs.
struct Skiff {
    child: Child,
    log: mpsc::Receiver<String>,
    endpoint: String,
}

impl Skiff {
    /// Start on a free port with `extra` flags and wait until it logs that it is ready.
    fn start(extra: &[&str]) -> Skiff {
        let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args([
                "store",
                "--listen-client-urls",
                "http://127.0.0.1:0",
                "--name",
                "e2e",
            ])
            .args(extra)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn skiff");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut skiff = Skiff {
            child,
            log,
            endpoint: String::new(),
        };
        let serving = skiff.wait_for_line("serving etcd v3 gRPC");
        let addr = serving
            .split("addr=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {serving:?}"));
        skiff.endpoint = addr.to_string();
        skiff.wait_for_line("ready to serve client requests");
        skiff
    }

    /// Start with its data in `dir`.
    fn start_in(dir: &Path) -> Skiff {
        let dir = dir.display().to_string();
        Skiff::start(&["--data-dir", &dir])
    }

    fn wait_for_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => continue,
                Err(e) => panic!("skiff never logged {needle:?}: {e}"),
            }
        }
    }

    fn etcdctl(&self, args: &[&str]) -> String {
        let out = Command::new(ETCDCTL)
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint))
            .args(args)
            .output()
            .expect("run etcdctl");
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Send `signal` and wait for a clean exit.
    fn stop_with(mut self, signal: &str) {
        let status = Command::new("/bin/kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                assert!(
                    status.success(),
                    "skiff exited with {status} after SIG{signal}"
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "skiff did not stop within {TIMEOUT:?} of SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.wait_for_line("stopped");
    }
}

impl Drop for Skiff {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serves_etcdctl_keeps_data_across_restarts_and_stops_on_sigterm() {
    if tools_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");

    let skiff = Skiff::start_in(dir.path());
    assert_eq!(skiff.etcdctl(&["put", "hello", "world"]), "OK\n");
    assert_eq!(skiff.etcdctl(&["get", "hello"]), "hello\nworld\n");
    let members = skiff.etcdctl(&["member", "list"]);
    assert!(members.contains(", started, e2e, "), "{members}");
    assert!(
        members.contains(&format!("http://{}", skiff.endpoint)),
        "{members}"
    );
    let member_id = members.split(", ").next().expect("id").to_string();
    skiff.stop_with("TERM");

    // Same data directory, new port: the data and the member ID are still there.
    let skiff = Skiff::start_in(dir.path());
    assert_eq!(skiff.etcdctl(&["get", "hello"]), "hello\nworld\n");
    let members = skiff.etcdctl(&["member", "list"]);
    assert!(
        members.starts_with(&format!("{member_id}, ")),
        "{members} vs {member_id}"
    );
    skiff.stop_with("TERM");
}

#[test]
fn stops_on_ctrl_c_even_with_a_watch_open() {
    if tools_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let skiff = Skiff::start_in(dir.path());
    assert_eq!(skiff.etcdctl(&["put", "k", "v"]), "OK\n");
    let mut watch = Command::new(ETCDCTL)
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", skiff.endpoint))
        .args(["watch", "k", "--rev=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcdctl watch");
    // Wait until the watch is served: it prints the historical put.
    let mut out = BufReader::new(watch.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read");
    assert_eq!(line, "PUT\n");
    skiff.stop_with("INT");
    let _ = watch.kill();
    let _ = watch.wait();
}

#[test]
fn memory_backend() {
    if tools_missing() {
        return;
    }
    let skiff = Skiff::start(&["--backend", "memory"]);
    assert_eq!(skiff.etcdctl(&["put", "k", "v"]), "OK\n");
    skiff.stop_with("TERM");
}

#[test]
fn refuses_tls_urls() {
    let out = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args([
            "store",
            "--backend",
            "memory",
            "--listen-client-urls",
            "https://127.0.0.1:0",
        ])
        .output()
        .expect("run skiff");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TLS is not supported"), "{err}");
}
