//! A pod's volumes on the host, as the kubelet's volume manager prepares them before
//! the runtime mounts them into containers:
//!
//! - `emptyDir`: a directory under the pod's directory; `medium: Memory` is a tmpfs
//!   (sized by `sizeLimit`) when the agent runs as root, a plain directory otherwise.
//! - `configMap`, `secret`, `downwardAPI`, `projected` (configMap, secret and
//!   downwardAPI sources): files written by [`atomic_writer`] (keys, `items`,
//!   `defaultMode`/`mode`, `optional`), rewritten when the objects change
//!   ([`PodVolumes::prepare`] refreshes them at most every `refresh` interval).
//! - `hostPath` with its `type` checks (`DirectoryOrCreate`, `Directory`,
//!   `FileOrCreate`, `File`, `Socket`, `CharDevice`, `BlockDevice`).
//! - `persistentVolumeClaim` bound to a PersistentVolume of type `hostPath` or
//!   `local`.
//!
//! [`PodVolumes::mounts_for`] turns a container's `volumeMounts` (`readOnly`,
//! `subPath`, `subPathExpr`) into the runtime's [`Mount`]s.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>, pod: k8s_openapi::api::core::v1::Pod) {
//! use skiff_node::agent::volumes::PodVolumes;
//! let mut volumes = PodVolumes::new("/var/lib/skiff/pods/uid-1".into());
//! volumes.prepare(&client, &pod, &Default::default()).await.unwrap();
//! let mounts = volumes.mounts_for(&pod.spec.unwrap().containers[0], &Default::default()).unwrap();
//! volumes.teardown();
//! # }
//! ```

pub mod atomic_writer;
pub mod host_path;
pub mod projection;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Volume,
};
use skiff_core::client::{Api, Client};

use super::env::{expand, PodRuntimeInfo};
use crate::runtime::Mount;
use projection::{Payload, ProjectionError, DEFAULT_MODE};

/// Why a volume could not be prepared or mounted (the container waits in
/// `ContainerCreating` with this message, as the kubelet's `FailedMount`).
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// A referenced object does not exist (and the volume is not optional).
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// `configmap`, `secret`, `persistentvolumeclaim`, ...
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// The API could not be read.
    #[error("reading {what}: {message}")]
    Client {
        /// What was being read.
        what: String,
        /// The failure.
        message: String,
    },
    /// The files of a projected volume could not be computed.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    /// A hostPath failed its type check.
    #[error(transparent)]
    HostPath(#[from] host_path::HostPathError),
    /// The volume's source is not supported by this agent.
    #[error("volume {0:?}: unsupported volume source {1}")]
    Unsupported(String, String),
    /// A claim is not bound, or bound to a volume the agent cannot mount.
    #[error("persistentvolumeclaim {0:?}: {1}")]
    Claim(String, String),
    /// A volumeMount names a volume the pod does not have.
    #[error("volumeMount {0:?} names no volume of the pod")]
    UnknownVolume(String),
    /// A bad `subPath` or `mountPath`.
    #[error("volumeMount {0:?}: {1}")]
    BadMount(String, String),
    /// The host refused.
    #[error("volume {volume:?}: {message}")]
    Io {
        /// The volume.
        volume: String,
        /// What failed.
        message: String,
    },
}

/// One prepared volume.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Prepared {
    host_path: PathBuf,
    /// API data volumes are always mounted read-only, as in Kubernetes.
    readonly: bool,
    /// Rewritten from the API on refresh.
    projected: bool,
}

/// The volumes of one pod on the host.
#[derive(Debug)]
pub struct PodVolumes {
    pod_dir: PathBuf,
    prepared: BTreeMap<String, Prepared>,
    tmpfs: Vec<PathBuf>,
    last_refresh: Option<Instant>,
    /// How often API-backed volumes are re-read (10 s by default).
    pub refresh: Duration,
    /// Notes for the pod's status (a Memory emptyDir that is not a tmpfs, ...).
    pub notes: Vec<String>,
    /// The volume the last [`PodVolumes::prepare`] failed on, if it failed.
    pub failed_volume: Option<String>,
}

/// Whether mounts (a tmpfs for a Memory emptyDir) are possible: root that may create
/// namespaces, as the runtime's isolation needs.
fn is_root() -> bool {
    crate::process::isolation::available()
}

fn io_err(volume: &str, what: &str, e: impl std::fmt::Display) -> VolumeError {
    VolumeError::Io {
        volume: volume.to_owned(),
        message: format!("{what}: {e}"),
    }
}

/// Which API kind a volume reads.
fn source_kind(v: &Volume) -> Option<&'static str> {
    if v.empty_dir.is_some() {
        Some("empty-dir")
    } else if v.config_map.is_some() {
        Some("configmap")
    } else if v.secret.is_some() {
        Some("secret")
    } else if v.downward_api.is_some() {
        Some("downward-api")
    } else if v.projected.is_some() {
        Some("projected")
    } else if v.host_path.is_some() || v.persistent_volume_claim.is_some() {
        Some("host")
    } else {
        None
    }
}

impl PodVolumes {
    /// The volumes of a pod whose directory is `pod_dir` (created on demand).
    pub fn new(pod_dir: PathBuf) -> Self {
        PodVolumes {
            pod_dir,
            prepared: BTreeMap::new(),
            tmpfs: Vec::new(),
            last_refresh: None,
            refresh: Duration::from_secs(10),
            notes: Vec::new(),
            failed_volume: None,
        }
    }

    /// The host directory of volume `name`, once prepared.
    pub fn host_path(&self, name: &str) -> Option<&Path> {
        self.prepared.get(name).map(|p| p.host_path.as_path())
    }

    /// Prepares every volume of the pod that is not prepared yet, and rewrites the
    /// API-backed ones when `refresh` has passed since the last time.
    pub async fn prepare(
        &mut self,
        client: &Arc<dyn Client>,
        pod: &Pod,
        info: &PodRuntimeInfo,
    ) -> Result<(), VolumeError> {
        let due = self
            .last_refresh
            .is_none_or(|t| t.elapsed() >= self.refresh);
        let volumes = pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.clone())
            .unwrap_or_default();
        for v in &volumes {
            let known = self.prepared.get(&v.name).cloned();
            match known {
                Some(p) if !p.projected || !due => continue,
                _ => {}
            }
            let prepared = match self.prepare_one(client, pod, info, v).await {
                Ok(p) => p,
                Err(e) => {
                    self.failed_volume = Some(v.name.clone());
                    return Err(e);
                }
            };
            self.prepared.insert(v.name.clone(), prepared);
        }
        self.failed_volume = None;
        if due {
            self.last_refresh = Some(Instant::now());
        }
        Ok(())
    }

    async fn prepare_one(
        &mut self,
        client: &Arc<dyn Client>,
        pod: &Pod,
        info: &PodRuntimeInfo,
        v: &Volume,
    ) -> Result<Prepared, VolumeError> {
        let Some(kind) = source_kind(v) else {
            let json = serde_json::to_value(v).unwrap_or_default();
            let source = json
                .as_object()
                .and_then(|m| m.keys().find(|k| *k != "name").cloned())
                .unwrap_or_else(|| "(none)".into());
            return Err(VolumeError::Unsupported(v.name.clone(), source));
        };
        let dir = self
            .pod_dir
            .join("volumes")
            .join(format!("kubernetes.io~{kind}"))
            .join(&v.name);
        if let Some(e) = &v.empty_dir {
            return self.empty_dir(&v.name, dir, e).await;
        }
        if let Some(h) = &v.host_path {
            let path = host_path::check(&h.path, h.type_.as_deref().unwrap_or(""))?;
            return Ok(Prepared {
                host_path: path,
                readonly: false,
                projected: false,
            });
        }
        if let Some(c) = &v.persistent_volume_claim {
            return claim(client, pod, &c.claim_name, c.read_only == Some(true)).await;
        }
        let payload = payload(client, pod, info, v).await?;
        let write_dir = dir.clone();
        let name = v.name.clone();
        tokio::task::spawn_blocking(move || atomic_writer::write(&write_dir, &payload))
            .await
            .map_err(|e| io_err(&name, "writing files", e))?
            .map_err(|e| io_err(&name, "writing files", e))?;
        Ok(Prepared {
            host_path: dir,
            readonly: true,
            projected: true,
        })
    }

    async fn empty_dir(
        &mut self,
        name: &str,
        dir: PathBuf,
        e: &k8s_openapi::api::core::v1::EmptyDirVolumeSource,
    ) -> Result<Prepared, VolumeError> {
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io_err(name, "creating the directory", e))?;
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
            .await
            .map_err(|e| io_err(name, "chmod", e))?;
        if e.medium.as_deref() == Some("Memory") {
            if is_root() {
                let size = e
                    .size_limit
                    .as_ref()
                    .and_then(|q| skiff_core::quantity::Quantity::parse(&q.0).ok())
                    .map(|q| q.value())
                    .filter(|b| *b > 0);
                mount_tmpfs(&dir, size).map_err(|e| io_err(name, "mounting a tmpfs", e))?;
                self.tmpfs.push(dir.clone());
            } else {
                self.notes.push(format!(
                    "emptyDir {name:?} with medium Memory is a plain directory: mounting a tmpfs needs root"
                ));
            }
        }
        Ok(Prepared {
            host_path: dir,
            readonly: false,
            projected: false,
        })
    }

    /// The runtime mounts of `container`'s `volumeMounts`; `env` is its resolved
    /// environment (for `subPathExpr`).
    pub fn mounts_for(
        &self,
        container: &Container,
        env: &HashMap<String, String>,
    ) -> Result<Vec<Mount>, VolumeError> {
        let mut out = Vec::new();
        for m in container.volume_mounts.iter().flatten() {
            let prepared = self
                .prepared
                .get(&m.name)
                .ok_or_else(|| VolumeError::UnknownVolume(m.name.clone()))?;
            if !m.mount_path.starts_with('/') {
                return Err(VolumeError::BadMount(
                    m.name.clone(),
                    format!("mountPath {:?} is not absolute", m.mount_path),
                ));
            }
            let sub = match (&m.sub_path, &m.sub_path_expr) {
                (Some(s), _) if !s.is_empty() => Some(s.clone()),
                (_, Some(e)) if !e.is_empty() => Some(expand(e, env)),
                _ => None,
            };
            let mut host = prepared.host_path.clone();
            if let Some(sub) = sub {
                projection::check_path(&sub)
                    .map_err(|e| VolumeError::BadMount(m.name.clone(), format!("subPath: {e}")))?;
                host = host.join(&sub);
                if std::fs::symlink_metadata(&host).is_err() {
                    if prepared.readonly {
                        return Err(VolumeError::BadMount(
                            m.name.clone(),
                            format!("subPath {sub:?} does not exist in a read-only volume"),
                        ));
                    }
                    std::fs::create_dir_all(&host)
                        .map_err(|e| io_err(&m.name, "creating the subPath", e))?;
                }
                host = host
                    .canonicalize()
                    .map_err(|e| io_err(&m.name, "resolving the subPath", e))?;
                if !host.starts_with(
                    prepared
                        .host_path
                        .canonicalize()
                        .unwrap_or_else(|_| prepared.host_path.clone()),
                ) {
                    return Err(VolumeError::BadMount(
                        m.name.clone(),
                        format!("subPath {sub:?} leaves the volume"),
                    ));
                }
            }
            out.push(Mount {
                container_path: m.mount_path.clone(),
                host_path: host,
                readonly: prepared.readonly || m.read_only == Some(true),
            });
        }
        Ok(out)
    }

    /// Unmounts the pod's tmpfs volumes and removes its directory (hostPath and
    /// persistent volumes are left alone). Idempotent.
    pub fn teardown(&mut self) {
        for dir in self.tmpfs.drain(..) {
            if let Err(e) = unmount(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "unmounting an emptyDir tmpfs");
            }
        }
        self.prepared.clear();
        if let Err(e) = std::fs::remove_dir_all(&self.pod_dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %self.pod_dir.display(), error = %e, "removing the pod's volumes");
            }
        }
    }
}

/// The files of an API-backed volume.
async fn payload(
    client: &Arc<dyn Client>,
    pod: &Pod,
    info: &PodRuntimeInfo,
    v: &Volume,
) -> Result<Payload, VolumeError> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let mut out = Payload::new();
    if let Some(c) = &v.config_map {
        let mode = projection::mode(c.default_mode, DEFAULT_MODE)?;
        if let Some(data) = config_map(client, &ns, &c.name, c.optional).await? {
            let source = format!("configmap {ns}/{}", c.name);
            projection::from_data(&data, c.items.as_deref(), mode, &source, &mut out)?;
        }
    } else if let Some(s) = &v.secret {
        let mode = projection::mode(s.default_mode, DEFAULT_MODE)?;
        let name = s.secret_name.clone().unwrap_or_default();
        if let Some(data) = secret(client, &ns, &name, s.optional).await? {
            let source = format!("secret {ns}/{name}");
            projection::from_data(&data, s.items.as_deref(), mode, &source, &mut out)?;
        }
    } else if let Some(d) = &v.downward_api {
        let mode = projection::mode(d.default_mode, DEFAULT_MODE)?;
        let items = d.items.clone().unwrap_or_default();
        projection::from_downward_api(pod, info, &items, mode, &mut out)?;
    } else if let Some(p) = &v.projected {
        let mode = projection::mode(p.default_mode, DEFAULT_MODE)?;
        for source in p.sources.iter().flatten() {
            if let Some(c) = &source.config_map {
                if let Some(data) = config_map(client, &ns, &c.name, c.optional).await? {
                    let what = format!("configmap {ns}/{}", c.name);
                    projection::from_data(&data, c.items.as_deref(), mode, &what, &mut out)?;
                }
            } else if let Some(s) = &source.secret {
                if let Some(data) = secret(client, &ns, &s.name, s.optional).await? {
                    let what = format!("secret {ns}/{}", s.name);
                    projection::from_data(&data, s.items.as_deref(), mode, &what, &mut out)?;
                }
            } else if let Some(d) = &source.downward_api {
                let items = d.items.clone().unwrap_or_default();
                projection::from_downward_api(pod, info, &items, mode, &mut out)?;
            } else {
                return Err(VolumeError::Unsupported(
                    v.name.clone(),
                    "projected source other than configMap, secret or downwardAPI".into(),
                ));
            }
        }
    }
    Ok(out)
}

async fn config_map(
    client: &Arc<dyn Client>,
    ns: &str,
    name: &str,
    optional: Option<bool>,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, VolumeError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(cm)) => {
            let mut data: BTreeMap<String, Vec<u8>> = cm
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect();
            for (k, v) in cm.binary_data.unwrap_or_default() {
                data.insert(k, v.0);
            }
            Ok(Some(data))
        }
        Ok(None) if optional == Some(true) => Ok(None),
        Ok(None) => Err(VolumeError::NotFound {
            kind: "configmap",
            name: name.to_owned(),
        }),
        Err(e) => Err(VolumeError::Client {
            what: format!("configmap {ns}/{name}"),
            message: e.to_string(),
        }),
    }
}

async fn secret(
    client: &Arc<dyn Client>,
    ns: &str,
    name: &str,
    optional: Option<bool>,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, VolumeError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(s)) => {
            let mut data: BTreeMap<String, Vec<u8>> = s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            for (k, v) in s.string_data.unwrap_or_default() {
                data.insert(k, v.into_bytes());
            }
            Ok(Some(data))
        }
        Ok(None) if optional == Some(true) => Ok(None),
        Ok(None) => Err(VolumeError::NotFound {
            kind: "secret",
            name: name.to_owned(),
        }),
        Err(e) => Err(VolumeError::Client {
            what: format!("secret {ns}/{name}"),
            message: e.to_string(),
        }),
    }
}

/// A claim bound to a hostPath or local PersistentVolume.
async fn claim(
    client: &Arc<dyn Client>,
    pod: &Pod,
    claim_name: &str,
    readonly: bool,
) -> Result<Prepared, VolumeError> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let client_err = |what: String, e: skiff_core::client::ClientError| VolumeError::Client {
        what,
        message: e.to_string(),
    };
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
    let pvc = claims
        .get_opt(claim_name)
        .await
        .map_err(|e| client_err(format!("persistentvolumeclaim {ns}/{claim_name}"), e))?
        .ok_or_else(|| VolumeError::NotFound {
            kind: "persistentvolumeclaim",
            name: claim_name.to_owned(),
        })?;
    let volume_name = pvc
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| VolumeError::Claim(claim_name.to_owned(), "not bound to a volume".into()))?;
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pv = pvs
        .get_opt(&volume_name)
        .await
        .map_err(|e| client_err(format!("persistentvolume {volume_name}"), e))?
        .ok_or_else(|| VolumeError::NotFound {
            kind: "persistentvolume",
            name: volume_name.clone(),
        })?;
    let spec = pv.spec.unwrap_or_default();
    let path = if let Some(h) = spec.host_path {
        host_path::check(&h.path, h.type_.as_deref().unwrap_or(""))?
    } else if let Some(l) = spec.local {
        host_path::check(&l.path, "Directory")?
    } else {
        return Err(VolumeError::Claim(
            claim_name.to_owned(),
            format!("volume {volume_name} is neither hostPath nor local"),
        ));
    };
    Ok(Prepared {
        host_path: path,
        readonly,
        projected: false,
    })
}

fn cstring(p: &Path) -> std::io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
}

fn mount_tmpfs(dir: &Path, size: Option<i64>) -> std::io::Result<()> {
    let target = cstring(dir)?;
    let options = match size {
        Some(b) => format!("mode=0777,size={b}"),
        None => "mode=0777".to_owned(),
    };
    let options = std::ffi::CString::new(options)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
    let rc = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            options.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn unmount(dir: &Path) -> std::io::Result<()> {
    let target = cstring(dir)?;
    // SAFETY: `target` is a valid NUL-terminated string.
    let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINVAL) && e.raw_os_error() != Some(libc::ENOENT) {
            return Err(e);
        }
    }
    Ok(())
}
