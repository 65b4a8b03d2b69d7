//! A container's own stdio and the clients attached to it (`kubectl attach`,
//! `kubectl run -i`): [`ContainerIo`].
//!
//! - **Output.** One pump per stream (one for a `tty` container's terminal) reads
//!   the process's output, writes it line by line to the container's log
//!   ([`RotatingLog`]) and broadcasts the raw bytes to the attached clients. A client
//!   sees what is written after it attached; a client too slow to keep up loses
//!   chunks rather than holding the container back (the log has everything).
//! - **Input.** With `stdin: true` the process's stdin is a pipe (the terminal with
//!   `tty`) that stays open while nobody is attached; attached clients' stdin is
//!   written to it in the order it arrives. With `stdinOnce` the first attached
//!   client that closes its stdin (or detaches) closes the container's stdin (for a
//!   terminal: sends it end-of-file, `^D`). Without `stdin` the process reads
//!   `/dev/null`.
//! - **Terminal.** With `tty` the process runs on a pseudo-terminal as its session
//!   leader; attached clients may resize it.
//!
//! The runtime creates a [`ContainerIo`] with each container, lets it
//! [`ContainerIo::configure`] the command before spawning and
//! [`ContainerIo::connect`] the spawned child, and serves
//! [`crate::runtime::RuntimeService::attach`] with [`ContainerIo::attach`].

use std::future::Future;
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc};

use super::logs::RotatingLog;
use super::pty;
use crate::runtime::{AttachRequest, ByteWriter, ExecSession, RuntimeError};

/// Chunks of output kept for attached clients that are behind.
const BROADCAST_CHUNKS: usize = 256;
/// Bytes read from the process at a time.
const READ_CHUNK: usize = 16 * 1024;
/// A line without a newline longer than this goes to the log as it is.
const MAX_PENDING_LINE: usize = 64 * 1024;
/// Buffer of the pipes between a session and the container.
const SESSION_PIPE: usize = 64 * 1024;
/// End-of-file on a terminal in canonical mode.
const EOT: u8 = 0x04;

/// How a container's stdio is set up: from its spec's `stdin`, `stdinOnce`, `tty`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct StdioConfig {
    /// Keep stdin open for attached clients.
    pub stdin: bool,
    /// Close stdin when the first attached client's stdin closes.
    pub stdin_once: bool,
    /// Run on a pseudo-terminal.
    pub tty: bool,
}

/// Which stream a chunk of output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn log_name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// A chunk of output, as broadcast to attached clients.
#[derive(Clone, Debug)]
struct Chunk {
    stream: Stream,
    bytes: Bytes,
}

/// What attached clients send to the container's stdin.
#[derive(Debug)]
enum StdinMessage {
    Data(Bytes),
    /// `stdinOnce`: the first client is done; close the container's stdin.
    Close,
}

/// Why a container's stdio could not be set up.
#[derive(Debug, thiserror::Error)]
pub(super) enum StdioError {
    /// The pseudo-terminal could not be opened or shared.
    #[error("pseudo-terminal for the container: {0}")]
    Terminal(std::io::Error),
}

/// A container's stdio: the broadcast of its output, its stdin, its terminal.
#[derive(Debug)]
pub(super) struct ContainerIo {
    config: StdioConfig,
    /// Sends output to attached clients while the process's output is open; `None`
    /// before the process starts and after its output ended.
    output: Mutex<Option<broadcast::Sender<Chunk>>>,
    /// Feeds the process's stdin while it is open (with `stdin` only).
    stdin: Mutex<Option<mpsc::Sender<StdinMessage>>>,
    /// The terminal's master (with `tty`), for resizes.
    terminal: Mutex<Option<Arc<OwnedFd>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ContainerIo {
    /// The stdio of a container created with `config`.
    pub fn new(config: StdioConfig) -> Arc<Self> {
        Arc::new(ContainerIo {
            config,
            output: Mutex::new(None),
            stdin: Mutex::new(None),
            terminal: Mutex::new(None),
        })
    }

    /// Sets `cmd`'s stdin, stdout and stderr, and makes the process lead its own
    /// process group (with `tty`: its own session, the terminal its controlling
    /// terminal). Returns the terminal's master with `tty`, for [`Self::connect`].
    pub fn configure(
        &self,
        cmd: &mut tokio::process::Command,
    ) -> Result<Option<OwnedFd>, StdioError> {
        if !self.config.tty {
            cmd.stdin(if self.config.stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
            return Ok(None);
        }
        let (master, slave) = pty::open().map_err(StdioError::Terminal)?;
        let dup = |fd: &OwnedFd| fd.try_clone().map_err(StdioError::Terminal);
        cmd.stdin(Stdio::from(dup(&slave)?))
            .stdout(Stdio::from(dup(&slave)?))
            .stderr(Stdio::from(slave));
        // SAFETY: `become_session_leader` makes only async-signal-safe calls. It is
        // registered before any other pre_exec hook, so it runs first.
        unsafe {
            cmd.pre_exec(|| pty::become_session_leader());
        }
        Ok(Some(master))
    }

    /// Takes the spawned `child`'s pipes (or, with `tty`, the terminal's `master`)
    /// and starts pumping its output into `log` and to attached clients, and attached
    /// clients' input into its stdin.
    pub fn connect(
        self: &Arc<Self>,
        child: &mut tokio::process::Child,
        master: Option<OwnedFd>,
        log: Arc<Mutex<RotatingLog>>,
    ) -> Result<(), StdioError> {
        let (out, _) = broadcast::channel(BROADCAST_CHUNKS);
        *lock(&self.output) = Some(out.clone());
        let mut pumps = Vec::new();
        match master {
            Some(master) => {
                let reader = master.try_clone().map_err(StdioError::Terminal)?;
                let writer = master.try_clone().map_err(StdioError::Terminal)?;
                *lock(&self.terminal) = Some(Arc::new(master));
                let reader = tokio::fs::File::from_std(std::fs::File::from(reader));
                pumps.push(tokio::spawn(pump(reader, Stream::Stdout, log, out.clone())));
                if self.config.stdin {
                    let writer = tokio::fs::File::from_std(std::fs::File::from(writer));
                    self.feed_stdin(Box::pin(writer));
                }
            }
            None => {
                if let Some(stdin) = child.stdin.take() {
                    self.feed_stdin(Box::pin(stdin));
                }
                if let Some(stdout) = child.stdout.take() {
                    pumps.push(tokio::spawn(pump(
                        stdout,
                        Stream::Stdout,
                        log.clone(),
                        out.clone(),
                    )));
                }
                if let Some(stderr) = child.stderr.take() {
                    pumps.push(tokio::spawn(pump(stderr, Stream::Stderr, log, out.clone())));
                }
            }
        }
        drop(out);
        // Once every pump is done, attached clients see the end of the output.
        let io = self.clone();
        tokio::spawn(async move {
            for p in pumps {
                let _ = p.await;
            }
            lock(&io.output).take();
            lock(&io.stdin).take();
        });
        Ok(())
    }

    /// Hands the process's stdin to a task that writes what attached clients send.
    fn feed_stdin(&self, mut stdin: ByteWriter) {
        let (tx, mut rx) = mpsc::channel::<StdinMessage>(16);
        *lock(&self.stdin) = Some(tx);
        let tty = self.config.tty;
        tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                match message {
                    StdinMessage::Data(bytes) => {
                        if stdin.write_all(&bytes).await.is_err() || stdin.flush().await.is_err() {
                            return;
                        }
                    }
                    StdinMessage::Close if tty => {
                        let _ = stdin.write_all(&[EOT]).await;
                        let _ = stdin.flush().await;
                        return;
                    }
                    StdinMessage::Close => {
                        let _ = stdin.shutdown().await;
                        return;
                    }
                }
            }
        });
    }

    /// A session attached to the container's streams as `request` asks;
    /// `container_exited` resolves once the container's process has ended.
    pub fn attach(
        &self,
        request: &AttachRequest,
        container_exited: impl Future<Output = ()> + Send + 'static,
    ) -> Result<ExecSession, RuntimeError> {
        let want_stdout = request.stdout;
        let want_stderr = request.stderr && !self.config.tty;
        let pipe = |wanted: bool| wanted.then(|| tokio::io::duplex(SESSION_PIPE));
        let (stdout_pipe, stderr_pipe) = (pipe(want_stdout), pipe(want_stderr));
        let (stdout_w, stdout_r) = stdout_pipe
            .map(|(w, r)| (Some(w), Some(r)))
            .unwrap_or_default();
        let (stderr_w, stderr_r) = stderr_pipe
            .map(|(w, r)| (Some(w), Some(r)))
            .unwrap_or_default();
        if let Some(receiver) = lock(&self.output)
            .as_ref()
            .map(broadcast::Sender::subscribe)
        {
            if stdout_w.is_some() || stderr_w.is_some() {
                tokio::spawn(forward_output(receiver, stdout_w, stderr_w));
            }
        }
        let stdin = match lock(&self.stdin).clone() {
            Some(tx) if request.stdin => {
                let (writer, reader) = tokio::io::duplex(SESSION_PIPE);
                tokio::spawn(forward_input(reader, tx, self.config.stdin_once));
                Some(Box::pin(writer) as ByteWriter)
            }
            _ => None,
        };
        let terminal = lock(&self.terminal).clone();
        Ok(ExecSession {
            stdin,
            stdout: stdout_r.map(|r| Box::pin(r) as _),
            stderr: stderr_r.map(|r| Box::pin(r) as _),
            exit: Box::pin(async move {
                container_exited.await;
                Ok(0)
            }),
            resize: terminal
                .map(|t| Box::new(move |size| pty::set_size(&t, size)) as crate::runtime::Resizer),
        })
    }
}

/// Copies one attached client's view of the output into its session's pipes, until
/// the output ends or the client no longer reads any stream.
async fn forward_output(
    mut receiver: broadcast::Receiver<Chunk>,
    mut stdout: Option<tokio::io::DuplexStream>,
    mut stderr: Option<tokio::io::DuplexStream>,
) {
    while stdout.is_some() || stderr.is_some() {
        let chunk = match receiver.recv().await {
            Ok(chunk) => chunk,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(
                    missed,
                    "an attached client fell behind the container's output"
                );
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let target = match chunk.stream {
            Stream::Stdout => &mut stdout,
            Stream::Stderr => &mut stderr,
        };
        if let Some(w) = target.as_mut() {
            if w.write_all(&chunk.bytes).await.is_err() {
                *target = None;
            }
        }
    }
}

/// Copies one attached client's stdin to the container's; with `stdin_once`, the
/// end of the client's stdin closes the container's.
async fn forward_input(
    mut reader: tokio::io::DuplexStream,
    container: mpsc::Sender<StdinMessage>,
    stdin_once: bool,
) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let data = StdinMessage::Data(Bytes::copy_from_slice(&buf[..n]));
                if container.send(data).await.is_err() {
                    return;
                }
            }
        }
    }
    if stdin_once {
        let _ = container.send(StdinMessage::Close).await;
    }
}

/// Copies a stream of the process to attached clients, and line by line into the log.
async fn pump(
    mut pipe: impl AsyncRead + Unpin,
    stream: Stream,
    log: Arc<Mutex<RotatingLog>>,
    out: broadcast::Sender<Chunk>,
) {
    let write = |line: &[u8]| {
        if let Err(e) = lock(&log).write_line(stream.log_name(), line) {
            tracing::warn!(error = %e, "writing a container log");
        }
    };
    let mut buf = vec![0u8; READ_CHUNK];
    let mut line = Vec::new();
    loop {
        // A terminal whose every user has gone answers EIO: the end, like EOF.
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let data = &buf[..n];
        // No receivers is normal: nobody is attached.
        let _ = out.send(Chunk {
            stream,
            bytes: Bytes::copy_from_slice(data),
        });
        let mut rest = data;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            line.extend_from_slice(&rest[..=end]);
            write(&line);
            line.clear();
            rest = &rest[end + 1..];
        }
        line.extend_from_slice(rest);
        if line.len() >= MAX_PENDING_LINE {
            write(&line);
            line.clear();
        }
    }
    if !line.is_empty() {
        write(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_in(dir: &std::path::Path) -> Arc<Mutex<RotatingLog>> {
        Arc::new(Mutex::new(
            RotatingLog::open(&dir.join("0.log"), 1 << 20, 2).unwrap(),
        ))
    }

    #[tokio::test]
    async fn pump_logs_lines_and_broadcasts_raw_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_in(dir.path());
        let (tx, mut rx) = broadcast::channel(8);
        let input: &[u8] = b"one\ntw";
        pump(input, Stream::Stderr, log, tx).await;
        let chunk = rx.recv().await.unwrap();
        assert_eq!(chunk.stream, Stream::Stderr);
        assert_eq!(&chunk.bytes[..], b"one\ntw");
        let text = std::fs::read_to_string(dir.path().join("0.log")).unwrap();
        let bodies: Vec<&str> = text
            .lines()
            .map(|l| l.splitn(4, ' ').nth(3).unwrap())
            .collect();
        assert_eq!(bodies, ["one", "tw"]);
        assert!(text.contains(" stderr F one\n"));
    }

    #[tokio::test]
    async fn attached_clients_get_output_and_feed_stdin_once() {
        let dir = tempfile::tempdir().unwrap();
        let io = ContainerIo::new(StdioConfig {
            stdin: true,
            stdin_once: true,
            tty: false,
        });
        let mut cmd = tokio::process::Command::new("cat");
        if io.configure(&mut cmd).is_err()
            || std::process::Command::new("cat")
                .arg("--version")
                .output()
                .is_err()
        {
            eprintln!("skipping: cat is missing");
            return;
        }
        let mut child = cmd.spawn().unwrap();
        io.connect(&mut child, None, log_in(dir.path())).unwrap();
        let request = AttachRequest {
            container_id: "c".into(),
            stdin: true,
            stdout: true,
            stderr: true,
            tty: false,
        };
        let session = io.attach(&request, async {}).unwrap();
        let mut stdin = session.stdin.unwrap();
        stdin.write_all(b"echoed back\n").await.unwrap();
        // Closing the first client's stdin closes cat's: cat ends, the output ends.
        stdin.shutdown().await.unwrap();
        drop(stdin);
        let mut out = String::new();
        session
            .stdout
            .unwrap()
            .read_to_string(&mut out)
            .await
            .unwrap();
        assert_eq!(out, "echoed back\n");
        assert!(child.wait().await.unwrap().success());
        assert_eq!(session.exit.await.unwrap(), 0);
    }
}
