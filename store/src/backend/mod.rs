//! Backends: where the MVCC store keeps its revisions durable.
//!
//! The MVCC store ([`crate::Mvcc`]) keeps its key index and values in memory and serves
//! every read from there; a [`Backend`] is the source of truth it is rebuilt from on
//! start. Every write batch is handed to [`Backend::commit`] before any of its writes is
//! acknowledged or visible, so a durable backend makes the store durable.
//!
//! # Organization
//! - [`MemoryBackend`]: keeps nothing; the store lives and dies with the process (tests).
//! - [`RedbBackend`]: one redb file, one write transaction and one fsync per batch
//!   (group commit).

mod memory;
mod redb_backend;

pub use memory::MemoryBackend;
pub use redb_backend::{Identity, RedbBackend, COMPACT_CHUNK, DATA_FILE_NAME};

use bytes::Bytes;

use crate::error::Result;
use crate::types::{LeaseId, Revision};

/// The position of one change in the history: the transaction's revision and the
/// change's index within the transaction. Ordered as etcd orders events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rev {
    /// The store revision of the transaction.
    pub main: Revision,
    /// The change's index within the transaction, from 0.
    pub sub: i64,
}

impl Rev {
    /// A change at `main`, position `sub`.
    pub const fn new(main: Revision, sub: i64) -> Self {
        Rev { main, sub }
    }
}

/// One change to one key: a new version, or a tombstone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// The key.
    pub key: Bytes,
    /// The value (empty for a tombstone).
    pub value: Bytes,
    /// Revision of the creation of this generation of the key (0 for a tombstone).
    pub create_revision: Revision,
    /// Version within the generation (0 for a tombstone).
    pub version: i64,
    /// Attached lease (0 for none).
    pub lease: LeaseId,
    /// Whether this change deleted the key.
    pub tombstone: bool,
}

/// What one group commit writes: the changes of one or more transactions, in order,
/// plus lease grants and revocations and a scheduled compaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitBatch {
    /// New records, in increasing [`Rev`] order.
    pub records: Vec<(Rev, Record)>,
    /// Leases granted: (id, granted TTL in seconds).
    pub leases_granted: Vec<(LeaseId, i64)>,
    /// Leases revoked or expired.
    pub leases_revoked: Vec<LeaseId>,
    /// A compaction to record as scheduled (its record deletion follows in
    /// [`Backend::compact`]).
    pub compact_scheduled: Option<Revision>,
}

impl CommitBatch {
    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
            && self.leases_granted.is_empty()
            && self.leases_revoked.is_empty()
            && self.compact_scheduled.is_none()
    }
}

/// Everything a backend holds, read once at start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Every record still stored, in increasing [`Rev`] order.
    pub records: Vec<(Rev, Record)>,
    /// Live leases: (id, granted TTL).
    pub leases: Vec<(LeaseId, i64)>,
    /// The last compaction recorded as scheduled (0 = none).
    pub compact_scheduled: Revision,
    /// The last compaction whose record deletion finished (0 = none). When it is below
    /// `compact_scheduled` the store finishes the compaction on start.
    pub compact_finished: Revision,
}

/// Durable storage of the store's history.
///
/// # To ensure correctness
/// - When [`commit`](Backend::commit) returns `Ok`, the whole batch is durable (it
///   survives kill -9 and power loss for durable backends) and is atomic: after a crash
///   either all of it or none of it is loaded.
/// - Batches are committed one at a time, in order; the store never calls `commit`
///   concurrently.
/// - [`compact`](Backend::compact) is idempotent: it may be called again for the same
///   revision after a crash, with records that are already gone.
/// - `commit` failing leaves the backend as it was before the call; the store then
///   stops accepting writes until restarted.
///
/// All methods block (they do disk I/O); the store calls them off the async runtime.
pub trait Backend: Send + Sync + 'static {
    /// A short name for status output ("memory", "redb").
    fn name(&self) -> &'static str;

    /// Read everything stored.
    fn load(&self) -> Result<Loaded>;

    /// Write a batch durably and atomically.
    fn commit(&self, batch: &CommitBatch) -> Result<()>;

    /// Delete the records `removed` (all older than `revision`) and record the
    /// compaction at `revision` as finished.
    fn compact(&self, revision: Revision, removed: &[Rev]) -> Result<()>;

    /// (file size, bytes in use) in bytes, as etcd's status reports them.
    fn size(&self) -> (i64, i64);
}
