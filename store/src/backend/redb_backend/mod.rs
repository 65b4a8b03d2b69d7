//! The durable backend: one redb file, one write transaction and one fsync per batch.
//!
//! # Organization
//! - [`RedbBackend`] (here): the [`Backend`] implementation.
//! - `tables`: the table definitions and meta keys of a data file.
//! - `encoding`: the versioned binary layout of one [`Record`](crate::backend::Record).
//! - `open`: where the file lives, refusing corrupt or foreign files, initialising new ones.
//!
//! # Durability
//! [`commit`](Backend::commit) writes the whole batch in one redb write transaction with
//! [`Durability::Immediate`]: when it returns, the batch is on disk, and after a crash
//! redb's copy-on-write commit slots load either all of it or none of it.
//!
//! # Compaction
//! [`compact`](Backend::compact) deletes records in chunks of [`COMPACT_CHUNK`] per write
//! transaction, so a huge compaction never builds one huge transaction, and records the
//! compaction as finished in the last one. A crash in between leaves some records
//! deleted and `compact_finished` behind `compact_scheduled`; the store calls `compact`
//! again on start, and deleting what is already gone is a no-op.
//!
//! # Example
//! ```
//! use skiff_store::backend::{Backend, CommitBatch, Record, Rev};
//! use skiff_store::RedbBackend;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let backend = RedbBackend::open(dir.path()).unwrap();
//! let record = Record { key: "k".into(), value: "v".into(), create_revision: 2, version: 1, ..Default::default() };
//! backend.commit(&CommitBatch { records: vec![(Rev::new(2, 0), record.clone())], ..Default::default() }).unwrap();
//! drop(backend);
//!
//! let reopened = RedbBackend::open(dir.path()).unwrap();
//! assert_eq!(reopened.load().unwrap().records, vec![(Rev::new(2, 0), record)]);
//! ```

mod encoding;
mod open;
mod tables;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, WriteTransaction};

pub use open::{Identity, DATA_FILE_NAME};

use crate::backend::{Backend, CommitBatch, Loaded, Rev};
use crate::error::{Result, StoreError};
use crate::types::Revision;
use encoding::{decode_record, encode_record};
use tables::*;

/// Records deleted per write transaction by [`Backend::compact`].
pub const COMPACT_CHUNK: usize = 10_000;

/// Bytes redb spends per stored record beyond its encoding (key, B-tree slot), for the
/// in-use estimate between two measurements.
const RECORD_OVERHEAD: i64 = 16 + 8;

/// A [`Backend`] that keeps the store's history in one redb file.
///
/// Open it with [`RedbBackend::open`] and hand it to the MVCC store. Only one process
/// can have a data file open at a time; a second open fails with [`StoreError::Open`].
pub struct RedbBackend {
    db: Database,
    /// The data file (for error messages and [`Backend::size`]).
    file: PathBuf,
    identity: Identity,
    /// Bytes of the file holding live data: measured at open and after each compaction,
    /// plus an estimate of what each commit added since.
    in_use: AtomicI64,
}

impl std::fmt::Debug for RedbBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbBackend")
            .field("file", &self.file)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl RedbBackend {
    /// Open the data file at `path`, creating it (and its directory) on first start.
    ///
    /// `path` is a data directory (the file is `path/skiff.redb`), or the data file
    /// itself when it is an existing file or ends in `.redb`.
    ///
    /// Fails with [`StoreError::Open`] when the file is corrupt, is not a redb file, is a
    /// redb file of some other program, was written in a data format this build does not
    /// read, or is open in another process. An existing file is never reset.
    pub fn open(path: impl AsRef<Path>) -> Result<RedbBackend> {
        let file = open::data_file_path(path.as_ref())?;
        let db = open::open_database(&file)?;
        let identity = open::check_or_initialize(&db, &file)?;
        let backend = RedbBackend {
            db,
            file,
            identity,
            in_use: AtomicI64::new(0),
        };
        let in_use = backend
            .measure_in_use()
            .map_err(|e| StoreError::Open(format!("{}: {e}", backend.file.display())))?;
        backend.in_use.store(in_use, Ordering::Relaxed);
        tracing::debug!(file = %backend.file.display(), in_use, "opened redb backend");
        Ok(backend)
    }

    /// The data file.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// The cluster and member IDs chosen when the data file was created.
    pub fn identity(&self) -> Identity {
        self.identity
    }

    /// Delete the records at `revs` (those already gone are skipped), in one durable
    /// transaction; with `finished`, also record that compaction as finished.
    fn remove_records(&self, revs: &[Rev], finished: Option<Revision>) -> Result<()> {
        let txn = self.begin_write()?;
        {
            let mut records = txn.open_table(RECORDS).map_err(storage)?;
            for rev in revs {
                records.remove((rev.main, rev.sub)).map_err(storage)?;
            }
        }
        if let Some(revision) = finished {
            let mut meta = txn.open_table(META).map_err(storage)?;
            raise_meta(&mut meta, META_COMPACT_FINISHED, revision)?;
            raise_meta(&mut meta, META_COMPACT_SCHEDULED, revision)?;
        }
        // Tables are closed here, so the statistics see this transaction's changes.
        let in_use = finished.map(|_| stats_in_use(&txn)).transpose()?;
        txn.commit().map_err(storage)?;
        if let Some(in_use) = in_use {
            self.in_use.store(in_use, Ordering::Relaxed);
        }
        Ok(())
    }

    /// A write transaction that fsyncs on commit.
    fn begin_write(&self) -> Result<WriteTransaction> {
        let mut txn = self.db.begin_write().map_err(storage)?;
        txn.set_durability(Durability::Immediate).map_err(storage)?;
        Ok(txn)
    }

    /// Bytes of the file holding live data, from redb's statistics (walks every tree).
    fn measure_in_use(&self) -> Result<i64> {
        let txn = self.db.begin_write().map_err(storage)?;
        let in_use = stats_in_use(&txn)?;
        txn.abort().map_err(storage)?;
        Ok(in_use)
    }

    fn corrupt(&self, what: std::fmt::Arguments<'_>) -> StoreError {
        StoreError::Open(format!("{} is damaged: {what}", self.file.display()))
    }
}

impl Backend for RedbBackend {
    fn name(&self) -> &'static str {
        "redb"
    }

    fn load(&self) -> Result<Loaded> {
        let read = self.db.begin_read().map_err(storage)?;
        let mut loaded = Loaded::default();

        let records = read.open_table(RECORDS).map_err(storage)?;
        for entry in records.iter().map_err(storage)? {
            let (key, value) = entry.map_err(storage)?;
            let (main, sub) = key.value();
            let record = decode_record(value.value())
                .map_err(|e| self.corrupt(format_args!("record at revision {main}/{sub}: {e}")))?;
            loaded.records.push((Rev::new(main, sub), record));
        }

        let leases = read.open_table(LEASES).map_err(storage)?;
        for entry in leases.iter().map_err(storage)? {
            let (id, ttl) = entry.map_err(storage)?;
            loaded.leases.push((id.value(), ttl.value()));
        }

        let meta = read.open_table(META).map_err(storage)?;
        let revision = |key: &'static str| -> Result<Revision> {
            let stored = meta
                .get(key)
                .map_err(storage)?
                .ok_or_else(|| self.corrupt(format_args!("meta has no `{key}`")))?
                .value();
            Revision::try_from(stored)
                .map_err(|_| self.corrupt(format_args!("meta `{key}` = {stored} is out of range")))
        };
        loaded.compact_scheduled = revision(META_COMPACT_SCHEDULED)?;
        loaded.compact_finished = revision(META_COMPACT_FINISHED)?;
        Ok(loaded)
    }

    fn commit(&self, batch: &CommitBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let txn = self.begin_write()?;
        let mut added: i64 = 0;
        {
            let mut records = txn.open_table(RECORDS).map_err(storage)?;
            for (rev, record) in &batch.records {
                let bytes = encode_record(record).map_err(|field| {
                    StoreError::Storage(format!(
                        "refusing to store record {}/{}: negative {field}",
                        rev.main, rev.sub
                    ))
                })?;
                if records
                    .insert((rev.main, rev.sub), bytes.as_slice())
                    .map_err(storage)?
                    .is_some()
                {
                    // Dropping `txn` uncommitted aborts the whole batch.
                    return Err(StoreError::Storage(format!(
                        "revision {}/{} is already stored; refusing to overwrite history",
                        rev.main, rev.sub
                    )));
                }
                added += bytes.len() as i64 + RECORD_OVERHEAD;
            }
            let mut leases = txn.open_table(LEASES).map_err(storage)?;
            for &(id, ttl) in &batch.leases_granted {
                leases.insert(id, ttl).map_err(storage)?;
            }
            for &id in &batch.leases_revoked {
                leases.remove(id).map_err(storage)?;
            }
            if let Some(revision) = batch.compact_scheduled {
                let mut meta = txn.open_table(META).map_err(storage)?;
                raise_meta(&mut meta, META_COMPACT_SCHEDULED, revision)?;
            }
        }
        txn.commit().map_err(storage)?;
        self.in_use.fetch_add(added, Ordering::Relaxed);
        Ok(())
    }

    fn compact(&self, revision: Revision, removed: &[Rev]) -> Result<()> {
        if let Some(bad) = removed.iter().find(|r| r.main > revision) {
            return Err(StoreError::Storage(format!(
                "compaction at {revision} asked to delete record {}/{}, which is newer",
                bad.main, bad.sub
            )));
        }
        let chunks: Vec<&[Rev]> = removed.chunks(COMPACT_CHUNK).collect();
        let last = chunks.len().saturating_sub(1);
        for (i, chunk) in chunks.iter().enumerate() {
            self.remove_records(chunk, (i == last).then_some(revision))?;
        }
        if chunks.is_empty() {
            self.remove_records(&[], Some(revision))?;
        }
        Ok(())
    }

    fn size(&self) -> (i64, i64) {
        let file_len = std::fs::metadata(&self.file)
            .map(|m| i64::try_from(m.len()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        (
            file_len,
            self.in_use.load(Ordering::Relaxed).clamp(0, file_len),
        )
    }
}

/// Set the meta fact `key` to `revision` unless it already holds a later one.
fn raise_meta(
    meta: &mut redb::Table<'_, &'static str, u64>,
    key: &'static str,
    revision: Revision,
) -> Result<()> {
    let revision = u64::try_from(revision)
        .map_err(|_| StoreError::Storage(format!("refusing to store negative {key} {revision}")))?;
    let current = meta.get(key).map_err(storage)?.map_or(0, |v| v.value());
    if revision > current {
        meta.insert(key, revision).map_err(storage)?;
    }
    Ok(())
}

/// Bytes holding live data according to redb's statistics of `txn`'s view.
fn stats_in_use(txn: &WriteTransaction) -> Result<i64> {
    let stats = txn.stats().map_err(storage)?;
    Ok(i64::try_from(stats.stored_bytes() + stats.metadata_bytes()).unwrap_or(i64::MAX))
}

/// An engine error during normal operation.
fn storage(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Storage(e.into().to_string())
}

#[cfg(test)]
mod tests;
