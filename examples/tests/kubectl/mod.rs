//! Shared harness of the kubectl end-to-end tests: start `skiff apiserver` on a free
//! port with a temporary data directory, and run the real kubectl against it with the
//! admin kubeconfig and a fresh discovery cache.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The plain kubectl binary (the /usr/bin/kubectl dispatcher adds its own requests).
const KUBECTL_PLAIN: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32";
const KUBECTL: &str = "/usr/bin/kubectl";
/// How long the server may take to come up, and a condition to become true.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The kubectl binary to use, or `None` (the test then skips, saying why).
pub fn kubectl_binary() -> Option<&'static str> {
    for candidate in [KUBECTL_PLAIN, KUBECTL] {
        if Path::new(candidate).exists() {
            return Some(candidate);
        }
    }
    eprintln!("skipping: kubectl is not installed ({KUBECTL_PLAIN} or {KUBECTL})");
    None
}

/// A running `skiff apiserver`.
pub struct ApiServer {
    child: Child,
    /// The data directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    kubectl: &'static str,
    cache: PathBuf,
}

impl ApiServer {
    /// Start the server (with `extra` flags) and wait until it is ready; `None` when
    /// kubectl is missing.
    pub fn start(extra: &[&str]) -> Option<ApiServer> {
        let kubectl = kubectl_binary()?;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(["apiserver", "--secure-port", "0", "--data-dir"])
            .arg(dir.path())
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn skiff apiserver");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, log) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[skiff] {line}");
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + TIMEOUT;
        let mut address = None;
        while address.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = log
                .recv_timeout(left)
                .expect("skiff apiserver did not report its address in time");
            if let Some(rest) = line.split("address=").nth(1) {
                if line.contains("serving the Kubernetes API") {
                    address = Some(
                        rest.split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_string(),
                    );
                }
            }
        }
        let url = format!("https://{}", address.unwrap_or_default());
        let cache = dir.path().join("kubectl-cache");
        let server = ApiServer {
            child,
            kubeconfig: dir.path().join("admin.kubeconfig"),
            dir,
            url,
            kubectl,
            cache,
        };
        server.wait_until("the server is ready", || {
            server
                .kubectl(&["get", "--raw", "/readyz"])
                .status
                .success()
        });
        Some(server)
    }

    /// Run kubectl with the admin kubeconfig and this server's cache dir.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(self.kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run kubectl")
    }

    /// Run kubectl with exactly these arguments (no kubeconfig added).
    pub fn kubectl_raw(&self, args: &[&str]) -> Output {
        Command::new(self.kubectl)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run kubectl")
    }

    /// A kubectl process with the admin kubeconfig, not yet started.
    pub fn kubectl_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(self.kubectl);
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args);
        command
    }

    /// Run kubectl, assert it succeeded, return its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Run kubectl, assert it failed, return its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Write `text` to a file in the data directory and return its path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write manifest");
        path.display().to_string()
    }

    /// Poll `condition` every 100 ms until it holds; panic after [`TIMEOUT`].
    pub fn wait_until(&self, what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first line of a table (the headers) split into columns.
pub fn headers(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// A deployment manifest with one nginx container of `image`.
pub fn deployment(name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}, tier: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: nginx
        image: {image}
"
    )
}
