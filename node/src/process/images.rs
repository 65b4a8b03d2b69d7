//! [`LocalImageStore`]: the process runtime's images, as metadata files under its root
//! directory (`images/<hex of the name>.json`): entrypoint, cmd, env, working dir.
//!
//! The store holds image metadata, and optionally a root file system per image
//! (`<hex of the name>.rootfs/`, see [`LocalImageStore::rootfs`]) that isolated
//! containers run in. Nothing is fetched from registries.

use std::path::PathBuf;

use crate::runtime::{Image, RuntimeError};

/// Image metadata under a directory.
#[derive(Debug, Clone)]
pub struct LocalImageStore {
    dir: PathBuf,
}

fn file_name(image: &str) -> String {
    let hex: String = image.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.json")
}

fn internal(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Internal(e.to_string())
}

impl LocalImageStore {
    /// A store in `dir` (created on first import).
    pub fn new(dir: PathBuf) -> Self {
        LocalImageStore { dir }
    }

    /// Adds or replaces `name`; its id is `local://<name>` unless `image.id` is set.
    pub async fn import(&self, name: &str, mut image: Image) -> Result<String, RuntimeError> {
        if image.id.is_empty() {
            image.id = format!("local://{name}");
        }
        if !image.repo_tags.iter().any(|t| t == name) {
            image.repo_tags.push(name.to_owned());
        }
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(internal)?;
        let body = serde_json::to_vec_pretty(&image).map_err(internal)?;
        tokio::fs::write(self.dir.join(file_name(name)), body)
            .await
            .map_err(internal)?;
        Ok(image.id)
    }

    /// The image's root file system, if the store holds one for it: the directory
    /// `<hex of the name>.rootfs` beside its metadata. The process runtime runs an
    /// isolated container in it (as an overlay); without one, a container sees the
    /// host's system directories.
    pub fn rootfs(&self, name: &str) -> Option<PathBuf> {
        let dir = self.rootfs_dir(name);
        dir.is_dir().then_some(dir)
    }

    /// Where the root file system of `name` is (or would be).
    pub fn rootfs_dir(&self, name: &str) -> PathBuf {
        let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.rootfs"))
    }

    /// Where an import of `name` is prepared before it replaces the image.
    pub(super) fn staging_dir(&self, name: &str) -> PathBuf {
        let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.import"))
    }

    /// The image known by `name`.
    pub async fn get(&self, name: &str) -> Result<Option<Image>, RuntimeError> {
        match tokio::fs::read(self.dir.join(file_name(name))).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| internal(format!("image {name}: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(internal(e)),
        }
    }

    /// Every image.
    pub async fn list(&self) -> Result<Vec<Image>, RuntimeError> {
        let mut out = Vec::new();
        let mut dir = match tokio::fs::read_dir(&self.dir).await {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(internal(e)),
        };
        while let Some(entry) = dir.next_entry().await.map_err(internal)? {
            if entry.path().extension().is_none_or(|e| e != "json") {
                continue;
            }
            if let Ok(bytes) = tokio::fs::read(entry.path()).await {
                if let Ok(image) = serde_json::from_slice::<Image>(&bytes) {
                    out.push(image);
                }
            }
        }
        Ok(out)
    }

    /// Removes `name` and its root file system; idempotent.
    pub async fn remove(&self, name: &str) -> Result<(), RuntimeError> {
        match tokio::fs::remove_file(self.dir.join(file_name(name))).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(internal(e)),
        }
        match tokio::fs::remove_dir_all(self.rootfs_dir(name)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(internal(e)),
        }
    }
}
