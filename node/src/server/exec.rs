//! `/exec/{namespace}/{pod}/{container}`: a command in a container, its pipes carried
//! over the channel protocol ([`super::channel`]) on a WebSocket.
//!
//! The server copies stdout and stderr to their channels until both end, waits for
//! the exit code, sends the final `Status` on the error channel and closes the socket
//! (kubectl exits with the code in that `Status`). stdin arrives on channel 0 and is
//! closed by v5's close message; channel 4 resizes the terminal. A client that goes
//! away ends the command (the session is dropped, which kills it).

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::channel::{self, Frame};
use super::websocket::ServerSocket;
use crate::runtime::{ExecRequest, ExecSession, RuntimeError, TerminalSize};

/// Reads the exec options of a query: repeated `command`, and the `stdin`, `stdout`,
/// `stderr`, `tty` flags (stdout and stderr default to false as in Kubernetes'
/// kubelet; kubectl always sends the ones it wants).
pub fn exec_request(container_id: &str, query: Option<&str>) -> Result<ExecRequest, String> {
    let mut request = ExecRequest {
        container_id: container_id.to_owned(),
        ..ExecRequest::default()
    };
    for (key, value) in super::logs::form_pairs(query) {
        let flag = || matches!(value.as_str(), "true" | "1" | "");
        match key.as_str() {
            "command" => request.command.push(value.clone()),
            "stdin" | "input" => request.stdin = flag(),
            "stdout" | "output" => request.stdout = flag(),
            "stderr" | "error" => request.stderr = flag(),
            "tty" => request.tty = flag(),
            _ => {}
        }
    }
    if request.command.is_empty() {
        return Err("you must specify at least one command for the container".into());
    }
    if !(request.stdin || request.stdout || request.stderr) {
        return Err("you must specify at least one of stdin, stdout, stderr".into());
    }
    if request.tty {
        request.stderr = false;
    }
    Ok(request)
}

/// Copies `reader` to `channel` of the socket (through `out`) until it ends.
async fn pump(mut reader: impl AsyncRead + Unpin, channel: u8, out: mpsc::Sender<Message>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let frame = channel::encode(channel, &buf[..n]);
                if out.send(Message::Binary(frame.into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Serves a started exec (or the error starting it) on `socket` to the end.
pub async fn serve(
    socket: ServerSocket,
    command: Vec<String>,
    session: Result<ExecSession, RuntimeError>,
) {
    let (mut sink, mut stream) = socket.split();
    let (out, mut outgoing) = mpsc::channel::<Message>(16);
    let writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            let closing = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() {
                return;
            }
            if closing {
                let _ = sink.flush().await;
                return;
            }
        }
    });
    let status = match session {
        Err(e) => channel::failure_status(&e.to_string()),
        Ok(session) => run(session, &command, &out, &mut stream).await,
    };
    let status = serde_json::to_vec(&status).unwrap_or_default();
    let _ = out
        .send(Message::Binary(
            channel::encode(channel::ERROR, &status).into(),
        ))
        .await;
    let _ = out
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        })))
        .await;
    drop(out);
    let _ = writer.await;
}

type Incoming = futures::stream::SplitStream<ServerSocket>;

async fn run(
    session: ExecSession,
    command: &[String],
    out: &mpsc::Sender<Message>,
    stream: &mut Incoming,
) -> serde_json::Value {
    let ExecSession {
        mut stdin,
        stdout,
        stderr,
        exit,
        resize,
    } = session;
    let pumps = async {
        let o = async {
            if let Some(r) = stdout {
                pump(r, channel::STDOUT, out.clone()).await;
            }
        };
        let e = async {
            if let Some(r) = stderr {
                pump(r, channel::STDERR, out.clone()).await;
            }
        };
        tokio::join!(o, e);
        exit.await
    };
    tokio::pin!(pumps);
    loop {
        tokio::select! {
            code = &mut pumps => {
                return match code {
                    Ok(code) => channel::exit_status(command, code),
                    Err(e) => channel::failure_status(&e.to_string()),
                };
            }
            message = stream.next() => {
                let data = match message {
                    Some(Ok(Message::Binary(data))) => data.to_vec(),
                    Some(Ok(Message::Text(text))) => text.as_bytes().to_vec(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        // The client is gone: nothing more to deliver; end the command.
                        return channel::failure_status("the client closed the connection");
                    }
                    Some(Ok(_)) => continue,
                };
                match channel::decode(&data) {
                    Ok(Frame::Data(channel::STDIN, bytes)) => {
                        if let Some(w) = stdin.as_mut() {
                            if w.write_all(bytes).await.is_err() || w.flush().await.is_err() {
                                stdin = None;
                            }
                        }
                    }
                    Ok(Frame::Close(channel::STDIN)) => {
                        if let Some(mut w) = stdin.take() {
                            let _ = w.shutdown().await;
                        }
                    }
                    Ok(Frame::Data(channel::RESIZE, bytes)) => {
                        if let (Some(resize), Ok(size)) =
                            (resize.as_ref(), serde_json::from_slice::<TerminalSize>(bytes))
                        {
                            resize(size);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_exec_queries() {
        let r = exec_request(
            "c1",
            Some("command=sh&command=-c&command=echo+hi&stdout=true&stderr=true"),
        )
        .unwrap();
        assert_eq!(r.command, ["sh", "-c", "echo hi"]);
        assert!(r.stdout && r.stderr && !r.stdin && !r.tty);
        let tty = exec_request(
            "c1",
            Some("command=sh&stdin=true&stdout=true&stderr=true&tty=true"),
        )
        .unwrap();
        assert!(tty.tty && !tty.stderr);
        assert!(exec_request("c1", Some("stdout=true")).is_err());
        assert!(exec_request("c1", Some("command=ls")).is_err());
    }
}
