//! [`LineBuffer`]: cuts a byte stream that arrives in arbitrary chunks into
//! newline-terminated lines, the framing of a watch response (one JSON event per line).
//!
//! ```
//! use skiff_core::client::LineBuffer;
//! let mut lines = LineBuffer::default();
//! lines.push(b"{\"a\":1}\n{\"b\"").unwrap();
//! assert_eq!(lines.next_line().as_deref(), Some(&b"{\"a\":1}"[..]));
//! assert_eq!(lines.next_line(), None);
//! lines.push(b":2}\n").unwrap();
//! assert_eq!(lines.next_line().as_deref(), Some(&b"{\"b\":2}"[..]));
//! ```

use bytes::{Bytes, BytesMut};

/// The longest line accepted (a watch event carries one object; the API server refuses
/// objects over 3 MiB, so this bounds the memory a misbehaving server can take).
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// A line longer than [`MAX_LINE_BYTES`] without a newline.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a line of more than {MAX_LINE_BYTES} bytes")]
pub struct LineTooLong;

/// Bytes received but not yet returned as lines.
#[derive(Debug, Default)]
pub struct LineBuffer {
    buf: BytesMut,
    /// How much of `buf` is known to hold no newline (not searched again).
    scanned: usize,
}

impl LineBuffer {
    /// Appends a chunk.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), LineTooLong> {
        self.buf.extend_from_slice(chunk);
        if self.buf.len() > MAX_LINE_BYTES && !self.buf.contains(&b'\n') {
            return Err(LineTooLong);
        }
        Ok(())
    }

    /// The next complete line without its `\n` (or `\r\n`); blank lines are skipped.
    pub fn next_line(&mut self) -> Option<Bytes> {
        loop {
            let at = self.buf[self.scanned..].iter().position(|b| *b == b'\n');
            let Some(offset) = at else {
                self.scanned = self.buf.len();
                return None;
            };
            let mut line = self.buf.split_to(self.scanned + offset + 1).freeze();
            self.scanned = 0;
            line.truncate(line.len() - 1);
            if line.last() == Some(&b'\r') {
                line.truncate(line.len() - 1);
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(line);
        }
    }

    /// What remains after the stream ended: a last line without a newline, if any.
    pub fn finish(&mut self) -> Option<Bytes> {
        let rest = std::mem::take(&mut self.buf).freeze();
        self.scanned = 0;
        if rest.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(rest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_across_chunks_and_skips_blank_lines() {
        let mut lines = LineBuffer::default();
        let input = b"{\"type\":\"ADDED\"}\r\n\n{\"type\":\"MODIFIED\"}\n{\"type\":\"DEL";
        // Feed one byte at a time: every split point is exercised.
        let mut out = Vec::new();
        for b in input {
            lines.push(&[*b]).unwrap();
            while let Some(l) = lines.next_line() {
                out.push(l);
            }
        }
        assert_eq!(
            out,
            vec![
                Bytes::from_static(b"{\"type\":\"ADDED\"}"),
                Bytes::from_static(b"{\"type\":\"MODIFIED\"}")
            ]
        );
        assert_eq!(lines.finish(), Some(Bytes::from_static(b"{\"type\":\"DEL")));
        assert_eq!(lines.finish(), None);
    }

    #[test]
    fn several_lines_in_one_chunk() {
        let mut lines = LineBuffer::default();
        lines.push(b"a\nb\nc\n  \n").unwrap();
        assert_eq!(lines.next_line().unwrap(), "a");
        assert_eq!(lines.next_line().unwrap(), "b");
        assert_eq!(lines.next_line().unwrap(), "c");
        assert_eq!(lines.next_line(), None);
        assert_eq!(lines.finish(), None);
    }
}
