//! etcd v3's protobuf messages and gRPC services, generated at build time from
//! `store/proto/` (etcd 3.5's `rpc.proto`, `kv.proto` and `auth.proto`: same packages,
//! names and field numbers, so the wire format and service paths such as
//! `/etcdserverpb.KV/Range` are etcd's).
//!
//! Each package has the messages plus, per service, a `*_server` module (a trait to
//! implement and a tonic service wrapping it) and a `*_client` module (a tonic client).
//! The gRPC facade ([`crate::grpc`]) implements the servers; the clients serve anyone
//! talking to a real etcd or to `skiff store`.
//!
//! `bytes` fields are [`bytes::Bytes`], so keys and values move between the wire and the
//! store without copies.

/// etcd's key-value messages: `KeyValue` and `Event` (package `mvccpb`).
#[allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::all)]
pub mod mvccpb {
    tonic::include_proto!("mvccpb");
}

/// etcd's authentication messages (package `authpb`). Skiff does not implement
/// authentication; they are here because the `Auth` service refers to them.
#[allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::all)]
pub mod authpb {
    tonic::include_proto!("authpb");
}

/// etcd's gRPC API (package `etcdserverpb`): the `KV`, `Watch`, `Lease`, `Cluster`,
/// `Maintenance` and `Auth` services and their messages.
#[allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::all)]
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}
