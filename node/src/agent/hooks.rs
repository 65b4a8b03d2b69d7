//! Container lifecycle hooks: `postStart` right after a container starts (a failure
//! kills the container, as the kubelet does) and `preStop` before the stop signal,
//! within the pod's grace period (the stop then gets what is left of it, at least
//! [`MIN_STOP_GRACE`]).
//!
//! A hook ([`Hook`]) is an `exec` (run through the runtime's `exec_sync`), an
//! `httpGet` (a GET to the pod's IP, or `host`, on a container port; 2xx and 3xx
//! succeed) or a `sleep`. `httpGet` with `scheme: HTTPS` and `tcpSocket` hooks are
//! not supported: they are skipped with a warning.
//!
//! ```
//! use k8s_openapi::api::core::v1::Container;
//! use skiff_node::agent::hooks::{pre_stop_hook, Hook};
//! let c: Container = serde_json::from_value(serde_json::json!({
//!     "name": "c", "lifecycle": {"preStop": {"httpGet": {"path": "/quit", "port": 8080}}}
//! })).unwrap();
//! assert!(matches!(pre_stop_hook(&c), Some(Hook::HttpGet { port: 8080, .. })));
//! ```

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, LifecycleHandler};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::runtime::Runtime;

/// The least time a container gets between SIGTERM and SIGKILL after a preStop hook
/// used up its grace period (the kubelet's minimum).
pub const MIN_STOP_GRACE: Duration = Duration::from_secs(2);
/// How long a postStart hook may run.
pub const POST_START_TIMEOUT: Duration = Duration::from_secs(30);

/// What a lifecycle hook does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hook {
    /// Run a command in the container.
    Exec(Vec<String>),
    /// GET `path` from `host` (default: the pod's IP) on `port`.
    HttpGet {
        /// The host; `None`: the pod's IP.
        host: Option<String>,
        /// The port (a named container port resolved).
        port: u16,
        /// The path, `/` by default.
        path: String,
        /// Extra request headers.
        headers: Vec<(String, String)>,
    },
    /// Wait this long.
    Sleep(Duration),
}

/// Resolves a hook's port: a number, or the name of one of the container's ports.
fn resolve_port(port: &IntOrString, container: &Container) -> Option<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).ok().filter(|p| *p != 0),
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
}

/// The hook a handler describes, or `None` (with a warning) for one that cannot run.
fn hook(handler: &LifecycleHandler, container: &Container, which: &str) -> Option<Hook> {
    let skip = |why: &str| {
        tracing::warn!(container = %container.name, hook = which, "{why}; skipping the hook");
        None
    };
    if let Some(exec) = &handler.exec {
        return exec
            .command
            .clone()
            .filter(|c| !c.is_empty())
            .map(Hook::Exec);
    }
    if let Some(http) = &handler.http_get {
        if http
            .scheme
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("https"))
        {
            return skip("HTTPS lifecycle hooks are not supported");
        }
        let Some(port) = resolve_port(&http.port, container) else {
            return skip("the httpGet hook's port is not a container port");
        };
        let path = http
            .path
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".into());
        return Some(Hook::HttpGet {
            host: http.host.clone().filter(|h| !h.is_empty()),
            port,
            path: if path.starts_with('/') {
                path
            } else {
                format!("/{path}")
            },
            headers: http
                .http_headers
                .iter()
                .flatten()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
        });
    }
    if let Some(sleep) = &handler.sleep {
        return Some(Hook::Sleep(Duration::from_secs(
            u64::try_from(sleep.seconds).unwrap_or(0),
        )));
    }
    skip("tcpSocket lifecycle hooks are not supported")
}

/// The container's `preStop` hook.
pub fn pre_stop_hook(container: &Container) -> Option<Hook> {
    let handler = container.lifecycle.as_ref()?.pre_stop.as_ref()?;
    hook(handler, container, "preStop")
}

/// The command of the container's `preStop` hook when it is an `exec` hook.
pub fn pre_stop_command(container: &Container) -> Option<Vec<String>> {
    match pre_stop_hook(container)? {
        Hook::Exec(command) => Some(command),
        _ => None,
    }
}

/// One GET; `Ok` for a 2xx or 3xx answer.
async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> Result<(), String> {
    let mut stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("dial tcp {host}:{port}: {e}"))?;
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-lifecycle/1.33\r\nAccept: */*\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        // A header that would break the request line structure is left out.
        if !name.contains(['\r', '\n', ':']) && !value.contains(['\r', '\n']) {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
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
        Err(format!("HTTP lifecycle hook {path} answered {code}"))
    }
}

/// Runs `hook` for container `id` of the pod at `pod_ip`, for at most `timeout`.
pub async fn run(
    runtime: &dyn Runtime,
    id: &str,
    hook: &Hook,
    pod_ip: &str,
    timeout: Duration,
) -> Result<(), String> {
    let attempt = async {
        match hook {
            Hook::Exec(command) => match runtime.exec_sync(id, command, timeout).await {
                Ok(out) if out.exit_code == 0 => Ok(()),
                Ok(out) => Err(format!(
                    "command {command:?} exited with {}: {}",
                    out.exit_code,
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(e) => Err(e.to_string()),
            },
            Hook::HttpGet {
                host,
                port,
                path,
                headers,
            } => {
                let host = host.as_deref().unwrap_or(pod_ip);
                if host.is_empty() {
                    return Err("the pod has no IP for the httpGet hook".into());
                }
                http_get(host, *port, path, headers).await
            }
            Hook::Sleep(d) => {
                tokio::time::sleep(*d).await;
                Ok(())
            }
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("the hook did not finish within {timeout:?}")))
}

/// Runs the preStop `hook` of container `id` for at most `grace`, and returns the
/// grace left for stopping it and whether the hook failed (`Err` with why; a hook
/// cut off by the grace period is not a failure, as for the kubelet).
pub async fn pre_stop(
    runtime: &dyn Runtime,
    id: &str,
    hook: &Hook,
    pod_ip: &str,
    grace: Duration,
) -> (Duration, Result<(), String>) {
    let began = Instant::now();
    let mut outcome = Ok(());
    if let Err(why) = run(runtime, id, hook, pod_ip, grace).await {
        tracing::warn!(container = %id, %why, "preStop hook failed");
        if began.elapsed() < grace {
            outcome = Err(why);
        }
    }
    let left = grace.saturating_sub(began.elapsed()).max(MIN_STOP_GRACE);
    (left, outcome)
}

/// Runs the container's `postStart` hook in container `id` of the pod at `pod_ip`,
/// if it has one; `Err` says why it failed.
pub async fn post_start(
    runtime: &dyn Runtime,
    container: &Container,
    id: &str,
    pod_ip: &str,
) -> Result<(), String> {
    let Some(handler) = container
        .lifecycle
        .as_ref()
        .and_then(|l| l.post_start.as_ref())
    else {
        return Ok(());
    };
    let Some(hook) = hook(handler, container, "postStart") else {
        return Ok(());
    };
    run(runtime, id, &hook, pod_ip, POST_START_TIMEOUT).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(lifecycle: serde_json::Value) -> Container {
        serde_json::from_value(serde_json::json!({
            "name": "c",
            "ports": [{"name": "web", "containerPort": 8080}],
            "lifecycle": lifecycle,
        }))
        .unwrap()
    }

    #[test]
    fn reads_every_kind_of_hook() {
        let c = container(serde_json::json!({
            "preStop": {"httpGet": {"path": "quit", "port": "web", "httpHeaders": [{"name": "X-A", "value": "1"}]}},
            "postStart": {"sleep": {"seconds": 2}}
        }));
        assert_eq!(
            pre_stop_hook(&c),
            Some(Hook::HttpGet {
                host: None,
                port: 8080,
                path: "/quit".into(),
                headers: vec![("X-A".into(), "1".into())],
            })
        );
        assert_eq!(pre_stop_command(&c), None);
        let https =
            container(serde_json::json!({"preStop": {"httpGet": {"port": 1, "scheme": "HTTPS"}}}));
        assert_eq!(pre_stop_hook(&https), None);
        let named = container(serde_json::json!({"preStop": {"httpGet": {"port": "nope"}}}));
        assert_eq!(pre_stop_hook(&named), None);
        let exec = container(serde_json::json!({"preStop": {"exec": {"command": ["true"]}}}));
        assert_eq!(pre_stop_command(&exec), Some(vec!["true".to_string()]));
    }

    #[tokio::test]
    async fn http_hooks_call_the_pod() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let len = s.read(&mut buf).await.unwrap_or(0);
                let _ = seen_tx.send(String::from_utf8_lossy(&buf[..len]).into_owned());
                let status = if n == 0 { "204 No Content" } else { "500 Oops" };
                n += 1;
                let _ = s
                    .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await;
            }
        });
        let c = container(serde_json::json!({
            "postStart": {"httpGet": {"path": "/started", "port": port, "httpHeaders": [{"name": "X-Hook", "value": "yes"}]}}
        }));
        let sim = crate::sim::SimRuntime::new();
        post_start(&sim, &c, "none", "127.0.0.1").await.unwrap();
        let request = seen.recv().await.unwrap();
        assert!(
            request.starts_with("GET /started HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("X-Hook: yes\r\n"), "{request}");
        let failed = post_start(&sim, &c, "none", "127.0.0.1").await.unwrap_err();
        assert!(failed.contains("500"), "{failed}");
        // Nothing listening: the hook fails, it does not hang.
        let closed = container(serde_json::json!({"postStart": {"httpGet": {"port": 1}}}));
        assert!(post_start(&sim, &closed, "none", "127.0.0.1")
            .await
            .is_err());
    }

    #[tokio::test]
    async fn pre_stop_leaves_the_rest_of_the_grace() {
        let sim = crate::sim::SimRuntime::new();
        let (left, ok) = pre_stop(
            &sim,
            "none",
            &Hook::Sleep(Duration::from_millis(50)),
            "",
            Duration::from_secs(10),
        )
        .await;
        assert!(left <= Duration::from_secs(10) && left >= Duration::from_secs(9));
        assert_eq!(ok, Ok(()));
        let (cut, cut_off) = pre_stop(
            &sim,
            "none",
            &Hook::Sleep(Duration::from_secs(60)),
            "",
            Duration::from_millis(50),
        )
        .await;
        assert_eq!(cut, MIN_STOP_GRACE);
        // Cut off by the grace period: not a failure.
        assert_eq!(cut_off, Ok(()));
        // A hook that fails at once is one.
        let (_, failed) = pre_stop(
            &sim,
            "none",
            &Hook::Exec(vec!["true".into()]),
            "",
            Duration::from_secs(10),
        )
        .await;
        assert!(failed.is_err(), "{failed:?}");
    }
}
