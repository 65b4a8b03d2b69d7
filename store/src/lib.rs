//! # skiff-store — Skiff's etcd
//!
//! An MVCC key-value store with etcd v3's semantics (global revision, per-key history,
//! transactions, watches, leases, compaction), behind the [`KvStore`] trait that the API
//! server is written against.
//!
//! # Organization
//! - [`types`]: requests and responses, shaped like etcd's `rpc.proto`.
//! - [`KvStore`] and [`WatchStream`]: the trait every engine implements.
//! - [`MvccStore`]: the store itself, over any [`Backend`].
//! - [`backend`]: where history is kept durable ([`MemoryBackend`], [`RedbBackend`]).
//! - [`StoreError`]: every error, each mapping to the gRPC status etcd answers with.
//! - [`proto`]: etcd v3's protobuf messages and gRPC server and client code.
//! - [`grpc`]: the etcd v3 gRPC API over any [`KvStore`] (what `skiff store` serves).
//! - [`RemoteStore`]: a [`KvStore`] that is a client of a remote etcd (or `skiff store`).
//! - [`location`]: the `--store` flag of a server (`embedded` or `etcd://...`) and
//!   opening the store it names.

pub mod backend;
mod error;
pub mod grpc;
mod kv;
pub mod location;
mod mvcc;
pub mod proto;
mod remote;
pub mod types;

pub use backend::{Backend, MemoryBackend, RedbBackend};
pub use error::{GrpcCode, Result, StoreError, MAX_LEASE_TTL, MAX_REQUEST_BYTES, MAX_TXN_OPS};
pub use kv::{KvStore, WatchStream};
pub use mvcc::{MvccStore, StoreConfig};
pub use remote::{RemoteOptions, RemoteStore};
pub use types::*;
