//! `hostPath` volumes: the `type` checks Kubernetes defines, creating the path for
//! the `*OrCreate` types.
//!
//! ```
//! use skiff_node::agent::volumes::host_path::check;
//! let dir = tempfile::tempdir().unwrap();
//! let new = dir.path().join("made");
//! check(new.to_str().unwrap(), "DirectoryOrCreate").unwrap();
//! assert!(new.is_dir());
//! assert!(check(new.to_str().unwrap(), "File").is_err());
//! ```

use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

/// Why a hostPath failed its check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostPathError {
    /// The path is not absolute.
    #[error("hostPath {0:?} is not absolute")]
    NotAbsolute(String),
    /// The path is not of the required type (or does not exist).
    #[error("hostPath type check failed: {path} is not a {wanted}")]
    WrongType {
        /// The path.
        path: String,
        /// What it should be.
        wanted: String,
    },
    /// The `type` is not one Kubernetes defines.
    #[error("unknown hostPath type {0:?}")]
    UnknownType(String),
    /// Creating the path failed.
    #[error("creating hostPath {path}: {message}")]
    Create {
        /// The path.
        path: String,
        /// Why.
        message: String,
    },
}

/// Checks (and for `DirectoryOrCreate`/`FileOrCreate` creates) `path` as `kind`
/// says; `""` checks nothing.
pub fn check(path: &str, kind: &str) -> Result<PathBuf, HostPathError> {
    if !path.starts_with('/') {
        return Err(HostPathError::NotAbsolute(path.to_owned()));
    }
    let p = PathBuf::from(path);
    let meta = std::fs::metadata(&p).ok();
    let wrong = |wanted: &str| HostPathError::WrongType {
        path: path.to_owned(),
        wanted: wanted.to_owned(),
    };
    let create = |e: std::io::Error| HostPathError::Create {
        path: path.to_owned(),
        message: e.to_string(),
    };
    match kind {
        "" => {}
        "DirectoryOrCreate" => match &meta {
            Some(m) if m.is_dir() => {}
            Some(_) => return Err(wrong("directory")),
            None => {
                std::fs::create_dir_all(&p).map_err(create)?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
                    .map_err(create)?;
            }
        },
        "Directory" => {
            if !meta.is_some_and(|m| m.is_dir()) {
                return Err(wrong("directory"));
            }
        }
        "FileOrCreate" => match &meta {
            Some(m) if m.is_file() => {}
            Some(_) => return Err(wrong("file")),
            None => {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)
                    .map_err(create)?;
            }
        },
        "File" => {
            if !meta.is_some_and(|m| m.is_file()) {
                return Err(wrong("file"));
            }
        }
        "Socket" => {
            if !meta.is_some_and(|m| m.file_type().is_socket()) {
                return Err(wrong("socket"));
            }
        }
        "CharDevice" => {
            if !meta.is_some_and(|m| m.file_type().is_char_device()) {
                return Err(wrong("character device"));
            }
        }
        "BlockDevice" => {
            if !meta.is_some_and(|m| m.file_type().is_block_device()) {
                return Err(wrong("block device"));
            }
        }
        other => return Err(HostPathError::UnknownType(other.to_owned())),
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_checks() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_owned();
        assert!(check(&d, "Directory").is_ok());
        assert!(check(&d, "").is_ok());
        assert!(matches!(
            check("rel", ""),
            Err(HostPathError::NotAbsolute(_))
        ));
        let f = format!("{d}/f");
        assert!(check(&f, "File").is_err());
        check(&f, "FileOrCreate").unwrap();
        assert!(check(&f, "File").is_ok());
        assert!(check(&f, "DirectoryOrCreate").is_err());
        assert!(check("/dev/null", "CharDevice").is_ok());
        assert!(check(&d, "Socket").is_err());
        assert!(check(&d, "Bogus").is_err());
    }
}
