//! Shared harness of the tests that run `skiff` subcommands as a user would: start the
//! built binary with arguments, follow its log lines, stop it with SIGTERM; and run the
//! real kubectl with a kubeconfig and a fresh discovery cache.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The plain kubectl binary (the /usr/bin/kubectl dispatcher adds its own requests).
const KUBECTL_PLAIN: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32";
const KUBECTL: &str = "/usr/bin/kubectl";

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

/// A port nobody listens on right now (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running `skiff` process, killed on drop if still running.
pub struct Skiff {
    name: String,
    child: Child,
    log: mpsc::Receiver<String>,
    /// Every line seen so far (stderr and stdout).
    pub seen: Vec<String>,
}

impl Skiff {
    /// Starts `skiff ARGS` (`name` prefixes its echoed log lines).
    pub fn start(name: &str, args: &[&str]) -> Skiff {
        let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn skiff");
        let (tx, log) = mpsc::channel::<String>();
        let stderr = child.stderr.take().expect("stderr");
        let stdout = child.stdout.take().expect("stdout");
        for (stream, tx) in [
            (
                Box::new(stderr) as Box<dyn std::io::Read + Send>,
                tx.clone(),
            ),
            (Box::new(stdout), tx),
        ] {
            let prefix = name.to_owned();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    eprintln!("[{prefix}] {line}");
                    let _ = tx.send(line);
                }
            });
        }
        Skiff {
            name: name.to_owned(),
            child,
            log,
            seen: Vec::new(),
        }
    }

    /// Waits for a log line containing every one of `parts`; returns it. Panics after
    /// `timeout` or when the process exits first.
    pub fn wait_for_line(&mut self, parts: &[&str], timeout: Duration) -> String {
        if let Some(line) = self
            .seen
            .iter()
            .find(|l| parts.iter().all(|p| l.contains(p)))
        {
            return line.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if parts.iter().all(|p| line.contains(p)) {
                        return line;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("{}: no line with {parts:?} within {timeout:?}", self.name)
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("{}: exited before a line with {parts:?}", self.name)
                }
            }
        }
    }

    /// The `address=HOST:PORT` of the "serving the Kubernetes API" line.
    pub fn wait_for_api_address(&mut self, timeout: Duration) -> String {
        let line = self.wait_for_line(&["serving the Kubernetes API", "address="], timeout);
        line.split("address=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_default()
            .to_owned()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (up to `timeout`) for the process to exit.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        signal(self.child.id(), "TERM");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for skiff") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {timeout:?} of SIGTERM",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Skiff {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            signal(self.child.id(), "TERM");
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends `SIG<name>` to `pid` with the kill command.
fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

/// The processes whose command line is exactly `argv`.
pub fn processes_running(argv: &[&str]) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|cmdline| {
            let args: Vec<&[u8]> = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .collect();
            args.len() == argv.len() && args.iter().zip(argv).all(|(a, b)| *a == b.as_bytes())
        })
        .count()
}

/// The ids of the processes whose command line is exactly `argv`.
pub fn process_ids(argv: &[&str]) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .collect();
            let same =
                args.len() == argv.len() && args.iter().zip(argv).all(|(a, b)| *a == b.as_bytes());
            same.then_some(pid)
        })
        .collect()
}

/// On drop, kills (SIGKILL, by id) the processes running exactly `argv`: the pods'
/// processes a test's command made unique, which outlive a node agent killed as a
/// crash.
pub struct KillLeftovers(pub &'static [&'static str]);

impl Drop for KillLeftovers {
    fn drop(&mut self) {
        for pid in process_ids(self.0) {
            signal(pid, "KILL");
        }
    }
}

/// The real kubectl with one kubeconfig and its own discovery cache.
pub struct Kubectl {
    binary: &'static str,
    /// The kubeconfig given to every command.
    pub kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    /// kubectl with `kubeconfig`, caching discovery under `cache`.
    pub fn new(binary: &'static str, kubeconfig: PathBuf, cache: PathBuf) -> Kubectl {
        Kubectl {
            binary,
            kubeconfig,
            cache,
        }
    }

    /// Runs kubectl with these arguments.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(self.binary)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run kubectl")
    }

    /// Runs kubectl, asserts it succeeded, returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// The non-empty lines kubectl prints for `get ARGS --no-headers`.
    pub fn rows(&self, args: &[&str]) -> Vec<String> {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--no-headers", "--ignore-not-found"]);
        let out = self.run(&all);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The phases of the pods matching `args` (e.g. `-n demo -l app=web`).
    pub fn pod_phases(&self, args: &[&str]) -> Vec<String> {
        let mut all = vec!["get", "pods"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "jsonpath={.items[*].status.phase}"]);
        let out = self.run(&all);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// How many nodes report Ready=True.
    pub fn ready_nodes(&self) -> usize {
        let out = self.run(&[
            "get",
            "nodes",
            "-o",
            r#"jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#,
        ]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.trim() == "True")
            .count()
    }
}

/// Polls `condition` every 200 ms until it holds; panics after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
