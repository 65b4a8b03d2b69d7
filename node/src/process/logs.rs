//! [`RotatingLog`]: a container's log file in the CRI log format
//! (`<RFC 3339 time> <stdout|stderr> <F|P> <line>`), rotated by size.
//!
//! When a line would push the file past `max_bytes`, the file is renamed to `.1`
//! (older ones shift to `.2`, ... and the oldest beyond `max_files` is dropped) and a
//! new one begins, as the kubelet's container log manager does.
//!
//! ```
//! # fn run() -> std::io::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("0.log");
//! let mut log = skiff_node::process::RotatingLog::open(&path, 1024, 3)?;
//! log.write_line("stdout", b"hello\n")?;
//! assert!(std::fs::read_to_string(&path)?.ends_with(" stdout F hello\n"));
//! # Ok(()) }
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Lines longer than this are split into partial (`P`) records.
const MAX_RECORD: usize = 16 * 1024;

/// A size-rotated CRI-format log file.
#[derive(Debug)]
pub struct RotatingLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    max_files: usize,
}

impl RotatingLog {
    /// Opens (appending) `path`, creating its directory; rotates beyond `max_bytes`,
    /// keeping at most `max_files` files in all (at least 1).
    pub fn open(path: &Path, max_bytes: u64, max_files: usize) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingLog {
            path: path.to_owned(),
            file,
            size,
            max_bytes: max_bytes.max(1),
            max_files: max_files.max(1),
        })
    }

    /// The current file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn rotated(&self, n: usize) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        if self.max_files == 1 {
            self.file.set_len(0)?;
        } else {
            let _ = std::fs::remove_file(self.rotated(self.max_files - 1));
            for n in (1..self.max_files - 1).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    std::fs::rename(&from, self.rotated(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.rotated(1))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }

    /// Appends one line (with or without its trailing newline) from `stream`.
    pub fn write_line(&mut self, stream: &str, line: &[u8]) -> std::io::Result<()> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let time = crate::agent::pod_status::timestamp(std::time::SystemTime::now());
        let mut chunks = line.chunks(MAX_RECORD).peekable();
        if chunks.peek().is_none() {
            return self.write_record(&format!("{time} {stream} F "), b"");
        }
        while let Some(chunk) = chunks.next() {
            let tag = if chunks.peek().is_some() { "P" } else { "F" };
            self.write_record(&format!("{time} {stream} {tag} "), chunk)?;
        }
        Ok(())
    }

    fn write_record(&mut self, prefix: &str, body: &[u8]) -> std::io::Result<()> {
        let len = (prefix.len() + body.len() + 1) as u64;
        if self.size > 0 && self.size + len > self.max_bytes {
            self.rotate()?;
        }
        let mut record = Vec::with_capacity(len as usize);
        record.extend_from_slice(prefix.as_bytes());
        record.extend_from_slice(body);
        record.push(b'\n');
        self.file.write_all(&record)?;
        self.size += len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c/0.log");
        let mut log = RotatingLog::open(&path, 200, 3).unwrap();
        for i in 0..20 {
            log.write_line("stdout", format!("line {i:02}\n").as_bytes())
                .unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(current.contains("stdout F line 19"), "{current}");
        assert!(std::fs::metadata(&path).unwrap().len() <= 200);
        assert!(log.rotated(1).exists());
        assert!(log.rotated(2).exists());
        assert!(!log.rotated(3).exists());
        let older = std::fs::read_to_string(log.rotated(2)).unwrap();
        assert!(!older.contains("line 19"));
    }

    #[test]
    fn long_lines_become_partial_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut log = RotatingLog::open(&path, 1 << 20, 2).unwrap();
        log.write_line("stderr", &vec![b'x'; MAX_RECORD + 5])
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let tags: Vec<&str> = text.lines().map(|l| l.split(' ').nth(2).unwrap()).collect();
        assert_eq!(tags, ["P", "F"]);
    }
}
