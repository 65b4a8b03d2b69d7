//! Reading unpacked image archives: `docker save` (`manifest.json`, the config
//! JSON, layer tars) and OCI image layouts (`index.json`, `blobs/sha256/...`), down
//! to the image config and the ordered list of layer files.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::layers::clean_relative;
use super::ImportError;

/// An image found in an unpacked archive.
#[derive(Debug)]
pub(super) struct Unpacked {
    /// The image config (`{"config": {"Entrypoint": ...}}`).
    pub config: Value,
    /// Content id (`sha256:...`) when the archive says one.
    pub id: Option<String>,
    /// Layer files, bottom first.
    pub layers: Vec<PathBuf>,
}

fn read_json(path: &Path) -> Result<Value, ImportError> {
    let bytes = std::fs::read(path).map_err(|e| ImportError::Io(path.display().to_string(), e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ImportError::Invalid(format!("{}: {e}", path.display())))
}

/// A file named by the archive, which must stay inside it.
fn inside(root: &Path, name: &str) -> Result<PathBuf, ImportError> {
    let rel = clean_relative(Path::new(name))?
        .ok_or_else(|| ImportError::Invalid(format!("empty path {name:?} in the archive")))?;
    Ok(root.join(rel))
}

/// Which kind of archive `root` is, if any.
pub(super) fn detect(root: &Path) -> Option<&'static str> {
    if root.join("manifest.json").is_file() {
        Some("docker-archive")
    } else if root.join("index.json").is_file() {
        Some("oci-layout")
    } else {
        None
    }
}

/// A `docker save` archive: the first image of `manifest.json`.
pub(super) fn docker(root: &Path) -> Result<Unpacked, ImportError> {
    let manifest = read_json(&root.join("manifest.json"))?;
    let first = manifest
        .as_array()
        .and_then(|a| a.first())
        .ok_or_else(|| ImportError::Invalid("manifest.json lists no image".into()))?;
    let config_name = first
        .get("Config")
        .and_then(Value::as_str)
        .ok_or_else(|| ImportError::Invalid("manifest.json: the image has no Config".into()))?;
    let layers = first
        .get("Layers")
        .and_then(Value::as_array)
        .ok_or_else(|| ImportError::Invalid("manifest.json: the image has no Layers".into()))?
        .iter()
        .map(|l| {
            l.as_str()
                .ok_or_else(|| ImportError::Invalid("manifest.json: a layer is not a path".into()))
                .and_then(|l| inside(root, l))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // `<hex>.json` (older Docker) or `blobs/sha256/<hex>` (Docker 25+).
    let stem = Path::new(config_name)
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".json").to_owned())
        .unwrap_or_default();
    let id = (stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("sha256:{stem}"));
    Ok(Unpacked {
        config: read_json(&inside(root, config_name)?)?,
        id,
        layers,
    })
}

/// The blob of a descriptor (`{"digest": "sha256:..."}`).
fn blob(root: &Path, descriptor: &Value) -> Result<(PathBuf, String), ImportError> {
    let digest = descriptor
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| ImportError::Invalid("a descriptor has no digest".into()))?;
    let (algorithm, hex) = digest
        .split_once(':')
        .filter(|(a, h)| {
            !a.is_empty()
                && a.bytes().all(|b| b.is_ascii_alphanumeric())
                && !h.is_empty()
                && h.bytes().all(|b| b.is_ascii_hexdigit())
        })
        .ok_or_else(|| ImportError::Invalid(format!("bad digest {digest:?}")))?;
    Ok((
        root.join("blobs").join(algorithm).join(hex),
        digest.to_owned(),
    ))
}

/// The platform's architecture in OCI's words.
fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// From an index's manifests, the one for this platform (else the first).
fn pick(manifests: &[Value]) -> Option<&Value> {
    manifests
        .iter()
        .find(|m| {
            m.pointer("/platform/os").and_then(Value::as_str) == Some("linux")
                && m.pointer("/platform/architecture").and_then(Value::as_str) == Some(oci_arch())
        })
        .or_else(|| manifests.first())
}

/// An OCI image layout: `index.json` (through nested indexes) to one image manifest.
pub(super) fn oci(root: &Path) -> Result<Unpacked, ImportError> {
    let mut document = read_json(&root.join("index.json"))?;
    // An index names manifests or further indexes; a few levels at most.
    for _ in 0..4 {
        if let Some(manifests) = document.get("manifests").and_then(Value::as_array) {
            let chosen = pick(manifests)
                .ok_or_else(|| ImportError::Invalid("an image index lists no manifest".into()))?;
            document = read_json(&blob(root, chosen)?.0)?;
            continue;
        }
        let config = document
            .get("config")
            .ok_or_else(|| ImportError::Invalid("the image manifest has no config".into()))?;
        let (config_path, digest) = blob(root, config)?;
        let layers = document
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| ImportError::Invalid("the image manifest has no layers".into()))?
            .iter()
            .map(|l| blob(root, l).map(|(p, _)| p))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Unpacked {
            config: read_json(&config_path)?,
            id: Some(digest),
            layers,
        });
    }
    Err(ImportError::Invalid("image indexes nest too deeply".into()))
}
