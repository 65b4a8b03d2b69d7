//! gRPC statuses from etcd, read back into [`StoreError`]s.
//!
//! etcd reports its errors as gRPC statuses whose message is the error's text
//! (`etcdserver: ...`); the store's errors carry exactly those texts, so a status maps
//! back by its message. Failures of the connection itself are told apart by whether
//! the request can have reached a server, which decides whether it may be retried.

use std::error::Error;

use tonic::{Code, Status};

use crate::error::StoreError;
use crate::remote::connection::source_chain;

/// What a failed call tells the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// etcd answered with an error. `Compacted` and `FutureRevision` come with revision
    /// 0: etcd's status does not carry them, the caller looks them up.
    Etcd(StoreError),
    /// The request cannot have reached a server (no connection could be made): safe to
    /// send again, to this endpoint or another.
    NotSent(String),
    /// The connection failed with the request possibly in flight: whether it took
    /// effect is unknown. Only requests without side effects may be sent again.
    InFlight(String),
}

/// The errors etcd defines whose text identifies them completely.
fn fixed_errors() -> [StoreError; 12] {
    use StoreError::*;
    [
        EmptyKey,
        KeyNotFound,
        ValueProvided,
        LeaseProvided,
        TooManyOps,
        DuplicateKey,
        RequestTooLarge,
        InvalidRange,
        LeaseNotFound,
        LeaseExists,
        LeaseTtlTooLarge,
        Stopped,
    ]
}

/// The [`StoreError`] for a status that etcd sent, by its message.
pub(crate) fn etcd_error(message: &str) -> StoreError {
    let compacted = StoreError::Compacted {
        compact_revision: 0,
    };
    let future = StoreError::FutureRevision {
        current_revision: 0,
    };
    if message == compacted.to_string() {
        return compacted;
    }
    if message == future.to_string() {
        return future;
    }
    fixed_errors()
        .into_iter()
        .find(|e| e.to_string() == message)
        .unwrap_or_else(|| StoreError::Remote(message.to_string()))
}

/// Whether the status was made by the client's transport rather than sent by a server:
/// tonic attaches the transport error as the status's source. etcd's own statuses all
/// read `etcdserver: ...`.
fn is_transport_error(status: &Status) -> bool {
    status.source().is_some()
        || (status.code() == Code::Unavailable && !status.message().starts_with("etcdserver:"))
}

/// Whether a transport error happened while connecting, before the request was sent.
fn is_connect_error(status: &Status) -> bool {
    let mut cur: Option<&(dyn Error + 'static)> = status.source();
    while let Some(e) = cur {
        if e.downcast_ref::<tonic::ConnectError>().is_some() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// Classify a failed call.
pub(crate) fn classify(status: &Status) -> Failure {
    if is_transport_error(status) {
        let text = match status.source() {
            Some(s) => format!("{}: {}", status.message(), source_chain(s)),
            None => status.message().to_string(),
        };
        if is_connect_error(status) {
            return Failure::NotSent(text);
        }
        return Failure::InFlight(text);
    }
    Failure::Etcd(etcd_error(status.message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_messages_map_to_their_errors() {
        for e in fixed_errors() {
            let status = Status::new(Code::InvalidArgument, e.to_string());
            assert_eq!(classify(&status), Failure::Etcd(e));
        }
        let compacted =
            Status::out_of_range("etcdserver: mvcc: required revision has been compacted");
        assert_eq!(
            classify(&compacted),
            Failure::Etcd(StoreError::Compacted {
                compact_revision: 0
            })
        );
        let future =
            Status::out_of_range("etcdserver: mvcc: required revision is a future revision");
        assert_eq!(
            classify(&future),
            Failure::Etcd(StoreError::FutureRevision {
                current_revision: 0
            })
        );
    }

    #[test]
    fn other_server_errors_are_remote() {
        let status = Status::unavailable("etcdserver: leader changed");
        assert_eq!(
            classify(&status),
            Failure::Etcd(StoreError::Remote("etcdserver: leader changed".into()))
        );
        let status = Status::resource_exhausted("etcdserver: mvcc: database space exceeded");
        assert!(matches!(
            classify(&status),
            Failure::Etcd(StoreError::Remote(_))
        ));
    }

    #[test]
    fn transport_failures_are_told_apart() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let refused = Status::from_error(Box::new(tonic::ConnectError(Box::new(io))));
        assert_eq!(refused.code(), Code::Unavailable);
        assert!(
            matches!(classify(&refused), Failure::NotSent(_)),
            "{refused:?}"
        );
        let reset = Status::unavailable("connection reset");
        assert!(matches!(classify(&reset), Failure::InFlight(_)));
        let server_side = Status::unavailable("etcdserver: no leader");
        assert!(matches!(
            classify(&server_side),
            Failure::Etcd(StoreError::Remote(_))
        ));
    }
}
