//! The in-memory backend: durable for as long as the process lives.

use crate::backend::{Backend, CommitBatch, Loaded, Rev};
use crate::error::Result;
use crate::types::Revision;

/// A backend that keeps nothing: the MVCC store already holds every record in memory, so
/// a store on this backend is a complete, non-durable etcd for tests and embedding.
#[derive(Debug, Default)]
pub struct MemoryBackend;

impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn load(&self) -> Result<Loaded> {
        Ok(Loaded::default())
    }

    fn commit(&self, _batch: &CommitBatch) -> Result<()> {
        Ok(())
    }

    fn compact(&self, _revision: Revision, _removed: &[Rev]) -> Result<()> {
        Ok(())
    }

    fn size(&self) -> (i64, i64) {
        (0, 0)
    }
}
