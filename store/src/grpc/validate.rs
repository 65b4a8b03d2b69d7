//! The checks etcd's gRPC layer makes before a request reaches the store (etcd's
//! `v3rpc/key.go`): size, empty keys, contradictory put options, transaction size and
//! keys written twice in one transaction.

use std::collections::HashSet;

use bytes::Bytes;
use prost::Message;

use crate::error::{StoreError, MAX_REQUEST_BYTES, MAX_TXN_OPS};
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::request_op::Request;
use crate::types::KeyRange;

/// Refuse a request whose encoding is larger than etcd's request limit.
pub fn check_size(msg: &impl Message) -> Result<(), StoreError> {
    if msg.encoded_len() > MAX_REQUEST_BYTES {
        return Err(StoreError::RequestTooLarge);
    }
    Ok(())
}

/// Checks of a range.
pub fn check_range(r: &pb::RangeRequest) -> Result<(), StoreError> {
    if r.key.is_empty() {
        return Err(StoreError::EmptyKey);
    }
    Ok(())
}

/// Checks of a put.
pub fn check_put(r: &pb::PutRequest) -> Result<(), StoreError> {
    if r.key.is_empty() {
        return Err(StoreError::EmptyKey);
    }
    if r.ignore_value && !r.value.is_empty() {
        return Err(StoreError::ValueProvided);
    }
    if r.ignore_lease && r.lease != 0 {
        return Err(StoreError::LeaseProvided);
    }
    Ok(())
}

/// Checks of a delete.
pub fn check_delete_range(r: &pb::DeleteRangeRequest) -> Result<(), StoreError> {
    if r.key.is_empty() {
        return Err(StoreError::EmptyKey);
    }
    Ok(())
}

/// Checks of a transaction: at most [`MAX_TXN_OPS`] compares or operations per branch
/// (counting nested transactions against the same budget, as etcd does), no empty keys,
/// and no key put twice, or put and deleted, on one path through the transaction.
pub fn check_txn(t: &pb::TxnRequest) -> Result<(), StoreError> {
    check_txn_ops(t, MAX_TXN_OPS as i64)?;
    check_intervals(&t.success)?;
    check_intervals(&t.failure)?;
    Ok(())
}

fn check_txn_ops(t: &pb::TxnRequest, max_ops: i64) -> Result<(), StoreError> {
    let ops = t.compare.len().max(t.success.len()).max(t.failure.len()) as i64;
    if ops > max_ops {
        return Err(StoreError::TooManyOps);
    }
    if t.compare.iter().any(|c| c.key.is_empty()) {
        return Err(StoreError::EmptyKey);
    }
    for op in t.success.iter().chain(&t.failure) {
        check_op(op, max_ops - ops)?;
    }
    Ok(())
}

fn check_op(op: &pb::RequestOp, max_ops: i64) -> Result<(), StoreError> {
    match &op.request {
        Some(Request::RequestRange(r)) => check_range(r),
        Some(Request::RequestPut(r)) => check_put(r),
        Some(Request::RequestDeleteRange(r)) => check_delete_range(r),
        Some(Request::RequestTxn(t)) => check_txn_ops(t, max_ops),
        // etcd answers an empty operation with "key not found".
        None => Err(StoreError::KeyNotFound),
    }
}

/// The keys put and ranges deleted on one branch, nested transactions included.
struct Writes {
    puts: HashSet<Bytes>,
    dels: Vec<KeyRange>,
}

impl Writes {
    fn deleted(&self, key: &[u8]) -> bool {
        self.dels.iter().any(|d| d.contains(key))
    }
}

/// etcd's `checkIntervals`: a key may be written once per path. The two branches of a
/// nested transaction are alternatives, so they may write the same key as each other.
fn check_intervals(ops: &[pb::RequestOp]) -> Result<Writes, StoreError> {
    let mut writes = Writes {
        puts: HashSet::new(),
        dels: Vec::new(),
    };
    for op in ops {
        if let Some(Request::RequestDeleteRange(d)) = &op.request {
            writes
                .dels
                .push(KeyRange::range(d.key.clone(), d.range_end.clone()));
        }
    }
    for op in ops {
        let Some(Request::RequestTxn(t)) = &op.request else {
            continue;
        };
        let then = check_intervals(&t.success)?;
        let otherwise = check_intervals(&t.failure)?;
        for k in &then.puts {
            if writes.puts.contains(k) || writes.deleted(k) {
                return Err(StoreError::DuplicateKey);
            }
        }
        for k in &otherwise.puts {
            if (writes.puts.contains(k) && !then.puts.contains(k)) || writes.deleted(k) {
                return Err(StoreError::DuplicateKey);
            }
        }
        writes.puts.extend(then.puts);
        writes.puts.extend(otherwise.puts);
        writes.dels.extend(then.dels);
        writes.dels.extend(otherwise.dels);
    }
    for op in ops {
        let Some(Request::RequestPut(p)) = &op.request else {
            continue;
        };
        if writes.puts.contains(&p.key) || writes.deleted(&p.key) {
            return Err(StoreError::DuplicateKey);
        }
        writes.puts.insert(p.key.clone());
    }
    Ok(writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &'static [u8]) -> pb::RequestOp {
        pb::RequestOp {
            request: Some(Request::RequestPut(pb::PutRequest {
                key: Bytes::from_static(k),
                ..Default::default()
            })),
        }
    }

    fn del(k: &'static [u8], end: &'static [u8]) -> pb::RequestOp {
        pb::RequestOp {
            request: Some(Request::RequestDeleteRange(pb::DeleteRangeRequest {
                key: Bytes::from_static(k),
                range_end: Bytes::from_static(end),
                prev_kv: false,
            })),
        }
    }

    fn txn(success: Vec<pb::RequestOp>, failure: Vec<pb::RequestOp>) -> pb::TxnRequest {
        pb::TxnRequest {
            compare: vec![],
            success,
            failure,
        }
    }

    fn nested(success: Vec<pb::RequestOp>, failure: Vec<pb::RequestOp>) -> pb::RequestOp {
        pb::RequestOp {
            request: Some(Request::RequestTxn(txn(success, failure))),
        }
    }

    #[test]
    fn empty_keys_and_put_options() {
        assert_eq!(
            check_range(&pb::RangeRequest::default()),
            Err(StoreError::EmptyKey)
        );
        assert_eq!(
            check_put(&pb::PutRequest::default()),
            Err(StoreError::EmptyKey)
        );
        assert_eq!(
            check_delete_range(&pb::DeleteRangeRequest::default()),
            Err(StoreError::EmptyKey)
        );
        let p = pb::PutRequest {
            key: Bytes::from_static(b"k"),
            value: Bytes::from_static(b"v"),
            ignore_value: true,
            ..Default::default()
        };
        assert_eq!(check_put(&p), Err(StoreError::ValueProvided));
        let p = pb::PutRequest {
            key: Bytes::from_static(b"k"),
            lease: 1,
            ignore_lease: true,
            ..Default::default()
        };
        assert_eq!(check_put(&p), Err(StoreError::LeaseProvided));
        let p = pb::PutRequest {
            key: Bytes::from_static(b"k"),
            ..Default::default()
        };
        assert_eq!(check_put(&p), Ok(()));
    }

    #[test]
    fn size_limit() {
        let small = pb::PutRequest {
            key: Bytes::from_static(b"k"),
            ..Default::default()
        };
        assert_eq!(check_size(&small), Ok(()));
        let big = pb::PutRequest {
            key: Bytes::from_static(b"k"),
            value: vec![0u8; MAX_REQUEST_BYTES].into(),
            ..Default::default()
        };
        assert_eq!(check_size(&big), Err(StoreError::RequestTooLarge));
    }

    #[test]
    fn too_many_ops_counts_nested_transactions() {
        let many: Vec<_> = (0..=MAX_TXN_OPS)
            .map(|_| pb::RequestOp { request: None })
            .collect();
        assert_eq!(check_txn(&txn(many, vec![])), Err(StoreError::TooManyOps));
        // 100 at the top leaves 28 for the nested one.
        let mut ops: Vec<_> = (0..100)
            .map(|_| pb::RequestOp {
                request: Some(Request::RequestRange(pb::RangeRequest {
                    key: Bytes::from_static(b"k"),
                    ..Default::default()
                })),
            })
            .collect();
        let inner: Vec<_> = (0..29)
            .map(|_| pb::RequestOp {
                request: Some(Request::RequestRange(pb::RangeRequest {
                    key: Bytes::from_static(b"k"),
                    ..Default::default()
                })),
            })
            .collect();
        ops.push(nested(inner, vec![]));
        assert_eq!(check_txn(&txn(ops, vec![])), Err(StoreError::TooManyOps));
    }

    #[test]
    fn empty_op_and_empty_compare_key() {
        assert_eq!(
            check_txn(&txn(vec![pb::RequestOp { request: None }], vec![])),
            Err(StoreError::KeyNotFound)
        );
        let t = pb::TxnRequest {
            compare: vec![pb::Compare::default()],
            ..Default::default()
        };
        assert_eq!(check_txn(&t), Err(StoreError::EmptyKey));
    }

    #[test]
    fn duplicate_writes() {
        assert_eq!(
            check_txn(&txn(vec![put(b"a"), put(b"a")], vec![])),
            Err(StoreError::DuplicateKey)
        );
        assert_eq!(
            check_txn(&txn(vec![put(b"b"), del(b"a", b"c")], vec![])),
            Err(StoreError::DuplicateKey)
        );
        assert_eq!(
            check_txn(&txn(vec![put(b"a"), del(b"b", &[0])], vec![])),
            Ok(())
        );
        assert_eq!(
            check_txn(&txn(vec![put(b"z"), del(b"b", &[0])], vec![])),
            Err(StoreError::DuplicateKey)
        );
        // The two branches of the top transaction are alternatives.
        assert_eq!(check_txn(&txn(vec![put(b"a")], vec![put(b"a")])), Ok(()));
        // So are those of a nested one...
        assert_eq!(
            check_txn(&txn(vec![nested(vec![put(b"a")], vec![put(b"a")])], vec![])),
            Ok(())
        );
        // ...but not a nested write and one of the enclosing branch.
        assert_eq!(
            check_txn(&txn(
                vec![put(b"a"), nested(vec![put(b"a")], vec![])],
                vec![]
            )),
            Err(StoreError::DuplicateKey)
        );
        assert_eq!(
            check_txn(&txn(
                vec![del(b"a", b""), nested(vec![], vec![put(b"a")])],
                vec![]
            )),
            Err(StoreError::DuplicateKey)
        );
        // Deleting the same key twice is allowed.
        assert_eq!(
            check_txn(&txn(vec![del(b"a", b""), del(b"a", b"")], vec![])),
            Ok(())
        );
    }
}
