//! Opening a data file: where it lives, refusing anything that is not a healthy Skiff
//! data file of a format this build understands, and initialising a new one.
//!
//! Nothing here ever resets or rewrites an existing file: a file is either opened as it
//! is, initialised because it is brand new (absent, empty, or a redb file with no table
//! at all), or refused with [`StoreError::Open`] saying why.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{
    Builder, Database, DatabaseError, Durability, ReadableDatabase, StorageError, TableHandle,
};

use super::tables::*;
use crate::error::{Result, StoreError};

/// Name of the data file inside a data directory.
pub const DATA_FILE_NAME: &str = "skiff.redb";

/// redb's page cache. The MVCC store serves every read from its own memory, so redb
/// only needs enough cache for the B-tree pages a commit touches.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Who a data file belongs to: chosen at random when the file is created, then fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The cluster's ID (etcd's `cluster_id`).
    pub cluster_id: u64,
    /// This member's ID (etcd's `member_id`).
    pub member_id: u64,
}

/// The data file for `path`: `path` itself when it is an existing file or a path
/// ending in `.redb`, otherwise `path/skiff.redb` (the directory is created when absent).
pub(crate) fn data_file_path(path: &Path) -> Result<PathBuf> {
    let open_err =
        |what: &str, e: std::io::Error| StoreError::Open(format!("{what} {}: {e}", path.display()));
    if path.is_dir() {
        return Ok(path.join(DATA_FILE_NAME));
    }
    if path.exists() || path.extension().is_some_and(|ext| ext == "redb") {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| open_err("cannot create the directory of", e))?;
        }
        return Ok(path.to_path_buf());
    }
    std::fs::create_dir_all(path).map_err(|e| open_err("cannot create data directory", e))?;
    Ok(path.join(DATA_FILE_NAME))
}

/// Open (or create) the redb database in `file`, checking the integrity of every page.
///
/// redb documents that opening a file damaged outside redb may panic rather than fail;
/// such a panic is caught here and reported as a corrupt file, so a bad disk never takes
/// the process down.
pub(crate) fn open_database(file: &Path) -> Result<Database> {
    let shown = file.display();
    let opened = catch_unwind(AssertUnwindSafe(|| {
        Builder::new()
            .set_cache_size(CACHE_BYTES)
            .set_check_integrity_on_open(true)
            .create(file)
    }));
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch)) => Err(
            StoreError::Open(format!("{shown} is already open elsewhere (by another process, or another RedbBackend in this one)")),
        ),
        Ok(Err(DatabaseError::UpgradeRequired(v))) => Err(StoreError::Open(format!(
            "{shown} uses redb file format {v}, which this build cannot read"
        ))),
        Ok(Err(DatabaseError::Storage(StorageError::Io(e))))
            if e.kind() == std::io::ErrorKind::InvalidData =>
        {
            Err(StoreError::Open(format!("{shown} is not a redb data file ({e})")))
        }
        Ok(Err(DatabaseError::Storage(StorageError::Corrupted(m)))) => {
            Err(StoreError::Open(format!("{shown} is corrupt: {m}")))
        }
        Ok(Err(e)) => Err(StoreError::Open(format!("cannot open {shown}: {e}"))),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
            Err(StoreError::Open(format!(
                "{shown} is corrupt or not a redb data file (the engine failed reading it: {why})"
            )))
        }
    }
}

/// Check that `db` is a Skiff data file of a format this build reads, initialising it
/// when it is brand new, and return its identity.
pub(crate) fn check_or_initialize(db: &Database, file: &Path) -> Result<Identity> {
    let shown = file.display();
    let open_err =
        |e: &dyn std::fmt::Display| StoreError::Open(format!("cannot read {shown}: {e}"));
    let read = db.begin_read().map_err(|e| open_err(&e))?;
    let tables: Vec<String> = read
        .list_tables()
        .map_err(|e| open_err(&e))?
        .map(|t| redb::TableHandle::name(&t).to_string())
        .collect();
    if tables.is_empty() {
        drop(read);
        return initialize(db).map_err(|e| {
            StoreError::Open(format!("cannot initialise new data file {shown}: {e}"))
        });
    }
    for required in [META.name(), RECORDS.name(), LEASES.name()] {
        if !tables.iter().any(|t| t == required) {
            return Err(StoreError::Open(format!(
                "{shown} is a redb file but not a Skiff data file, or a damaged one: \
                 it has no `{required}` table (tables: {})",
                tables.join(", ")
            )));
        }
    }
    let meta = read.open_table(META).map_err(|e| open_err(&e))?;
    let get = |key: &'static str| -> Result<u64> {
        match meta.get(key).map_err(|e| open_err(&e))? {
            Some(v) => Ok(v.value()),
            None => Err(StoreError::Open(format!(
                "{shown} is damaged: its meta table has no `{key}`"
            ))),
        }
    };
    let version = get(META_FORMAT_VERSION)?;
    if version != FORMAT_VERSION {
        let relation = if version > FORMAT_VERSION {
            "a newer"
        } else {
            "an older"
        };
        return Err(StoreError::Open(format!(
            "{shown} was written by {relation} Skiff in data format {version}; \
             this build reads data format {FORMAT_VERSION} only"
        )));
    }
    // The tables must also have the types this build expects.
    read.open_table(RECORDS).map_err(|e| open_err(&e))?;
    read.open_table(LEASES).map_err(|e| open_err(&e))?;
    Ok(Identity {
        cluster_id: get(META_CLUSTER_ID)?,
        member_id: get(META_MEMBER_ID)?,
    })
}

/// Create the tables and meta facts of a new data file, durably, in one transaction.
fn initialize(db: &Database) -> std::result::Result<Identity, redb::Error> {
    let identity = Identity {
        cluster_id: random_id(),
        member_id: random_id(),
    };
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        txn.open_table(RECORDS)?;
        txn.open_table(LEASES)?;
        let mut meta = txn.open_table(META)?;
        meta.insert(META_FORMAT_VERSION, FORMAT_VERSION)?;
        meta.insert(META_COMPACT_SCHEDULED, 0)?;
        meta.insert(META_COMPACT_FINISHED, 0)?;
        meta.insert(META_CLUSTER_ID, identity.cluster_id)?;
        meta.insert(META_MEMBER_ID, identity.member_id)?;
    }
    txn.commit()?;
    Ok(identity)
}

/// A random non-zero 64-bit ID, from the process's random hash seed, the clock and the
/// process ID (IDs need to be unique, not secret).
fn random_id() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.finish().max(1)
}
