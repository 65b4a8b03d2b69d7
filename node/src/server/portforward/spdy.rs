//! Just enough SPDY/3.1 for a port-forward server: frames read from a byte stream,
//! the frames the server writes, and header blocks (zlib with the SPDY/3 preset
//! dictionary on the way in; stored, uncompressed deflate blocks ending in a sync-flush
//! marker on the way out, which every zlib reader accepts).
//!
//! ```
//! use skiff_node::server::portforward::spdy::{parse_frame, data_frame, Frame};
//! let bytes = data_frame(1, true, b"hi");
//! let (frame, used) = parse_frame(&bytes).unwrap().unwrap();
//! assert_eq!(used, bytes.len());
//! assert_eq!(frame, Frame::Data { stream_id: 1, fin: true, data: b"hi".to_vec() });
//! ```

use flate2::{Decompress, FlushDecompress, Status};

/// The SPDY/3 header compression dictionary (from the SPDY/3 specification).
pub const DICTIONARY: &[u8] = include_bytes!("spdy3_dictionary.bin");

/// SYN_STREAM.
pub const SYN_STREAM: u16 = 1;
/// SYN_REPLY.
pub const SYN_REPLY: u16 = 2;
/// RST_STREAM.
pub const RST_STREAM: u16 = 3;
/// PING.
pub const PING: u16 = 6;
/// GOAWAY.
pub const GOAWAY: u16 = 7;
/// The FIN flag (data and SYN frames).
pub const FLAG_FIN: u8 = 1;
/// Largest payload of one frame (24-bit length).
pub const MAX_PAYLOAD: usize = (1 << 24) - 1;

/// A malformed SPDY stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpdyError {
    /// Not SPDY version 3.
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    /// A frame is shorter than its fields.
    #[error("truncated {0} frame")]
    Truncated(&'static str),
    /// A header block does not inflate.
    #[error("header block: {0}")]
    Compression(String),
}

/// A frame, as far as the server cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A new stream from the client, with its (compressed) header block.
    SynStream {
        /// Stream id.
        stream_id: u32,
        /// FIN: the client sends nothing on it.
        fin: bool,
        /// The compressed header block.
        headers: Vec<u8>,
    },
    /// Data on a stream.
    Data {
        /// Stream id.
        stream_id: u32,
        /// FIN: the last data from this side.
        fin: bool,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The stream is abandoned.
    RstStream {
        /// Stream id.
        stream_id: u32,
    },
    /// A ping to echo.
    Ping(u32),
    /// The session ends.
    GoAway,
    /// Anything else (SETTINGS, WINDOW_UPDATE, HEADERS...): ignored.
    Other(u16),
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Reads one frame from the start of `buf`: `Ok(None)` if it is not complete yet,
/// else the frame and the bytes it used.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, SpdyError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let len = (usize::from(buf[5]) << 16) | (usize::from(buf[6]) << 8) | usize::from(buf[7]);
    let total = 8 + len;
    if buf.len() < total {
        return Ok(None);
    }
    let flags = buf[4];
    let payload = &buf[8..total];
    let head = u32_at(buf, 0).unwrap_or(0);
    if head & 0x8000_0000 == 0 {
        return Ok(Some((
            Frame::Data {
                stream_id: head & 0x7fff_ffff,
                fin: flags & FLAG_FIN != 0,
                data: payload.to_vec(),
            },
            total,
        )));
    }
    let version = ((head >> 16) & 0x7fff) as u16;
    if version != 3 {
        return Err(SpdyError::Version(version));
    }
    let kind = (head & 0xffff) as u16;
    let stream_id = || {
        u32_at(payload, 0)
            .map(|id| id & 0x7fff_ffff)
            .ok_or(SpdyError::Truncated("control"))
    };
    let frame = match kind {
        SYN_STREAM => Frame::SynStream {
            stream_id: stream_id()?,
            fin: flags & FLAG_FIN != 0,
            headers: payload
                .get(10..)
                .ok_or(SpdyError::Truncated("SYN_STREAM"))?
                .to_vec(),
        },
        RST_STREAM => Frame::RstStream {
            stream_id: stream_id()?,
        },
        PING => Frame::Ping(u32_at(payload, 0).ok_or(SpdyError::Truncated("PING"))?),
        GOAWAY => Frame::GoAway,
        other => Frame::Other(other),
    };
    Ok(Some((frame, total)))
}

fn control_frame(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len().min(MAX_PAYLOAD) as u32;
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&[0x80, 0x03]);
    out.extend_from_slice(&kind.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&payload[..len as usize]);
    out
}

/// A DATA frame (`data` at most [`MAX_PAYLOAD`] bytes; the rest is cut).
pub fn data_frame(stream_id: u32, fin: bool, data: &[u8]) -> Vec<u8> {
    let data = &data[..data.len().min(MAX_PAYLOAD)];
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
    out.push(if fin { FLAG_FIN } else { 0 });
    out.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(data);
    out
}

/// A PING answer.
pub fn ping_frame(id: u32) -> Vec<u8> {
    control_frame(PING, 0, &id.to_be_bytes())
}

/// A GOAWAY (status OK) naming the last stream accepted.
pub fn goaway_frame(last_stream_id: u32) -> Vec<u8> {
    let mut payload = last_stream_id.to_be_bytes().to_vec();
    payload.extend_from_slice(&0u32.to_be_bytes());
    control_frame(GOAWAY, 0, &payload)
}

/// The session's outgoing header compression: one zlib stream of stored blocks.
#[derive(Debug, Default)]
pub struct HeaderEncoder {
    started: bool,
}

impl HeaderEncoder {
    /// The compressed form of a header block with `headers`.
    pub fn encode(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = (headers.len() as u32).to_be_bytes().to_vec();
        for (name, value) in headers {
            raw.extend_from_slice(&(name.len() as u32).to_be_bytes());
            raw.extend_from_slice(name.as_bytes());
            raw.extend_from_slice(&(value.len() as u32).to_be_bytes());
            raw.extend_from_slice(value.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 8);
        if !self.started {
            // zlib header: deflate, 32 KiB window, no preset dictionary.
            out.extend_from_slice(&[0x78, 0x01]);
            self.started = true;
        }
        for chunk in raw.chunks(0xffff) {
            let len = chunk.len() as u16;
            out.push(0x00); // not final, stored
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        // An empty stored block (a sync-flush marker), as zlib's Z_SYNC_FLUSH ends
        // every header block: a streaming inflater (Go's) returns the block's bytes on
        // reading it instead of reading on into the next frame.
        out.extend_from_slice(&[0x00, 0x00, 0x00, 0xff, 0xff]);
        out
    }

    /// A SYN_REPLY for `stream_id` with no headers.
    pub fn syn_reply(&mut self, stream_id: u32) -> Vec<u8> {
        let mut payload = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
        payload.extend(self.encode(&[]));
        control_frame(SYN_REPLY, 0, &payload)
    }
}

/// The session's incoming header decompression (one zlib stream for the session).
pub struct HeaderDecoder {
    inflate: Decompress,
}

impl Default for HeaderDecoder {
    fn default() -> Self {
        HeaderDecoder {
            inflate: Decompress::new(true),
        }
    }
}

impl std::fmt::Debug for HeaderDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderDecoder").finish_non_exhaustive()
    }
}

impl HeaderDecoder {
    fn inflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let mut out = Vec::with_capacity(1024);
        loop {
            if out.capacity() - out.len() < 512 {
                out.reserve(4096);
            }
            let (in_before, out_before) = (self.inflate.total_in(), self.inflate.total_out());
            let result = self
                .inflate
                .decompress_vec(input, &mut out, FlushDecompress::Sync);
            let used = (self.inflate.total_in() - in_before) as usize;
            let made = self.inflate.total_out() - out_before;
            input = &input[used.min(input.len())..];
            match result {
                Ok(Status::StreamEnd) => return Ok(out),
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(DICTIONARY)
                        .map_err(|e| SpdyError::Compression(e.to_string()))?;
                    continue;
                }
                Err(e) => return Err(SpdyError::Compression(e.to_string())),
            }
            let room_left = out.len() < out.capacity();
            if (input.is_empty() && room_left) || (used == 0 && made == 0 && room_left) {
                return Ok(out);
            }
        }
    }

    /// The name/value pairs of a compressed header block (a value listing several
    /// NUL-separated values gives its first).
    pub fn decode(&mut self, block: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
        let raw = self.inflate(block)?;
        let truncated = || SpdyError::Truncated("header block");
        let count = u32_at(&raw, 0).ok_or_else(truncated)? as usize;
        let mut at = 4;
        let mut pairs = Vec::with_capacity(count.min(64));
        let field = |at: &mut usize| -> Result<String, SpdyError> {
            let len = u32_at(&raw, *at).ok_or_else(truncated)? as usize;
            let bytes = raw.get(*at + 4..*at + 4 + len).ok_or_else(truncated)?;
            *at += 4 + len;
            Ok(String::from_utf8_lossy(bytes).into_owned())
        };
        for _ in 0..count {
            let name = field(&mut at)?;
            let value = field(&mut at)?;
            let first = value.split('\0').next().unwrap_or("").to_owned();
            pairs.push((name.to_ascii_lowercase(), first));
        }
        Ok(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compress, Compression, FlushCompress};

    /// A header block compressed as Go's SPDY framer does it (zlib with the SPDY/3
    /// dictionary, sync flush), continuing `compress`'s stream.
    fn go_style_block(compress: &mut Compress, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = (headers.len() as u32).to_be_bytes().to_vec();
        for (n, v) in headers {
            raw.extend_from_slice(&(n.len() as u32).to_be_bytes());
            raw.extend_from_slice(n.as_bytes());
            raw.extend_from_slice(&(v.len() as u32).to_be_bytes());
            raw.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        compress
            .compress_vec(&raw, &mut out, FlushCompress::Sync)
            .unwrap();
        out
    }

    #[test]
    fn dictionary_is_the_spdy3_one() {
        assert_eq!(DICTIONARY.len(), 1423);
        assert!(DICTIONARY.ends_with(b"enq=0."));
    }

    #[test]
    fn decodes_dictionary_compressed_blocks_across_frames() {
        let mut compress = Compress::new(Compression::best(), true);
        compress.set_dictionary(DICTIONARY).unwrap();
        let mut decoder = HeaderDecoder::default();
        let first = go_style_block(
            &mut compress,
            &[
                ("streamtype", "error"),
                ("port", "8080"),
                ("requestid", "0"),
            ],
        );
        let second = go_style_block(
            &mut compress,
            &[("streamtype", "data"), ("port", "8080"), ("requestid", "0")],
        );
        let a = decoder.decode(&first).unwrap();
        assert!(a.contains(&("streamtype".into(), "error".into())));
        let b = decoder.decode(&second).unwrap();
        assert!(b.contains(&("streamtype".into(), "data".into())));
        assert!(b.contains(&("port".into(), "8080".into())));
    }

    #[test]
    fn encoded_blocks_inflate_with_any_zlib_reader() {
        let mut encoder = HeaderEncoder::default();
        let mut stream = encoder.encode(&[("a", "b")]);
        stream.extend(encoder.encode(&[]));
        let mut inflate = Decompress::new(true);
        let mut out = Vec::with_capacity(64);
        inflate
            .decompress_vec(&stream, &mut out, FlushDecompress::Sync)
            .unwrap();
        assert_eq!(&out[..4], &1u32.to_be_bytes());
        assert_eq!(&out[out.len() - 4..], &0u32.to_be_bytes());
    }

    #[test]
    fn parses_control_frames_and_waits_for_whole_frames() {
        let ping = ping_frame(7);
        assert_eq!(parse_frame(&ping[..5]), Ok(None));
        assert_eq!(parse_frame(&ping).unwrap().unwrap().0, Frame::Ping(7));
        let mut enc = HeaderEncoder::default();
        let reply = enc.syn_reply(3);
        assert_eq!(
            parse_frame(&reply).unwrap().unwrap().0,
            Frame::Other(SYN_REPLY)
        );
        let mut bad = ping.clone();
        bad[1] = 2;
        assert_eq!(parse_frame(&bad), Err(SpdyError::Version(2)));
    }
}
