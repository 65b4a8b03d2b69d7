//! The redb tables of a Skiff data file, and the keys of its `meta` table.
//!
//! ```text
//! records  (main, sub) -> encoded Record   every change still retained, in Rev order
//! leases   lease id    -> granted TTL (s)  every live lease
//! meta     name        -> u64              the facts below
//! ```

use redb::TableDefinition;

/// Every retained change, keyed by its revision `(main, sub)`; values are
/// [`encode_record`](super::encoding::encode_record) output.
pub(crate) const RECORDS: TableDefinition<(i64, i64), &[u8]> = TableDefinition::new("records");

/// Live leases: id -> granted TTL in seconds.
pub(crate) const LEASES: TableDefinition<i64, i64> = TableDefinition::new("leases");

/// Facts about the data file (format version, compaction progress, identity).
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The layout of the tables and records this build writes. A file with a higher number
/// was written by a newer Skiff and is refused; a lower one would need a migration.
pub(crate) const FORMAT_VERSION: u64 = 1;

/// Meta key: the [`FORMAT_VERSION`] the file was written with.
pub(crate) const META_FORMAT_VERSION: &str = "format_version";
/// Meta key: the last compaction recorded as scheduled.
pub(crate) const META_COMPACT_SCHEDULED: &str = "compact_scheduled";
/// Meta key: the last compaction whose record deletion finished.
pub(crate) const META_COMPACT_FINISHED: &str = "compact_finished";
/// Meta key: the cluster ID, chosen when the file was created.
pub(crate) const META_CLUSTER_ID: &str = "cluster_id";
/// Meta key: this member's ID, chosen when the file was created.
pub(crate) const META_MEMBER_ID: &str = "member_id";
