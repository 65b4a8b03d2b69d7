//! Where a server keeps its data: [`StoreLocation`] parses the `--store` flag of the
//! API server (`embedded`, or `etcd://host:port,host:port`) and opens the store it
//! names, so every program that embeds an API server chooses its store the same way.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use skiff_store::location::StoreLocation;
//! let location = StoreLocation::parse("embedded", std::path::Path::new(".skiff"))?;
//! let opened = location.open().await?;
//! // ... hand opened.store() to the API server ...
//! opened.close(std::time::Duration::from_secs(3)).await;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::{KvStore, MvccStore, RedbBackend, RemoteOptions, RemoteStore, StoreConfig, StoreError};

/// The store a server runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// A Skiff store on redb in this directory, in the server's own process.
    Embedded(PathBuf),
    /// A remote etcd (or `skiff store`) at these `http://host:port` endpoints.
    Etcd(Vec<String>),
}

/// Why a `--store` value names no store.
#[derive(Debug, thiserror::Error)]
#[error("invalid store {spec:?}: expected embedded or etcd://host:port[,host:port...]")]
pub struct LocationError {
    /// The value given.
    pub spec: String,
}

impl StoreLocation {
    /// `embedded` (the store in `data_dir/store`) or `etcd://a:2379,b:2379`.
    pub fn parse(spec: &str, data_dir: &Path) -> Result<StoreLocation, LocationError> {
        let bad = || LocationError {
            spec: spec.to_owned(),
        };
        if spec == "embedded" {
            return Ok(StoreLocation::Embedded(data_dir.join("store")));
        }
        let list = spec.strip_prefix("etcd://").ok_or_else(bad)?;
        let hosts: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .map(|e| e.trim_start_matches("etcd://"))
            .filter(|e| !e.is_empty())
            .collect();
        if hosts.is_empty() || hosts.iter().any(|h| h.contains('/')) {
            return Err(bad());
        }
        Ok(StoreLocation::Etcd(
            hosts.iter().map(|h| format!("http://{h}")).collect(),
        ))
    }

    /// Opens the embedded store (on a blocking thread: opening redb reads the file) or
    /// connects to etcd.
    pub async fn open(&self) -> Result<OpenedStore, StoreError> {
        match self {
            StoreLocation::Embedded(dir) => {
                let dir = dir.clone();
                let backend = tokio::task::spawn_blocking(move || RedbBackend::open(dir))
                    .await
                    .map_err(|e| StoreError::Open(format!("opening task failed: {e}")))??;
                tracing::info!(file = %backend.path().display(), "opened the embedded store");
                let store = MvccStore::open(backend, StoreConfig::default()).await?;
                Ok(OpenedStore {
                    shared: Arc::new(store.clone()),
                    embedded: Some(store),
                })
            }
            StoreLocation::Etcd(endpoints) => {
                let store =
                    RemoteStore::connect(endpoints.clone(), RemoteOptions::default()).await?;
                tracing::info!(?endpoints, "connected to etcd");
                Ok(OpenedStore {
                    shared: Arc::new(store),
                    embedded: None,
                })
            }
        }
    }
}

/// An opened store, and the embedded one again so it can be closed on the way out.
pub struct OpenedStore {
    shared: Arc<dyn KvStore>,
    embedded: Option<MvccStore>,
}

impl std::fmt::Debug for OpenedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedStore")
            .field("embedded", &self.embedded.is_some())
            .finish_non_exhaustive()
    }
}

impl OpenedStore {
    /// A handle to give to the API server.
    pub fn store(&self) -> Arc<dyn KvStore> {
        self.shared.clone()
    }

    /// Releases this handle and, for the embedded store, waits up to `grace` for the
    /// other handles to go and the data file to be released. `false` when it did not
    /// close in time (every acknowledged write is durable regardless: the store syncs
    /// before it answers).
    pub async fn close(self, grace: Duration) -> bool {
        drop(self.shared);
        match self.embedded {
            Some(store) => tokio::time::timeout(grace, store.close()).await.is_ok(),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_store_flags() {
        let dir = Path::new("/data");
        assert_eq!(
            StoreLocation::parse("embedded", dir).unwrap(),
            StoreLocation::Embedded(PathBuf::from("/data/store"))
        );
        assert_eq!(
            StoreLocation::parse("etcd://127.0.0.1:2379, etcd://b:2379", dir).unwrap(),
            StoreLocation::Etcd(vec!["http://127.0.0.1:2379".into(), "http://b:2379".into()])
        );
        assert!(StoreLocation::parse("etcd://", dir).is_err());
        assert!(StoreLocation::parse("redb", dir).is_err());
        assert!(StoreLocation::parse("etcd://a:1/path", dir).is_err());
    }
}
