//! The store's error type. Each variant corresponds to one etcd error, so the gRPC facade
//! can answer with the code and message etcd gives ([`StoreError::grpc_code`]).

use crate::types::Revision;

/// Largest request etcd accepts by default (1.5 MiB), enforced by the store for values
/// and by the gRPC facade for whole messages.
pub const MAX_REQUEST_BYTES: usize = 1536 * 1024;

/// Most operations one transaction may hold (etcd's `--max-txn-ops` default).
pub const MAX_TXN_OPS: usize = 128;

/// Largest lease TTL accepted, in seconds (etcd's `MaxLeaseTTL`).
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

/// Everything that can go wrong in a store call.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// A request named an empty key.
    #[error("etcdserver: key is not provided")]
    EmptyKey,
    /// A put with `ignore_value` or `ignore_lease` named a key that does not exist.
    #[error("etcdserver: key not found")]
    KeyNotFound,
    /// A put set `ignore_value` and also gave a value.
    #[error("etcdserver: value is provided")]
    ValueProvided,
    /// A put set `ignore_lease` and also gave a lease.
    #[error("etcdserver: lease is provided")]
    LeaseProvided,
    /// A transaction held more than [`MAX_TXN_OPS`] operations.
    #[error("etcdserver: too many operations in txn request")]
    TooManyOps,
    /// A transaction wrote one key twice, or put a key it also deleted.
    #[error("etcdserver: duplicate key given in txn request")]
    DuplicateKey,
    /// A request was larger than [`MAX_REQUEST_BYTES`].
    #[error("etcdserver: request is too large")]
    RequestTooLarge,
    /// A range end sorts before its key.
    #[error("etcdserver: invalid range end")]
    InvalidRange,
    /// The revision asked for has been compacted away.
    #[error("etcdserver: mvcc: required revision has been compacted")]
    Compacted {
        /// The revision the store is compacted up to; the caller can resume from here.
        compact_revision: Revision,
    },
    /// The revision asked for is newer than the store's current revision.
    #[error("etcdserver: mvcc: required revision is a future revision")]
    FutureRevision {
        /// The current revision.
        current_revision: Revision,
    },
    /// The lease does not exist (never granted, revoked or expired).
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    /// A lease grant asked for an ID that is in use.
    #[error("etcdserver: lease already exists")]
    LeaseExists,
    /// A lease grant asked for a TTL above [`MAX_LEASE_TTL`].
    #[error("etcdserver: too large lease TTL")]
    LeaseTtlTooLarge,
    /// The store stopped accepting writes after a failure of its durable backend; it
    /// must be restarted. What was acknowledged before is safe on disk.
    #[error("etcdserver: storage failed, restart required: {0}")]
    Failed(String),
    /// The store is shutting down.
    #[error("etcdserver: server stopped")]
    Stopped,
    /// The data directory could not be opened (corrupt, or from an incompatible version).
    #[error("cannot open data directory: {0}")]
    Open(String),
    /// An I/O or engine error from the durable backend.
    #[error("storage error: {0}")]
    Storage(String),
    /// An error reported by a remote etcd endpoint (the remote `KvStore`).
    #[error("remote store: {0}")]
    Remote(String),
}

/// The gRPC status codes the store's errors map to (a subset of `tonic::Code`, kept
/// here so the store does not depend on tonic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcCode {
    /// INVALID_ARGUMENT
    InvalidArgument,
    /// OUT_OF_RANGE
    OutOfRange,
    /// NOT_FOUND
    NotFound,
    /// FAILED_PRECONDITION
    FailedPrecondition,
    /// UNAVAILABLE
    Unavailable,
    /// INTERNAL
    Internal,
}

impl StoreError {
    /// The gRPC code etcd answers this error with.
    pub fn grpc_code(&self) -> GrpcCode {
        use StoreError::*;
        match self {
            EmptyKey | KeyNotFound | ValueProvided | LeaseProvided | TooManyOps | DuplicateKey
            | RequestTooLarge | InvalidRange => GrpcCode::InvalidArgument,
            Compacted { .. } | FutureRevision { .. } | LeaseTtlTooLarge => GrpcCode::OutOfRange,
            LeaseNotFound => GrpcCode::NotFound,
            LeaseExists => GrpcCode::FailedPrecondition,
            Stopped | Remote(_) => GrpcCode::Unavailable,
            Failed(_) | Open(_) | Storage(_) => GrpcCode::Internal,
        }
    }
}

/// Result with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
