//! Applying image layers (tar archives, gzip-compressed or not) to a root file
//! system, in order, with the OCI whiteouts: a `.wh.NAME` entry deletes `NAME` from
//! the layers below, a `.wh..wh..opq` entry empties its directory of everything
//! the layers below put there.
//!
//! Entries are unpacked with the `tar` crate's `unpack_in`, which refuses paths that
//! would land outside the root (`..`, or through a symlink).

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use super::ImportError;

/// The prefix of a whiteout file.
const WHITEOUT: &str = ".wh.";
/// The name of an opaque-directory marker.
const OPAQUE: &str = ".wh..wh..opq";

/// A reader of `path`, decompressed when it starts with the gzip magic.
pub(super) fn open_maybe_gzip(path: &Path) -> Result<Box<dyn Read>, ImportError> {
    let io = |e| ImportError::Io(path.display().to_string(), e);
    let mut file = File::open(path).map_err(io)?;
    let mut magic = [0u8; 4];
    let n = file.read(&mut magic).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    match &magic[..n] {
        [0x1f, 0x8b, ..] => Ok(Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(
            file,
        )))),
        [0x28, 0xb5, 0x2f, 0xfd] => Err(ImportError::Unsupported(format!(
            "{}: zstd-compressed layers are not supported",
            path.display()
        ))),
        _ => Ok(Box::new(BufReader::new(file))),
    }
}

/// The relative, normal path of an entry (`./a/b` → `a/b`); `None` for the root
/// itself; an error for `..` or anything odd.
pub(super) fn clean_relative(path: &Path) -> Result<Option<PathBuf>, ImportError> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(ImportError::Invalid(format!(
                    "layer entry {} leaves the root file system",
                    path.display()
                )))
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

fn remove_any(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether `path` (relative to the root) runs through a symlink below the root, in
/// which case a whiteout must not follow it.
fn through_symlink(root: &Path, path: &Path) -> bool {
    let mut at = root.to_path_buf();
    let Some(parent) = path.parent() else {
        return false;
    };
    for c in parent.components() {
        at.push(c);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return true;
        }
    }
    false
}

/// Applies one layer (`reader`, an uncompressed tar stream) on top of `root`.
pub(super) fn apply_layer(root: &Path, reader: impl Read, layer: &str) -> Result<(), ImportError> {
    let bad = |e: std::io::Error| {
        // tar's errors say which entry; the cause is underneath.
        let cause = std::error::Error::source(&e)
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        ImportError::Layer(layer.to_owned(), format!("{e}{cause}"))
    };
    let mut archive = tar::Archive::new(reader);
    archive.set_overwrite(true);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    // SAFETY: geteuid has no preconditions.
    archive.set_preserve_ownerships(unsafe { libc::geteuid() } == 0);
    // What this layer created: an opaque marker hides only the layers below.
    let mut created: HashSet<PathBuf> = HashSet::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let raw = entry.path().map_err(bad)?.into_owned();
        let Some(path) = clean_relative(&raw)? else {
            continue;
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if name == OPAQUE {
            if through_symlink(root, &path) {
                continue;
            }
            let dir = root.join(&parent);
            if let Ok(children) = std::fs::read_dir(&dir) {
                for child in children.flatten() {
                    let rel = parent.join(child.file_name());
                    if !created.contains(&rel) {
                        remove_any(&child.path()).map_err(bad)?;
                    }
                }
            }
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT) {
            let target = parent.join(hidden);
            if !hidden.is_empty() && !through_symlink(root, &target) {
                remove_any(&root.join(&target)).map_err(bad)?;
            }
            continue;
        }
        // A directory replaces a non-directory and the other way round.
        let dest = root.join(&path);
        let is_dir = entry.header().entry_type().is_dir();
        if let Ok(existing) = std::fs::symlink_metadata(&dest) {
            if existing.is_dir() != is_dir || existing.file_type().is_symlink() {
                remove_any(&dest).map_err(bad)?;
            }
        }
        if !entry.unpack_in(root).map_err(bad)? {
            return Err(ImportError::Invalid(format!(
                "layer {layer}: entry {} leaves the root file system",
                raw.display()
            )));
        }
        created.insert(path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, content) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1_700_000_000);
            match content {
                Some(text) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(text.len() as u64);
                    h.set_mode(0o644);
                    b.append_data(&mut h, path, text.as_bytes()).unwrap();
                }
                None => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_mode(0o755);
                    b.append_data(&mut h, path, &[][..]).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn whiteouts_and_opaque_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let lower = layer(&[
            ("etc/", None),
            ("etc/keep", Some("k")),
            ("etc/gone", Some("g")),
            ("var/", None),
            ("var/old", Some("o")),
        ]);
        apply_layer(root, &lower[..], "lower").unwrap();
        let upper = layer(&[
            ("etc/.wh.gone", Some("")),
            ("var/", None),
            ("var/new", Some("n")),
            ("var/.wh..wh..opq", Some("")),
            ("etc/keep", Some("changed")),
        ]);
        apply_layer(root, &upper[..], "upper").unwrap();
        assert!(!root.join("etc/gone").exists());
        assert!(!root.join("etc/.wh.gone").exists());
        assert_eq!(
            std::fs::read_to_string(root.join("etc/keep")).unwrap(),
            "changed"
        );
        // The opaque marker hid var/old from below but not var/new of its own layer.
        assert!(!root.join("var/old").exists());
        assert_eq!(std::fs::read_to_string(root.join("var/new")).unwrap(), "n");
    }

    #[test]
    fn refuses_escaping_entries() {
        assert!(clean_relative(Path::new("../etc/passwd")).is_err());
        assert_eq!(clean_relative(Path::new("./")).unwrap(), None);
        assert_eq!(
            clean_relative(Path::new("/a/./b")).unwrap(),
            Some(PathBuf::from("a/b"))
        );
    }
}
