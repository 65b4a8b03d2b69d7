//! The files of a configMap, secret, downwardAPI or projected volume: which relative
//! paths hold which bytes with which mode, computed from the API objects without
//! touching the disk (the [`super::atomic_writer`] writes them).
//!
//! ```
//! use std::collections::BTreeMap;
//! use skiff_node::agent::volumes::projection::{from_data, Payload};
//! let data = BTreeMap::from([("a".to_owned(), b"1".to_vec()), ("b".to_owned(), b"2".to_vec())]);
//! let mut out = Payload::new();
//! from_data(&data, None, 0o644, "configmap default/cm", &mut out).unwrap();
//! assert_eq!(out["a"].data, b"1");
//! assert_eq!(out["b"].mode, 0o644);
//! ```

use std::collections::BTreeMap;
use std::path::{Component, Path};

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, KeyToPath, Pod};

use crate::agent::env::{field_value, PodRuntimeInfo};

/// The default file mode of projected files (`defaultMode` when unset).
pub const DEFAULT_MODE: u32 = 0o644;

/// One file of a volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileContent {
    /// Its bytes.
    pub data: Vec<u8>,
    /// Its permission bits.
    pub mode: u32,
}

/// A volume's files by relative path.
pub type Payload = BTreeMap<String, FileContent>;

/// Why a volume's files could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectionError {
    /// An `items` entry names a key the object does not have.
    #[error("{object}: couldn't find key {key}")]
    KeyMissing {
        /// The object (`configmap ns/name`).
        object: String,
        /// The key.
        key: String,
    },
    /// A path is absolute, empty or climbs out of the volume.
    #[error("invalid path {0:?}: must be relative and must not contain '..'")]
    InvalidPath(String),
    /// A mode is outside 0..=0777.
    #[error("invalid mode {0:o}: must be between 0 and 0777")]
    InvalidMode(i32),
    /// A downward API field the agent cannot serve.
    #[error("{0}")]
    Field(String),
}

/// Checks that `path` is a plain relative path inside the volume.
pub fn check_path(path: &str) -> Result<(), ProjectionError> {
    let p = Path::new(path);
    let ok = !path.is_empty()
        && p.components().all(|c| matches!(c, Component::Normal(_)))
        && !path.starts_with("..");
    if ok {
        Ok(())
    } else {
        Err(ProjectionError::InvalidPath(path.to_owned()))
    }
}

/// A mode from the API (`defaultMode`, `items[].mode`).
pub fn mode(m: Option<i32>, default: u32) -> Result<u32, ProjectionError> {
    match m {
        None => Ok(default),
        Some(m) if (0..=0o777).contains(&m) => Ok(m as u32),
        Some(m) => Err(ProjectionError::InvalidMode(m)),
    }
}

/// Adds the files of a key → bytes map (a ConfigMap's or Secret's data): every key
/// as a file, or only `items`, each at its path.
pub fn from_data(
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    default_mode: u32,
    source: &str,
    out: &mut Payload,
) -> Result<(), ProjectionError> {
    match items {
        None => {
            for (key, bytes) in data {
                check_path(key)?;
                out.insert(
                    key.clone(),
                    FileContent {
                        data: bytes.clone(),
                        mode: default_mode,
                    },
                );
            }
        }
        Some(items) => {
            for item in items {
                check_path(&item.path)?;
                let bytes = data
                    .get(&item.key)
                    .ok_or_else(|| ProjectionError::KeyMissing {
                        object: source.to_owned(),
                        key: item.key.clone(),
                    })?;
                out.insert(
                    item.path.clone(),
                    FileContent {
                        data: bytes.clone(),
                        mode: mode(item.mode, default_mode)?,
                    },
                );
            }
        }
    }
    Ok(())
}

/// `key="value"` lines, sorted by key, as the kubelet writes labels and annotations.
fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    let mut out = String::new();
    for (k, v) in map.into_iter().flatten() {
        out.push_str(&format!("{k}={}\n", serde_json::Value::String(v.clone())));
    }
    out
}

/// Adds the files of downward API items.
pub fn from_downward_api(
    pod: &Pod,
    info: &PodRuntimeInfo,
    items: &[DownwardAPIVolumeFile],
    default_mode: u32,
    out: &mut Payload,
) -> Result<(), ProjectionError> {
    for item in items {
        check_path(&item.path)?;
        let text = if let Some(f) = &item.field_ref {
            match f.field_path.as_str() {
                "metadata.labels" => format_map(pod.metadata.labels.as_ref()),
                "metadata.annotations" => format_map(pod.metadata.annotations.as_ref()),
                path => field_value(pod, info, path)
                    .map_err(|e| ProjectionError::Field(e.to_string()))?,
            }
        } else if item.resource_field_ref.is_some() {
            return Err(ProjectionError::Field(format!(
                "{}: resourceFieldRef is not supported by this node agent yet",
                item.path
            )));
        } else {
            String::new()
        };
        out.insert(
            item.path.clone(),
            FileContent {
                data: text.into_bytes(),
                mode: mode(item.mode, default_mode)?,
            },
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_stay_inside() {
        assert!(check_path("a/b.txt").is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "..data"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn items_select_and_rename_keys() {
        let data = BTreeMap::from([
            ("a".to_owned(), b"1".to_vec()),
            ("b".to_owned(), b"2".to_vec()),
        ]);
        let items = vec![KeyToPath {
            key: "b".into(),
            path: "dir/bee".into(),
            mode: Some(0o600),
        }];
        let mut out = Payload::new();
        from_data(&data, Some(&items), 0o644, "cm", &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out["dir/bee"].mode, 0o600);
        let missing = vec![KeyToPath {
            key: "zz".into(),
            path: "z".into(),
            mode: None,
        }];
        assert!(matches!(
            from_data(&data, Some(&missing), 0o644, "cm", &mut Payload::new()),
            Err(ProjectionError::KeyMissing { .. })
        ));
        assert!(mode(Some(0o1777), 0).is_err());
    }

    #[test]
    fn downward_api_labels_file() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "labels": {"b": "2", "a": "x\"y"}},
            "spec": {"containers": []}
        }))
        .unwrap();
        let items: Vec<DownwardAPIVolumeFile> = serde_json::from_value(serde_json::json!([
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}
        ]))
        .unwrap();
        let mut out = Payload::new();
        from_downward_api(&pod, &PodRuntimeInfo::default(), &items, 0o644, &mut out).unwrap();
        assert_eq!(out["labels"].data, b"a=\"x\\\"y\"\nb=\"2\"\n");
        assert_eq!(out["name"].data, b"p");
    }
}
