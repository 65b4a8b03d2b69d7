//! The streaming part of the shim, shaped like the CRI's `ExecSync`, `Exec` and
//! `PortForward`: messages and the handles a runtime gives back.
//!
//! A runtime answers [`super::RuntimeService::exec`] with an [`ExecSession`]: the
//! process's pipes (those the request asked for) and a future of its exit code. The
//! node agent's server copies them to and from a websocket; exec probes and lifecycle
//! hooks use [`super::RuntimeService::exec_sync`], which collects the output.
//!
//! ```
//! # async fn run() -> Result<(), skiff_node::runtime::RuntimeError> {
//! use std::time::Duration;
//! use skiff_node::runtime::{ContainerConfig, PodSandboxConfig, RuntimeService};
//! use skiff_node::sim::SimRuntime;
//! let rt = SimRuntime::new();
//! let sb = PodSandboxConfig::default();
//! let sid = rt.run_pod_sandbox(&sb).await?;
//! let id = rt.create_container(&sid, &ContainerConfig { name: "c".into(), ..Default::default() }, &sb).await?;
//! rt.start_container(&id).await?;
//! let out = rt.exec_sync(&id, &["true".to_string()], Duration::from_secs(1)).await?;
//! assert_eq!(out.exit_code, 0);
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

use super::RuntimeError;

/// The collected result of [`super::RuntimeService::exec_sync`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecSyncResponse {
    /// Everything the command wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
    /// Its exit code (128 + N when killed by signal N).
    pub exit_code: i32,
}

/// A command to run in a running container: the CRI's `ExecRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecRequest {
    /// The container.
    pub container_id: String,
    /// argv; the first element is looked up on the container's `PATH`.
    pub command: Vec<String>,
    /// Whether the caller sends stdin.
    pub stdin: bool,
    /// Whether the caller wants stdout.
    pub stdout: bool,
    /// Whether the caller wants stderr (ignored with `tty`: a terminal merges them).
    pub stderr: bool,
    /// Whether to run the command on a pseudo-terminal.
    pub tty: bool,
}

/// Which of a running container's own streams to attach to: the CRI's
/// `AttachRequest` (`kubectl attach`, `kubectl run -i`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttachRequest {
    /// The container.
    pub container_id: String,
    /// Whether the caller sends stdin (ignored unless the container keeps its stdin
    /// open: [`super::ContainerConfig::stdin`]).
    pub stdin: bool,
    /// Whether the caller wants stdout (the terminal's output for a `tty` container).
    pub stdout: bool,
    /// Whether the caller wants stderr (a `tty` container has none).
    pub stderr: bool,
    /// Whether the caller expects a terminal (the container's own `tty` decides).
    pub tty: bool,
}

/// A terminal size (the resize channel's message).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
pub struct TerminalSize {
    /// Columns.
    #[serde(rename = "Width")]
    pub width: u16,
    /// Rows.
    #[serde(rename = "Height")]
    pub height: u16,
}

/// A byte stream a session reads from.
pub type ByteReader = Pin<Box<dyn AsyncRead + Send>>;
/// A byte stream a session writes to.
pub type ByteWriter = Pin<Box<dyn AsyncWrite + Send>>;
/// The exit code of an exec'd command, once it has ended.
pub type ExitFuture = Pin<Box<dyn Future<Output = Result<i32, RuntimeError>> + Send>>;
/// Resizes a session's terminal.
pub type Resizer = Box<dyn Fn(TerminalSize) + Send + Sync>;

/// A running exec (or an attach): the pipes the request asked for and the exit code
/// to come.
///
/// Dropping an exec session (and the exit future) kills the command; dropping an
/// attach session only detaches from the container.
pub struct ExecSession {
    /// The command's stdin, when the request asked for it; dropping it closes stdin.
    pub stdin: Option<ByteWriter>,
    /// Its stdout (the terminal's output with `tty`).
    pub stdout: Option<ByteReader>,
    /// Its stderr (never with `tty`).
    pub stderr: Option<ByteReader>,
    /// Resolves to the exit code once the command has ended.
    pub exit: ExitFuture,
    /// Resizes the terminal (with `tty` only).
    pub resize: Option<Resizer>,
}

impl std::fmt::Debug for ExecSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecSession")
            .field("stdin", &self.stdin.is_some())
            .field("stdout", &self.stdout.is_some())
            .field("stderr", &self.stderr.is_some())
            .field("tty", &self.resize.is_some())
            .finish_non_exhaustive()
    }
}

/// Anything a port-forward can copy bytes to and from (a TCP stream for the process
/// runtime).
pub trait Duplex: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Duplex for T {}

/// A connection to a port of a pod's network.
pub type PortStream = Box<dyn Duplex>;
