//! Importing images into the process runtime's [`LocalImageStore`] (`skiff image
//! import NAME PATH`): [`import`].
//!
//! `PATH` may be
//! - a root file system directory (copied as it is; the image has no entrypoint,
//!   cmd, env or working dir, so its pods must give a command);
//! - a `docker save` archive (`manifest.json`, the config JSON, layer tars);
//! - an OCI image layout (`index.json`, `blobs/sha256/...`), as a tarball or a
//!   directory;
//!
//! tarballs gzip-compressed or not. The layers are applied in order with their
//! whiteouts ([`layers`]) into the image's root file system
//! ([`LocalImageStore::rootfs`]), and the image keeps the `Entrypoint`, `Cmd`, `Env`
//! and `WorkingDir` of its config. Importing a name again replaces the image.
//!
//! ```no_run
//! # async fn run() -> Result<(), skiff_node::process::ImportError> {
//! use skiff_node::process::{import_image, LocalImageStore};
//! let store = LocalImageStore::new("/var/lib/skiff/node/images".into());
//! let image = import_image(&store, "busybox:1.36", "busybox.tar".as_ref()).await?;
//! println!("{} {:?}", image.id, image.cmd);
//! # Ok(()) }
//! ```

mod archive;
mod layers;

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::LocalImageStore;
use crate::runtime::{Image, KeyValue, RuntimeError};

/// Why an image could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Reading or writing a file failed.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// The archive is not a valid image.
    #[error("not a valid image: {0}")]
    Invalid(String),
    /// The image uses something this importer does not handle.
    #[error("unsupported image: {0}")]
    Unsupported(String),
    /// A layer could not be applied.
    #[error("applying layer {0}: {1}")]
    Layer(String, String),
    /// The image store failed.
    #[error(transparent)]
    Store(#[from] RuntimeError),
    /// The name is empty.
    #[error("an image needs a name")]
    NoName,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |e| ImportError::Io(path.display().to_string(), e)
}

/// Imports `source` as `name` into `store`; returns the stored image.
pub async fn import_image(
    store: &LocalImageStore,
    name: &str,
    source: &Path,
) -> Result<Image, ImportError> {
    if name.trim().is_empty() {
        return Err(ImportError::NoName);
    }
    let staging = store.staging_dir(name);
    let rootfs = store.rootfs_dir(name);
    let source = source.to_owned();
    let built = {
        let staging = staging.clone();
        tokio::task::spawn_blocking(move || build(&source, &staging, &rootfs))
            .await
            .map_err(|e| ImportError::Store(RuntimeError::Internal(e.to_string())))?
    };
    let _ = std::fs::remove_dir_all(&staging);
    let mut image = built?;
    image.id = store.import(name, image.clone()).await?;
    image.repo_tags = vec![name.to_owned()];
    Ok(image)
}

/// Builds the root file system in `staging`, then moves it to `rootfs`.
fn build(source: &Path, staging: &Path, rootfs: &Path) -> Result<Image, ImportError> {
    let _ = std::fs::remove_dir_all(staging);
    std::fs::create_dir_all(staging).map_err(io(staging))?;
    let new_root = staging.join("rootfs");
    std::fs::create_dir_all(&new_root).map_err(io(&new_root))?;
    let meta = std::fs::metadata(source).map_err(io(source))?;
    let mut image = Image::default();
    let unpacked_root;
    let archive_root = if meta.is_dir() {
        source
    } else {
        unpacked_root = staging.join("archive");
        unpack_archive(source, &unpacked_root)?;
        &unpacked_root
    };
    match archive::detect(archive_root) {
        Some(kind) => {
            let found = if kind == "docker-archive" {
                archive::docker(archive_root)?
            } else {
                archive::oci(archive_root)?
            };
            for layer in &found.layers {
                let name = layer.display().to_string();
                image.size += std::fs::metadata(layer).map(|m| m.len()).unwrap_or(0);
                layers::apply_layer(&new_root, layers::open_maybe_gzip(layer)?, &name)?;
            }
            apply_config(&mut image, &found.config);
            image.id = found.id.unwrap_or_default();
        }
        None if meta.is_dir() => {
            image.size = copy_tree(source, &new_root)?;
        }
        None => {
            return Err(ImportError::Invalid(format!(
            "{}: a tarball with neither manifest.json (docker save) nor index.json (OCI layout)",
            source.display()
        )))
        }
    }
    if std::fs::symlink_metadata(rootfs).is_ok() {
        std::fs::remove_dir_all(rootfs).map_err(io(rootfs))?;
    }
    std::fs::rename(&new_root, rootfs).map_err(io(rootfs))?;
    Ok(image)
}

/// Unpacks the outer tarball (gzip or not) of an archive into `dest`.
fn unpack_archive(source: &Path, dest: &Path) -> Result<(), ImportError> {
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    let mut archive = tar::Archive::new(layers::open_maybe_gzip(source)?);
    archive.set_preserve_permissions(false);
    archive.set_overwrite(true);
    archive
        .unpack(dest)
        .map_err(|e| ImportError::Invalid(format!("{}: {e}", source.display())))
}

/// The strings of a JSON array field.
fn strings(config: &Value, field: &str) -> Vec<String> {
    config
        .pointer(&format!("/config/{field}"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Entrypoint, Cmd, Env and WorkingDir of an image config.
fn apply_config(image: &mut Image, config: &Value) {
    image.entrypoint = strings(config, "Entrypoint");
    image.cmd = strings(config, "Cmd");
    image.env = strings(config, "Env")
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => KeyValue {
                key: k.to_owned(),
                value: v.to_owned(),
            },
            None => KeyValue {
                key: kv,
                value: String::new(),
            },
        })
        .collect();
    image.working_dir = config
        .pointer("/config/WorkingDir")
        .and_then(Value::as_str)
        .filter(|w| !w.is_empty())
        .map(str::to_owned);
}

/// Copies a directory tree (files, directories with their modes, symlinks as
/// symlinks); returns the bytes copied.
fn copy_tree(from: &Path, to: &Path) -> Result<u64, ImportError> {
    let mut bytes = 0;
    let mut pending: Vec<(PathBuf, PathBuf)> = vec![(from.to_owned(), to.to_owned())];
    while let Some((src, dst)) = pending.pop() {
        for entry in std::fs::read_dir(&src).map_err(io(&src))? {
            let entry = entry.map_err(io(&src))?;
            let path = entry.path();
            let target = dst.join(entry.file_name());
            let kind = entry.file_type().map_err(io(&path))?;
            if kind.is_symlink() {
                let link = std::fs::read_link(&path).map_err(io(&path))?;
                std::os::unix::fs::symlink(&link, &target).map_err(io(&target))?;
            } else if kind.is_dir() {
                std::fs::create_dir_all(&target).map_err(io(&target))?;
                if let Ok(m) = std::fs::metadata(&path) {
                    let _ = std::fs::set_permissions(&target, m.permissions());
                }
                pending.push((path, target));
            } else if kind.is_file() {
                bytes += std::fs::copy(&path, &target).map_err(io(&path))?;
            }
        }
    }
    Ok(bytes)
}
