//! Writes a volume's files so that a reader never sees half an update, as the
//! kubelet's `AtomicWriter`: the files live in a timestamped directory, `..data` is a
//! symlink to the current one, and each top-level name is a symlink through `..data`.
//! An update writes a new directory and swaps `..data` with one `rename`.
//!
//! ```
//! use skiff_node::agent::volumes::atomic_writer::write;
//! use skiff_node::agent::volumes::projection::{FileContent, Payload};
//! let dir = tempfile::tempdir().unwrap();
//! let mut p = Payload::new();
//! p.insert("key".into(), FileContent { data: b"v1".to_vec(), mode: 0o644 });
//! assert!(write(dir.path(), &p).unwrap());       // written
//! assert!(!write(dir.path(), &p).unwrap());      // unchanged: nothing to do
//! assert_eq!(std::fs::read(dir.path().join("key")).unwrap(), b"v1");
//! ```

use std::collections::BTreeSet;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::projection::{FileContent, Payload};

const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";

/// The payload currently visible under `dir` (empty when nothing was written).
pub fn current(dir: &Path) -> io::Result<Payload> {
    let mut out = Payload::new();
    let data = dir.join(DATA);
    if std::fs::symlink_metadata(&data).is_err() {
        return Ok(out);
    }
    fn walk(root: &Path, rel: &Path, out: &mut Payload) -> io::Result<()> {
        for entry in std::fs::read_dir(root.join(rel))? {
            let entry = entry?;
            let rel = rel.join(entry.file_name());
            let meta = entry.metadata()?;
            if meta.is_dir() {
                walk(root, &rel, out)?;
            } else {
                out.insert(
                    rel.to_string_lossy().into_owned(),
                    FileContent {
                        data: std::fs::read(root.join(&rel))?,
                        mode: meta.permissions().mode() & 0o777,
                    },
                );
            }
        }
        Ok(())
    }
    walk(&data, Path::new(""), &mut out)?;
    Ok(out)
}

fn top_level(payload: &Payload) -> BTreeSet<String> {
    payload
        .keys()
        .filter_map(|p| p.split('/').next().map(str::to_owned))
        .collect()
}

/// Makes `dir` show exactly `payload`; `Ok(false)` when it already did.
pub fn write(dir: &Path, payload: &Payload) -> io::Result<bool> {
    std::fs::create_dir_all(dir)?;
    let old = current(dir)?;
    if std::fs::symlink_metadata(dir.join(DATA)).is_ok() && &old == payload {
        return Ok(false);
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let name = format!("..{stamp}");
    let new_dir = dir.join(&name);
    std::fs::create_dir(&new_dir)?;
    std::fs::set_permissions(&new_dir, std::fs::Permissions::from_mode(0o755))?;
    for (rel, file) in payload {
        let path = new_dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &file.data)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(file.mode))?;
    }
    let previous: Option<PathBuf> = std::fs::read_link(dir.join(DATA)).ok();
    let tmp = dir.join(DATA_TMP);
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&name, &tmp)?;
    std::fs::rename(&tmp, dir.join(DATA))?;
    let wanted = top_level(payload);
    for top in &wanted {
        let link = dir.join(top);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new(DATA).join(top), &link)?;
        }
    }
    for top in top_level(&old).difference(&wanted) {
        let link = dir.join(top);
        if std::fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()) {
            std::fs::remove_file(link)?;
        }
    }
    if let Some(prev) = previous {
        if prev.as_os_str() != name.as_str() && prev.to_string_lossy().starts_with("..") {
            let _ = std::fs::remove_dir_all(dir.join(prev));
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(s: &str) -> FileContent {
        FileContent {
            data: s.as_bytes().to_vec(),
            mode: 0o600,
        }
    }

    #[test]
    fn updates_swap_and_prune() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut p = Payload::new();
        p.insert("a".into(), file("1"));
        p.insert("sub/b".into(), file("2"));
        assert!(write(d, &p).unwrap());
        assert_eq!(std::fs::read_to_string(d.join("sub/b")).unwrap(), "2");
        let mode = std::fs::metadata(d.join("a")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let mut q = Payload::new();
        q.insert("a".into(), file("changed"));
        assert!(write(d, &q).unwrap());
        assert_eq!(std::fs::read_to_string(d.join("a")).unwrap(), "changed");
        assert!(std::fs::symlink_metadata(d.join("sub")).is_err());
        let dirs = std::fs::read_dir(d)
            .unwrap()
            .filter(|e| {
                let n = e.as_ref().unwrap().file_name();
                let n = n.to_string_lossy();
                n.starts_with("..") && n != DATA
            })
            .count();
        assert_eq!(dirs, 1, "the old timestamped directory is removed");
        assert!(!write(d, &q).unwrap());
    }
}
