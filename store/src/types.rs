//! Request and response types of the store, shaped like etcd v3's `rpc.proto` and
//! `kv.proto` but as plain Rust values: the gRPC facade converts to and from protobuf,
//! and in-process callers (the API server) use them directly.

use bytes::Bytes;

/// A store revision. Revision 0 in a request means "the current revision".
pub type Revision = i64;

/// A lease ID. 0 means "no lease".
pub type LeaseId = i64;

/// One version of one key, as etcd's `mvccpb.KeyValue`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyValue {
    /// The key. Never empty.
    pub key: Bytes,
    /// Revision of the last creation of this key (reset by a delete).
    pub create_revision: Revision,
    /// Revision of the last modification of this key.
    pub mod_revision: Revision,
    /// Number of modifications since the last creation; a delete resets it to 0.
    pub version: i64,
    /// The value (empty when a range asked for keys only).
    pub value: Bytes,
    /// The lease the key is attached to, or 0.
    pub lease: LeaseId,
}

/// What a watch event reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// The key was created or modified.
    Put,
    /// The key was deleted (explicitly, or because its lease expired).
    Delete,
}

/// One change to one key, as etcd's `mvccpb.Event`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Put or delete.
    pub kind: EventType,
    /// For a put, the new version; for a delete, the key with `mod_revision` set to the
    /// revision of the delete and everything else zero.
    pub kv: KeyValue,
    /// The version before this change, when the watch asked for it and one existed.
    pub prev_kv: Option<KeyValue>,
}

/// Every response carries the store revision it was served at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResponseHeader {
    /// The store's current revision when the request was served, as etcd answers: for a
    /// read at an older revision this is still the current one; for a write, the revision
    /// it created (or the current one if it changed nothing).
    pub revision: Revision,
}

/// A key range: `key` alone, `[key, range_end)`, or with the etcd convention
/// `range_end == [0]` for "every key >= key". Every key is `key == [0]` with
/// `range_end == [0]` (etcdctl's `get --prefix ""`); an empty `key` is refused with
/// `EmptyKey`, as etcd does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyRange {
    /// The first key (or the only one when `range_end` is empty).
    pub key: Bytes,
    /// One past the last key; empty for a single key; `[0]` for "to the end".
    pub range_end: Bytes,
}

impl KeyRange {
    /// A single key.
    pub fn key(key: impl Into<Bytes>) -> Self {
        KeyRange {
            key: key.into(),
            range_end: Bytes::new(),
        }
    }

    /// Every key starting with `prefix` (etcdctl's `--prefix`).
    pub fn prefix(prefix: impl Into<Bytes>) -> Self {
        let key: Bytes = prefix.into();
        let range_end = prefix_end(&key);
        KeyRange { key, range_end }
    }

    /// `[key, range_end)` with etcd's conventions for `range_end`.
    pub fn range(key: impl Into<Bytes>, range_end: impl Into<Bytes>) -> Self {
        KeyRange {
            key: key.into(),
            range_end: range_end.into(),
        }
    }

    /// Whether this range names one key only.
    pub fn is_single(&self) -> bool {
        self.range_end.is_empty()
    }

    /// Whether `k` falls inside the range.
    pub fn contains(&self, k: &[u8]) -> bool {
        if self.range_end.is_empty() {
            return k == &self.key[..];
        }
        if self.range_end[..] == [0] {
            return k >= &self.key[..];
        }
        k >= &self.key[..] && k < &self.range_end[..]
    }
}

/// The range end that makes `[prefix, end)` cover every key starting with `prefix`:
/// the prefix with its last byte below 0xff incremented and the rest dropped, or `[0]`
/// ("to the end") when there is no such byte.
pub fn prefix_end(prefix: &[u8]) -> Bytes {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Bytes::from(end);
        }
    }
    Bytes::from_static(&[0])
}

/// How a range orders its results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortOrder {
    /// Key order (the store's natural order).
    #[default]
    None,
    /// Ascending by the sort target.
    Ascend,
    /// Descending by the sort target.
    Descend,
}

/// What a range sorts by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortTarget {
    /// The key.
    #[default]
    Key,
    /// The version.
    Version,
    /// The create revision.
    Create,
    /// The mod revision.
    Mod,
    /// The value.
    Value,
}

/// A read of a key or range, as etcd's `RangeRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeRequest {
    /// Which keys.
    pub range: KeyRange,
    /// Read at this revision; 0 = current. Older than the compaction revision is an error.
    pub revision: Revision,
    /// At most this many keys; 0 = no limit. `more` in the response says whether there were more.
    pub limit: i64,
    /// Return only the count, no keys.
    pub count_only: bool,
    /// Return keys without values.
    pub keys_only: bool,
    /// Order of the results.
    pub sort_order: SortOrder,
    /// Field the results are ordered by.
    pub sort_target: SortTarget,
    /// Serve from the local member without a quorum read (single-member stores ignore it).
    pub serializable: bool,
    /// Filters: keep only keys with mod_revision >= this (0 = no filter).
    pub min_mod_revision: Revision,
    /// Keep only keys with mod_revision <= this (0 = no filter).
    pub max_mod_revision: Revision,
    /// Keep only keys with create_revision >= this (0 = no filter).
    pub min_create_revision: Revision,
    /// Keep only keys with create_revision <= this (0 = no filter).
    pub max_create_revision: Revision,
}

impl RangeRequest {
    /// A read of one key at the current revision.
    pub fn key(key: impl Into<Bytes>) -> Self {
        RangeRequest {
            range: KeyRange::key(key),
            ..Default::default()
        }
    }

    /// A read of every key under `prefix` at the current revision.
    pub fn prefix(prefix: impl Into<Bytes>) -> Self {
        RangeRequest {
            range: KeyRange::prefix(prefix),
            ..Default::default()
        }
    }
}

/// The answer to a [`RangeRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeResponse {
    /// The revision read at.
    pub header: ResponseHeader,
    /// The keys (empty when `count_only`).
    pub kvs: Vec<KeyValue>,
    /// Whether the limit cut the result short.
    pub more: bool,
    /// The number of keys in the range (before the limit).
    pub count: i64,
}

/// A write of one key, as etcd's `PutRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutRequest {
    /// The key; must not be empty.
    pub key: Bytes,
    /// The value.
    pub value: Bytes,
    /// Attach the key to this lease (0 = none). The lease must exist.
    pub lease: LeaseId,
    /// Return the previous version in the response.
    pub prev_kv: bool,
    /// Keep the current value (the key must exist).
    pub ignore_value: bool,
    /// Keep the current lease (the key must exist).
    pub ignore_lease: bool,
}

impl PutRequest {
    /// A plain put of `value` under `key`.
    pub fn new(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        }
    }
}

/// The answer to a [`PutRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutResponse {
    /// The revision of the write.
    pub header: ResponseHeader,
    /// The previous version, when asked for and one existed.
    pub prev_kv: Option<KeyValue>,
}

/// A delete of a key or range, as etcd's `DeleteRangeRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteRangeRequest {
    /// Which keys.
    pub range: KeyRange,
    /// Return the deleted versions in the response.
    pub prev_kv: bool,
}

/// The answer to a [`DeleteRangeRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteRangeResponse {
    /// The revision of the delete (the current one if nothing was deleted).
    pub header: ResponseHeader,
    /// How many keys were deleted.
    pub deleted: i64,
    /// The deleted versions, when asked for.
    pub prev_kvs: Vec<KeyValue>,
}

/// How a [`Compare`] compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareResult {
    /// `==`
    Equal,
    /// `>`
    Greater,
    /// `<`
    Less,
    /// `!=`
    NotEqual,
}

/// What a [`Compare`] looks at, with the operand to compare against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompareTarget {
    /// The key's version (0 when it does not exist).
    Version(i64),
    /// The key's create revision (0 when it does not exist).
    Create(Revision),
    /// The key's mod revision (0 when it does not exist).
    Mod(Revision),
    /// The key's value (a missing key fails every value compare).
    Value(Bytes),
    /// The key's lease (0 when none or missing).
    Lease(LeaseId),
}

/// One guard of a transaction, as etcd's `Compare`. With a non-empty `range_end` it must
/// hold for every key in the range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compare {
    /// The key or range compared.
    pub range: KeyRange,
    /// The comparison.
    pub result: CompareResult,
    /// The field and operand.
    pub target: CompareTarget,
}

/// One operation inside a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestOp {
    /// A read, at the transaction's revision.
    Range(RangeRequest),
    /// A write.
    Put(PutRequest),
    /// A delete.
    DeleteRange(DeleteRangeRequest),
    /// A nested transaction.
    Txn(TxnRequest),
}

/// The answer to one [`RequestOp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseOp {
    /// Answer to a range.
    Range(RangeResponse),
    /// Answer to a put.
    Put(PutResponse),
    /// Answer to a delete.
    DeleteRange(DeleteRangeResponse),
    /// Answer to a nested transaction.
    Txn(TxnResponse),
}

/// An atomic transaction, as etcd's `TxnRequest`: if every compare holds, run `success`,
/// otherwise `failure`; every write in it lands at one new revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnRequest {
    /// The guards.
    pub compare: Vec<Compare>,
    /// Run when every guard holds.
    pub success: Vec<RequestOp>,
    /// Run otherwise.
    pub failure: Vec<RequestOp>,
}

/// The answer to a [`TxnRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnResponse {
    /// The revision of the transaction's writes (the current one if it wrote nothing).
    pub header: ResponseHeader,
    /// Whether the compares held.
    pub succeeded: bool,
    /// One answer per operation of the branch that ran.
    pub responses: Vec<ResponseOp>,
}

/// A watch of a key or range, as etcd's `WatchCreateRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchRequest {
    /// Which keys.
    pub range: KeyRange,
    /// The first revision to report; 0 = the next write after now.
    pub start_revision: Revision,
    /// Send a progress notification (an empty batch with the current revision) every
    /// progress interval while nothing else is sent.
    pub progress_notify: bool,
    /// Do not report puts.
    pub no_put: bool,
    /// Do not report deletes.
    pub no_delete: bool,
    /// Include the previous version of each key in its event.
    pub prev_kv: bool,
}

/// What a watch stream yields: the events of one or more revisions, in revision order,
/// or a progress notification (no events).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchResponse {
    /// The store revision when the batch was sent. For a progress notification, every
    /// change up to this revision has been delivered.
    pub header: ResponseHeader,
    /// The events, in (revision, order within the transaction) order.
    pub events: Vec<Event>,
}

/// The answer to a lease grant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaseGrantResponse {
    /// The revision when the lease was granted.
    pub header: ResponseHeader,
    /// The lease's ID.
    pub id: LeaseId,
    /// The granted TTL in seconds (at least the store's minimum TTL).
    pub ttl: i64,
}

/// The answer to a lease keep-alive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaseKeepAliveResponse {
    /// The current revision.
    pub header: ResponseHeader,
    /// The lease renewed.
    pub id: LeaseId,
    /// Its new remaining TTL in seconds.
    pub ttl: i64,
}

/// The answer to a lease time-to-live query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseTimeToLiveResponse {
    /// The current revision.
    pub header: ResponseHeader,
    /// The lease.
    pub id: LeaseId,
    /// Seconds left before it expires.
    pub ttl: i64,
    /// The TTL it was granted with.
    pub granted_ttl: i64,
    /// The keys attached to it, when asked for.
    pub keys: Vec<Bytes>,
}

/// Facts about the store, as etcd's `StatusResponse` needs them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStatus {
    /// The current revision.
    pub header: ResponseHeader,
    /// The revision history is compacted up to (0 = never compacted).
    pub compact_revision: Revision,
    /// Size of the backing file in bytes (0 for the in-memory engine).
    pub db_size: i64,
    /// Bytes of it in use (an estimate where the engine cannot tell).
    pub db_size_in_use: i64,
    /// Name of the engine ("memory", "redb", "etcd").
    pub engine: &'static str,
}
