//! The Kubernetes channel protocol over WebSocket (`v4.channel.k8s.io`,
//! `v5.channel.k8s.io`): every binary message starts with a channel byte.
//!
//! | byte | channel |
//! |------|---------|
//! | 0 | stdin (client → server) |
//! | 1 | stdout |
//! | 2 | stderr |
//! | 3 | error: the exec's final `Status` as JSON |
//! | 4 | resize: `{"Width":80,"Height":24}` (client → server) |
//! | 255 | close (v5 only): the next byte names a channel the sender is done with |
//!
//! ```
//! use skiff_node::server::channel::{decode, encode, Frame, STDOUT};
//! let bytes = encode(STDOUT, b"hi");
//! assert_eq!(bytes, [1, b'h', b'i']);
//! assert_eq!(decode(&[255, 0]), Ok(Frame::Close(0)));
//! ```

use serde_json::{json, Value};

/// The subprotocol with a close message (kubectl ≥ 1.30 asks for it first).
pub const V5: &str = "v5.channel.k8s.io";
/// The subprotocol with a JSON `Status` on the error channel.
pub const V4: &str = "v4.channel.k8s.io";
/// The subprotocols served, most preferred first.
pub const PROTOCOLS: [&str; 2] = [V5, V4];

/// stdin.
pub const STDIN: u8 = 0;
/// stdout.
pub const STDOUT: u8 = 1;
/// stderr.
pub const STDERR: u8 = 2;
/// The error (status) channel.
pub const ERROR: u8 = 3;
/// Terminal resizes.
pub const RESIZE: u8 = 4;
/// v5's close message.
pub const CLOSE: u8 = 255;

/// A decoded client message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Bytes on a data channel.
    Data(u8, &'a [u8]),
    /// The client will send nothing more on this channel (v5).
    Close(u8),
}

/// A message that is not a channel frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// An empty message has no channel byte.
    #[error("empty websocket message: no channel byte")]
    Empty,
    /// A close message without the channel it closes.
    #[error("close message without a channel")]
    CloseWithoutChannel,
}

/// Reads one client message.
pub fn decode(message: &[u8]) -> Result<Frame<'_>, ChannelError> {
    match message.split_first() {
        None => Err(ChannelError::Empty),
        Some((&CLOSE, rest)) => rest
            .first()
            .map(|c| Frame::Close(*c))
            .ok_or(ChannelError::CloseWithoutChannel),
        Some((channel, rest)) => Ok(Frame::Data(*channel, rest)),
    }
}

/// A message on `channel` carrying `data`.
pub fn encode(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(channel);
    out.extend_from_slice(data);
    out
}

/// The `Status` sent on the error channel when a command ended with `exit_code`, as
/// the kubelet sends it: Success for 0, else Failure with reason `NonZeroExitCode`
/// and a cause `ExitCode` whose message is the code (kubectl exits with it).
pub fn exit_status(command: &[String], exit_code: i32) -> Value {
    if exit_code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command {command:?}, exit code {exit_code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": exit_code.to_string()}]},
    })
}

/// The `Status` sent on the error channel when the command could not run.
pub fn failure_status(message: &str) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "InternalError",
        "code": 500,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        assert_eq!(decode(&encode(STDIN, b"abc")), Ok(Frame::Data(0, b"abc")));
        assert_eq!(decode(&[RESIZE]), Ok(Frame::Data(4, b"")));
        assert_eq!(decode(&[CLOSE, STDIN]), Ok(Frame::Close(0)));
        assert_eq!(decode(&[]), Err(ChannelError::Empty));
        assert_eq!(decode(&[CLOSE]), Err(ChannelError::CloseWithoutChannel));
    }

    #[test]
    fn exit_status_carries_the_code_as_kubectl_reads_it() {
        let cmd = vec!["sh".to_string(), "-c".into(), "exit 3".into()];
        let s = exit_status(&cmd, 3);
        assert_eq!(s["status"], "Failure");
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
        assert_eq!(exit_status(&cmd, 0)["status"], "Success");
    }
}
