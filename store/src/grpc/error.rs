//! The facade's error type and its translation into gRPC statuses.
//!
//! etcd clients (etcdctl, the Go `clientv3`, Kubernetes) recognise etcd's errors by the
//! status message, so a [`StoreError`] is answered with its exact etcd message and the
//! code from [`StoreError::grpc_code`].

use tonic::{Code, Status};

use crate::error::{GrpcCode, StoreError};

/// Everything the gRPC facade can answer with instead of a response.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    /// The store refused or failed the request.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A request carried an enum value this version of the protocol does not define.
    #[error("etcdserver: unknown {field} value {value}")]
    UnknownEnumValue {
        /// The field that carried it, e.g. `Compare.result`.
        field: &'static str,
        /// The value received.
        value: i32,
    },
    /// A transaction operation or watch request carried none of its variants.
    #[error("etcdserver: {0} is empty")]
    EmptyUnion(&'static str),
    /// A method of the etcd API that Skiff does not provide.
    #[error("skiff: {0} is not supported")]
    Unsupported(&'static str),
}

/// The tonic code for one of the store's gRPC codes.
pub fn tonic_code(code: GrpcCode) -> Code {
    match code {
        GrpcCode::InvalidArgument => Code::InvalidArgument,
        GrpcCode::OutOfRange => Code::OutOfRange,
        GrpcCode::NotFound => Code::NotFound,
        GrpcCode::FailedPrecondition => Code::FailedPrecondition,
        GrpcCode::Unavailable => Code::Unavailable,
        GrpcCode::Internal => Code::Internal,
    }
}

impl From<GrpcError> for Status {
    fn from(err: GrpcError) -> Status {
        let code = match &err {
            GrpcError::Store(e) => tonic_code(e.grpc_code()),
            GrpcError::UnknownEnumValue { .. } | GrpcError::EmptyUnion(_) => Code::InvalidArgument,
            GrpcError::Unsupported(_) => Code::Unimplemented,
        };
        Status::new(code, err.to_string())
    }
}

/// The status etcd answers a store error with.
pub fn store_status(err: StoreError) -> Status {
    GrpcError::Store(err).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_keep_etcds_code_and_message() {
        let status = store_status(StoreError::Compacted {
            compact_revision: 7,
        });
        assert_eq!(status.code(), Code::OutOfRange);
        assert_eq!(
            status.message(),
            "etcdserver: mvcc: required revision has been compacted"
        );

        let status = store_status(StoreError::LeaseNotFound);
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "etcdserver: requested lease not found");

        let status = store_status(StoreError::EmptyKey);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "etcdserver: key is not provided");

        let status = store_status(StoreError::Stopped);
        assert_eq!(status.code(), Code::Unavailable);
    }

    #[test]
    fn facade_errors_have_their_own_codes() {
        let status: Status = GrpcError::Unsupported("Defragment").into();
        assert_eq!(status.code(), Code::Unimplemented);
        let status: Status = GrpcError::UnknownEnumValue {
            field: "Compare.result",
            value: 9,
        }
        .into();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("Compare.result"));
    }
}
