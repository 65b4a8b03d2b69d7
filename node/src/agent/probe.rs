//! Container probes run by the agent: `tcpSocket` and `httpGet` against the pod's IP,
//! `exec` through the runtime's `exec_sync` in the container (success is exit code 0;
//! running past `timeoutSeconds` is a failure), with `initialDelaySeconds`,
//! `periodSeconds`, `timeoutSeconds`, `successThreshold` and `failureThreshold` as
//! Kubernetes defines them. The worker runs startup probes first: until one succeeds,
//! liveness and readiness probes wait and the container is not `started`;
//! `failureThreshold` failures kill it.
//!
//! `grpc` probes are not supported yet: they are treated as succeeding (a warning is
//! logged), so that a limitation of the agent never kills a container. Neither is an
//! exec probe on a runtime without exec.
//!
//! ```
//! use k8s_openapi::api::core::v1::Probe;
//! use skiff_node::agent::probe::ProbeState;
//! let probe = Probe { failure_threshold: Some(2), ..Probe::default() };
//! let mut live = ProbeState::new(true);
//! live.record(false, &probe);
//! assert!(live.ok);              // one failure is below the threshold
//! live.record(false, &probe);
//! assert!(!live.ok);
//! ```

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::runtime::{Runtime, RuntimeError};

/// The running tally of one probe of one container attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeState {
    /// The probe's current verdict.
    pub ok: bool,
    successes: i32,
    failures: i32,
    last: Option<Instant>,
}

impl ProbeState {
    /// A fresh tally whose verdict starts at `ok` (false for readiness, true for
    /// liveness).
    pub fn new(ok: bool) -> Self {
        ProbeState {
            ok,
            successes: 0,
            failures: 0,
            last: None,
        }
    }

    /// Whether the probe should run now, for a container started at `started`.
    pub fn due(&self, probe: &Probe, started: Instant, now: Instant) -> bool {
        let delay = Duration::from_secs(probe.initial_delay_seconds.unwrap_or(0).max(0) as u64);
        let period = Duration::from_secs(probe.period_seconds.unwrap_or(10).max(1) as u64);
        now >= started + delay && self.last.is_none_or(|l| now >= l + period)
    }

    /// Whether the last `failureThreshold` results were all failures (a startup
    /// probe that did this kills the container).
    pub fn failed(&self, probe: &Probe) -> bool {
        self.failures >= probe.failure_threshold.unwrap_or(3).max(1)
    }

    /// Records one result; the verdict flips after `successThreshold` successes or
    /// `failureThreshold` failures in a row.
    pub fn record(&mut self, success: bool, probe: &Probe) {
        self.last = Some(Instant::now());
        if success {
            self.failures = 0;
            self.successes += 1;
            if self.successes >= probe.success_threshold.unwrap_or(1).max(1) {
                self.ok = true;
            }
        } else {
            self.successes = 0;
            self.failures += 1;
            if self.failures >= probe.failure_threshold.unwrap_or(3).max(1) {
                self.ok = false;
            }
        }
    }
}

/// Resolves a probe port: a number, or the name of one of the container's ports.
fn port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("invalid port {n}")),
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .ok_or_else(|| format!("no container port named {name}")),
    }
}

/// Where a probe runs: the pod's IP (network probes) and the container in the
/// runtime (exec probes).
pub struct Target<'a> {
    /// The pod's IP.
    pub pod_ip: &'a str,
    /// The runtime running the container.
    pub runtime: &'a dyn Runtime,
    /// The container's id in the runtime.
    pub container_id: &'a str,
}

/// Runs `probe` once against `target`; `Err` says why it failed.
pub async fn run(probe: &Probe, container: &Container, target: &Target<'_>) -> Result<(), String> {
    let timeout = Duration::from_secs(probe.timeout_seconds.unwrap_or(1).max(1) as u64);
    if let Some(exec) = &probe.exec {
        let command = exec.command.clone().unwrap_or_default();
        return match target
            .runtime
            .exec_sync(target.container_id, &command, timeout)
            .await
        {
            Ok(out) if out.exit_code == 0 => Ok(()),
            Ok(out) => Err(format!(
                "command {command:?} exited with {}: {}",
                out.exit_code,
                String::from_utf8_lossy(&out.stdout).trim()
            )),
            Err(RuntimeError::Unsupported(why)) => {
                tracing::warn!(container = %container.name, %why, "exec probe unsupported by the runtime; treating it as succeeding");
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        };
    }
    let pod_ip = target.pod_ip;
    let attempt = async {
        if let Some(tcp) = &probe.tcp_socket {
            let host = tcp.host.clone().unwrap_or_else(|| pod_ip.to_owned());
            let port = port(&tcp.port, container)?;
            TcpStream::connect((host.as_str(), port))
                .await
                .map(drop)
                .map_err(|e| format!("dial tcp {host}:{port}: {e}"))
        } else if let Some(http) = &probe.http_get {
            let host = http.host.clone().unwrap_or_else(|| pod_ip.to_owned());
            let port = port(&http.port, container)?;
            let path = http.path.clone().unwrap_or_else(|| "/".into());
            let mut stream = TcpStream::connect((host.as_str(), port))
                .await
                .map_err(|e| format!("dial tcp {host}:{port}: {e}"))?;
            let mut request = format!(
                "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n"
            );
            for h in http.http_headers.iter().flatten() {
                request.push_str(&format!("{}: {}\r\n", h.name, h.value));
            }
            request.push_str("\r\n");
            stream
                .write_all(request.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let mut head = vec![0u8; 64];
            let n = stream.read(&mut head).await.map_err(|e| e.to_string())?;
            let line = String::from_utf8_lossy(&head[..n]);
            let code: u16 = line
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("not an HTTP response: {line:?}"))?;
            if (200..400).contains(&code) {
                Ok(())
            } else {
                Err(format!("HTTP probe failed with statuscode: {code}"))
            }
        } else {
            tracing::warn!(
                container = %container.name,
                "grpc probes are not supported yet; treating the probe as succeeding"
            );
            Ok(())
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("probe timed out after {timeout:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_and_periods() {
        let probe = Probe {
            success_threshold: Some(2),
            failure_threshold: Some(1),
            period_seconds: Some(5),
            initial_delay_seconds: Some(3),
            ..Probe::default()
        };
        let mut ready = ProbeState::new(false);
        let t0 = Instant::now();
        assert!(!ready.due(&probe, t0, t0 + Duration::from_secs(2)));
        assert!(ready.due(&probe, t0, t0 + Duration::from_secs(3)));
        ready.record(true, &probe);
        assert!(!ready.ok);
        ready.record(true, &probe);
        assert!(ready.ok);
        ready.record(false, &probe);
        assert!(!ready.ok);
        let now = Instant::now();
        assert!(!ready.due(&probe, t0, now));
        assert!(ready.due(&probe, t0, now + Duration::from_secs(6)));
    }

    #[tokio::test]
    async fn tcp_and_http_probes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await;
                let status = if n == 0 { "200 OK" } else { "503 Unavailable" };
                n += 1;
                let _ = s
                    .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await;
            }
        });
        let container: Container = serde_json::from_value(serde_json::json!({
            "name": "c", "ports": [{"name": "web", "containerPort": port}]
        }))
        .unwrap();
        let http: Probe = serde_json::from_value(serde_json::json!({
            "httpGet": {"path": "/healthz", "port": "web"}
        }))
        .unwrap();
        let sim = crate::sim::SimRuntime::new();
        let at = Target {
            pod_ip: "127.0.0.1",
            runtime: &sim,
            container_id: "none",
        };
        assert_eq!(run(&http, &container, &at).await, Ok(()));
        let second = run(&http, &container, &at).await.unwrap_err();
        assert!(second.contains("503"), "{second}");
        let tcp: Probe = serde_json::from_value(serde_json::json!({
            "tcpSocket": {"port": port}
        }))
        .unwrap();
        assert_eq!(run(&tcp, &container, &at).await, Ok(()));
        let closed: Probe = serde_json::from_value(serde_json::json!({
            "tcpSocket": {"port": 1}
        }))
        .unwrap();
        assert!(run(&closed, &container, &at).await.is_err());
        let bad: Probe = serde_json::from_value(serde_json::json!({
            "tcpSocket": {"port": "nope"}
        }))
        .unwrap();
        assert!(run(&bad, &container, &at).await.is_err());
    }

    #[tokio::test]
    async fn exec_probes_follow_the_exit_code() {
        use crate::runtime::{ContainerConfig, ExecSyncResponse, PodSandboxConfig, RuntimeService};
        let sim = crate::sim::SimRuntime::new();
        let sb = PodSandboxConfig::default();
        let sid = sim.run_pod_sandbox(&sb).await.unwrap();
        let config = ContainerConfig {
            name: "app".into(),
            ..Default::default()
        };
        let id = sim.create_container(&sid, &config, &sb).await.unwrap();
        sim.start_container(&id).await.unwrap();
        let container: Container =
            serde_json::from_value(serde_json::json!({"name": "app"})).unwrap();
        let probe: Probe = serde_json::from_value(serde_json::json!({
            "exec": {"command": ["cat", "/tmp/healthy"]}
        }))
        .unwrap();
        let at = Target {
            pod_ip: "127.0.0.1",
            runtime: &sim,
            container_id: &id,
        };
        assert_eq!(run(&probe, &container, &at).await, Ok(()));
        sim.set_exec_result(
            "app",
            ExecSyncResponse {
                exit_code: 1,
                stdout: b"missing".to_vec(),
                ..Default::default()
            },
        );
        let err = run(&probe, &container, &at).await.unwrap_err();
        assert!(
            err.contains("exited with 1") && err.contains("missing"),
            "{err}"
        );
        let gone = Target {
            container_id: "nope",
            ..at
        };
        assert!(run(&probe, &container, &gone).await.is_err());
    }
}
