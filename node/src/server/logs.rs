//! `GET /containerLogs/{namespace}/{pod}/{container}`: a container's log, read from
//! its CRI-format log files (`<RFC 3339 time> <stdout|stderr> <F|P> <text>`), with
//! the options of `pods/log`: `follow`, `tailLines`, `timestamps`, `previous`,
//! `sinceSeconds`, `sinceTime` and `limitBytes`.
//!
//! Partial (`P`) records are joined into their line. With `follow`, the current file
//! is polled for growth until the container has exited and everything is sent, or the
//! client goes away; a file that shrinks (rotated) is read again from its start.
//!
//! ```
//! use skiff_node::server::logs::{LogOptions, LineAssembler};
//! let opts = LogOptions::parse(Some("tailLines=1&timestamps=true")).unwrap();
//! assert_eq!(opts.tail_lines, Some(1));
//! let mut lines = LineAssembler::default();
//! let out = lines.push(b"2024-01-01T00:00:00.000000000Z stdout P hel\n2024-01-01T00:00:01Z stdout F lo\n");
//! assert_eq!(out[0].text, b"hello\n");
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

use crate::runtime::{ContainerState, Runtime};

/// How often a followed log is checked for growth.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// Invalid log options.
#[derive(Debug, thiserror::Error)]
pub enum LogOptionsError {
    /// A parameter has a value of the wrong form.
    #[error("invalid value for {key}: {value:?}")]
    Invalid {
        /// The parameter.
        key: &'static str,
        /// Its value.
        value: String,
    },
}

/// The options of a log request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogOptions {
    /// Keep the stream open and send new lines as they are written.
    pub follow: bool,
    /// Only the last N lines.
    pub tail_lines: Option<usize>,
    /// Prefix each line with its RFC 3339 time.
    pub timestamps: bool,
    /// The previous attempt of the container.
    pub previous: bool,
    /// Only lines at or after this time (`sinceSeconds` or `sinceTime`).
    pub since: Option<DateTime<Utc>>,
    /// Stop after this many bytes.
    pub limit_bytes: Option<u64>,
}

impl LogOptions {
    /// Reads the options from a query string.
    pub fn parse(query: Option<&str>) -> Result<LogOptions, LogOptionsError> {
        let mut o = LogOptions::default();
        for (key, value) in form_pairs(query) {
            let bad = |key: &'static str| LogOptionsError::Invalid {
                key,
                value: value.clone(),
            };
            let flag = |key: &'static str| match value.as_str() {
                "true" | "1" | "" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(bad(key)),
            };
            match key.as_str() {
                "follow" => o.follow = flag("follow")?,
                "timestamps" => o.timestamps = flag("timestamps")?,
                "previous" => o.previous = flag("previous")?,
                "tailLines" => {
                    let n: i64 = value.parse().map_err(|_| bad("tailLines"))?;
                    o.tail_lines = Some(usize::try_from(n.max(0)).unwrap_or(0));
                }
                "limitBytes" => {
                    let n: i64 = value.parse().map_err(|_| bad("limitBytes"))?;
                    if n <= 0 {
                        return Err(bad("limitBytes"));
                    }
                    o.limit_bytes = Some(n as u64);
                }
                "sinceSeconds" => {
                    let n: i64 = value.parse().map_err(|_| bad("sinceSeconds"))?;
                    if n <= 0 {
                        return Err(bad("sinceSeconds"));
                    }
                    o.since = Some(Utc::now() - chrono::Duration::seconds(n));
                }
                "sinceTime" => {
                    let t = DateTime::parse_from_rfc3339(&value).map_err(|_| bad("sinceTime"))?;
                    o.since = Some(t.with_timezone(&Utc));
                }
                _ => {}
            }
        }
        Ok(o)
    }
}

/// The decoded pairs of a query string.
pub(crate) fn form_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// One log line: the time of its last record and its text with the newline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// The record's RFC 3339 time, as written.
    pub time: String,
    /// The line, ending in `\n`.
    pub text: Vec<u8>,
}

impl LogLine {
    fn time(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.time)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    fn render(&self, timestamps: bool) -> Vec<u8> {
        if !timestamps {
            return self.text.clone();
        }
        let mut out = Vec::with_capacity(self.time.len() + 1 + self.text.len());
        out.extend_from_slice(self.time.as_bytes());
        out.push(b' ');
        out.extend_from_slice(&self.text);
        out
    }
}

/// Turns raw bytes of a CRI log into lines, across reads that split records.
#[derive(Debug, Default)]
pub struct LineAssembler {
    /// Bytes of a record whose newline has not been read yet.
    pending: Vec<u8>,
    /// Text of partial records waiting for their final one.
    partial: Vec<u8>,
}

impl LineAssembler {
    /// Feeds bytes; returns the lines completed by them. Malformed records are
    /// skipped.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<LogLine> {
        self.pending.extend_from_slice(bytes);
        let mut lines = Vec::new();
        let mut start = 0;
        while let Some(n) = self.pending[start..].iter().position(|b| *b == b'\n') {
            let record = self.pending[start..start + n].to_vec();
            start += n + 1;
            let mut parts = record.splitn(4, |b| *b == b' ');
            let (Some(time), Some(_stream), Some(tag)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let text = parts.next().unwrap_or(b"");
            self.partial.extend_from_slice(text);
            if tag == b"P" {
                continue;
            }
            let mut text = std::mem::take(&mut self.partial);
            text.push(b'\n');
            lines.push(LogLine {
                time: String::from_utf8_lossy(time).into_owned(),
                text,
            });
        }
        self.pending.drain(..start);
        lines
    }
}

/// The log files of a container, oldest first: rotated `.N` … `.1`, then the current.
fn files(current: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u32, PathBuf)> = Vec::new();
    for n in 1..=64u32 {
        let mut name = current.as_os_str().to_owned();
        name.push(format!(".{n}"));
        let path = PathBuf::from(name);
        if !path.exists() {
            break;
        }
        rotated.push((n, path));
    }
    rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut all: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    all.push(current.to_owned());
    all
}

/// Sends `lines` within the byte limit; false once the limit is reached or the
/// receiver is gone.
async fn send(
    tx: &mpsc::Sender<Bytes>,
    lines: Vec<LogLine>,
    opts: &LogOptions,
    sent: &mut u64,
) -> bool {
    for line in lines {
        if opts
            .since
            .is_some_and(|since| line.time().is_some_and(|t| t < since))
        {
            continue;
        }
        let mut bytes = line.render(opts.timestamps);
        if let Some(limit) = opts.limit_bytes {
            let left = limit.saturating_sub(*sent);
            if left == 0 {
                return false;
            }
            bytes.truncate(usize::try_from(left).unwrap_or(usize::MAX));
        }
        *sent += bytes.len() as u64;
        if tx.send(Bytes::from(bytes)).await.is_err() {
            return false;
        }
        if opts.limit_bytes.is_some_and(|l| *sent >= l) {
            return false;
        }
    }
    true
}

/// Streams the log at `path` (of container `container_id`) into `tx` as `opts` ask.
pub async fn stream(
    runtime: &dyn Runtime,
    container_id: &str,
    path: &Path,
    opts: &LogOptions,
    tx: mpsc::Sender<Bytes>,
) {
    let mut assembler = LineAssembler::default();
    let mut lines = Vec::new();
    for file in files(path) {
        let is_current = file == path;
        if let Ok(bytes) = tokio::fs::read(&file).await {
            if is_current {
                // Read the current file below, remembering the offset for follow.
                let _ = bytes;
                continue;
            }
            lines.extend(assembler.push(&bytes));
        }
    }
    let mut offset = 0u64;
    if let Ok(bytes) = tokio::fs::read(path).await {
        offset = bytes.len() as u64;
        lines.extend(assembler.push(&bytes));
    }
    if let Some(since) = opts.since {
        lines.retain(|l| l.time().is_none_or(|t| t >= since));
    }
    if let Some(n) = opts.tail_lines {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut sent = 0u64;
    if !send(&tx, lines, opts, &mut sent).await || !opts.follow {
        return;
    }
    loop {
        let running = matches!(
            runtime
                .container_status(container_id)
                .await
                .map(|s| s.state),
            Ok(ContainerState::Running | ContainerState::Created)
        );
        let (grown, read) = read_from(path, &mut offset).await;
        if !grown.is_empty() && !send(&tx, assembler.push(&grown), opts, &mut sent).await {
            return;
        }
        if !running && read {
            return;
        }
        if grown.is_empty() {
            tokio::select! {
                () = tokio::time::sleep(FOLLOW_POLL) => {}
                () = tx.closed() => return,
            }
        }
    }
}

/// Reads what was appended to `path` after `offset` (from 0 when the file shrank);
/// the bool says whether the file could be read.
async fn read_from(path: &Path, offset: &mut u64) -> (Vec<u8>, bool) {
    let Ok(mut file) = tokio::fs::File::open(path).await else {
        return (Vec::new(), false);
    };
    let len = match file.metadata().await {
        Ok(m) => m.len(),
        Err(_) => return (Vec::new(), false),
    };
    if len < *offset {
        *offset = 0;
    }
    if len == *offset {
        return (Vec::new(), true);
    }
    if file.seek(std::io::SeekFrom::Start(*offset)).await.is_err() {
        return (Vec::new(), false);
    }
    let mut buf = Vec::new();
    match file.take(len - *offset).read_to_end(&mut buf).await {
        Ok(n) => {
            *offset += n as u64;
            (buf, true)
        }
        Err(_) => (Vec::new(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options() {
        let o = LogOptions::parse(Some(
            "follow=true&tailLines=10&timestamps=true&limitBytes=5&previous=false",
        ))
        .unwrap();
        assert!(o.follow && o.timestamps && !o.previous);
        assert_eq!((o.tail_lines, o.limit_bytes), (Some(10), Some(5)));
        assert!(LogOptions::parse(Some("tailLines=x")).is_err());
        assert!(LogOptions::parse(Some("limitBytes=0")).is_err());
        assert!(LogOptions::parse(Some("sinceSeconds=60"))
            .unwrap()
            .since
            .is_some());
        assert!(
            LogOptions::parse(Some("sinceTime=2024-01-01T00%3A00%3A00Z"))
                .unwrap()
                .since
                .is_some()
        );
    }

    #[test]
    fn assembles_split_and_partial_records() {
        let mut a = LineAssembler::default();
        assert!(a.push(b"2024-01-01T00:00:00Z stdout F he").is_empty());
        let lines = a.push(
            b"llo\n2024-01-01T00:00:01Z stderr P a\n2024-01-01T00:00:02Z stderr F b\ngarbage\n",
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text, b"hello\n");
        assert_eq!(lines[1].text, b"ab\n");
        assert_eq!(lines[1].time, "2024-01-01T00:00:02Z");
        assert_eq!(lines[1].render(true), b"2024-01-01T00:00:02Z ab\n");
    }
}
