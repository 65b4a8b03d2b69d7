//! Conversions between etcd's protobuf messages ([`crate::proto`]) and the store's own
//! request and response types ([`crate::types`]).
//!
//! Requests go proto → store (`*_from_proto`), responses store → proto (`*_to_proto`).
//! A few of etcd's gRPC-layer conventions are applied on the way in, exactly where etcd
//! applies them: a revision <= 0 means "current"; a range sorted by a target other than
//! the key with no order is sorted ascending; a watch of the empty key watches `"\0"`.

use bytes::Bytes;

use super::error::GrpcError;
use super::identity::ServerIdentity;
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::compare::TargetUnion;
use crate::proto::etcdserverpb::request_op::Request;
use crate::proto::etcdserverpb::response_op::Response;
use crate::proto::mvccpb;
use crate::types::*;

/// Result of a conversion from protobuf.
pub type ConvertResult<T> = Result<T, GrpcError>;

// ---- proto -> store (requests) ----

/// A `RangeRequest` from the wire.
pub fn range_from_proto(r: pb::RangeRequest) -> ConvertResult<RangeRequest> {
    use pb::range_request::{SortOrder as PbOrder, SortTarget as PbTarget};
    let sort_order = match PbOrder::try_from(r.sort_order) {
        Ok(PbOrder::None) => SortOrder::None,
        Ok(PbOrder::Ascend) => SortOrder::Ascend,
        Ok(PbOrder::Descend) => SortOrder::Descend,
        Err(_) => return Err(unknown("RangeRequest.sort_order", r.sort_order)),
    };
    let sort_target = match PbTarget::try_from(r.sort_target) {
        Ok(PbTarget::Key) => SortTarget::Key,
        Ok(PbTarget::Version) => SortTarget::Version,
        Ok(PbTarget::Create) => SortTarget::Create,
        Ok(PbTarget::Mod) => SortTarget::Mod,
        Ok(PbTarget::Value) => SortTarget::Value,
        Err(_) => return Err(unknown("RangeRequest.sort_target", r.sort_target)),
    };
    // etcd: results come in key order, so a sort by anything else with no order given
    // is an ascending sort.
    let sort_order = if sort_target != SortTarget::Key && sort_order == SortOrder::None {
        SortOrder::Ascend
    } else {
        sort_order
    };
    Ok(RangeRequest {
        range: KeyRange::range(r.key, r.range_end),
        revision: r.revision.max(0),
        limit: r.limit.max(0),
        count_only: r.count_only,
        keys_only: r.keys_only,
        sort_order,
        sort_target,
        serializable: r.serializable,
        min_mod_revision: r.min_mod_revision,
        max_mod_revision: r.max_mod_revision,
        min_create_revision: r.min_create_revision,
        max_create_revision: r.max_create_revision,
    })
}

/// A `PutRequest` from the wire.
pub fn put_from_proto(r: pb::PutRequest) -> PutRequest {
    PutRequest {
        key: r.key,
        value: r.value,
        lease: r.lease,
        prev_kv: r.prev_kv,
        ignore_value: r.ignore_value,
        ignore_lease: r.ignore_lease,
    }
}

/// A `DeleteRangeRequest` from the wire.
pub fn delete_range_from_proto(r: pb::DeleteRangeRequest) -> DeleteRangeRequest {
    DeleteRangeRequest {
        range: KeyRange::range(r.key, r.range_end),
        prev_kv: r.prev_kv,
    }
}

/// One `Compare` of a transaction from the wire. A target union that does not match the
/// target compares against zero (or the empty value), as etcd does.
pub fn compare_from_proto(c: pb::Compare) -> ConvertResult<Compare> {
    use pb::compare::{CompareResult as PbResult, CompareTarget as PbTarget};
    let result = match PbResult::try_from(c.result) {
        Ok(PbResult::Equal) => CompareResult::Equal,
        Ok(PbResult::Greater) => CompareResult::Greater,
        Ok(PbResult::Less) => CompareResult::Less,
        Ok(PbResult::NotEqual) => CompareResult::NotEqual,
        Err(_) => return Err(unknown("Compare.result", c.result)),
    };
    let union = c.target_union;
    let int = |pick: fn(&TargetUnion) -> Option<i64>| union.as_ref().and_then(pick).unwrap_or(0);
    let target = match PbTarget::try_from(c.target) {
        Ok(PbTarget::Version) => CompareTarget::Version(int(|u| match u {
            TargetUnion::Version(v) => Some(*v),
            _ => None,
        })),
        Ok(PbTarget::Create) => CompareTarget::Create(int(|u| match u {
            TargetUnion::CreateRevision(v) => Some(*v),
            _ => None,
        })),
        Ok(PbTarget::Mod) => CompareTarget::Mod(int(|u| match u {
            TargetUnion::ModRevision(v) => Some(*v),
            _ => None,
        })),
        Ok(PbTarget::Lease) => CompareTarget::Lease(int(|u| match u {
            TargetUnion::Lease(v) => Some(*v),
            _ => None,
        })),
        Ok(PbTarget::Value) => CompareTarget::Value(match &union {
            Some(TargetUnion::Value(v)) => v.clone(),
            _ => Bytes::new(),
        }),
        Err(_) => return Err(unknown("Compare.target", c.target)),
    };
    Ok(Compare {
        range: KeyRange::range(c.key, c.range_end),
        result,
        target,
    })
}

/// One operation of a transaction from the wire.
pub fn request_op_from_proto(op: pb::RequestOp) -> ConvertResult<RequestOp> {
    Ok(match op.request {
        Some(Request::RequestRange(r)) => RequestOp::Range(range_from_proto(r)?),
        Some(Request::RequestPut(r)) => RequestOp::Put(put_from_proto(r)),
        Some(Request::RequestDeleteRange(r)) => RequestOp::DeleteRange(delete_range_from_proto(r)),
        Some(Request::RequestTxn(r)) => RequestOp::Txn(txn_from_proto(r)?),
        None => return Err(GrpcError::EmptyUnion("RequestOp")),
    })
}

/// A `TxnRequest` from the wire (nested transactions included).
pub fn txn_from_proto(t: pb::TxnRequest) -> ConvertResult<TxnRequest> {
    Ok(TxnRequest {
        compare: t
            .compare
            .into_iter()
            .map(compare_from_proto)
            .collect::<ConvertResult<_>>()?,
        success: t
            .success
            .into_iter()
            .map(request_op_from_proto)
            .collect::<ConvertResult<_>>()?,
        failure: t
            .failure
            .into_iter()
            .map(request_op_from_proto)
            .collect::<ConvertResult<_>>()?,
    })
}

/// A `WatchCreateRequest` from the wire.
pub fn watch_from_proto(w: &pb::WatchCreateRequest) -> ConvertResult<WatchRequest> {
    use pb::watch_create_request::FilterType;
    let mut no_put = false;
    let mut no_delete = false;
    for &f in &w.filters {
        match FilterType::try_from(f) {
            Ok(FilterType::Noput) => no_put = true,
            Ok(FilterType::Nodelete) => no_delete = true,
            Err(_) => return Err(unknown("WatchCreateRequest.filters", f)),
        }
    }
    // etcd: "\0" is the smallest key, and what a watch of the empty key watches.
    let key = if w.key.is_empty() {
        Bytes::from_static(&[0])
    } else {
        w.key.clone()
    };
    Ok(WatchRequest {
        range: KeyRange::range(key, w.range_end.clone()),
        start_revision: w.start_revision.max(0),
        progress_notify: w.progress_notify,
        no_put,
        no_delete,
        prev_kv: w.prev_kv,
    })
}

fn unknown(field: &'static str, value: i32) -> GrpcError {
    GrpcError::UnknownEnumValue { field, value }
}

// ---- store -> proto (responses) ----

/// A key-value pair for the wire.
pub fn kv_to_proto(kv: KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

/// A watch event for the wire.
pub fn event_to_proto(e: Event) -> mvccpb::Event {
    let kind = match e.kind {
        EventType::Put => mvccpb::event::EventType::Put,
        EventType::Delete => mvccpb::event::EventType::Delete,
    };
    mvccpb::Event {
        r#type: kind as i32,
        kv: Some(kv_to_proto(e.kv)),
        prev_kv: e.prev_kv.map(kv_to_proto),
    }
}

/// A range answer for the wire.
pub fn range_to_proto(id: &ServerIdentity, r: RangeResponse) -> pb::RangeResponse {
    pb::RangeResponse {
        header: Some(id.header(r.header.revision)),
        kvs: r.kvs.into_iter().map(kv_to_proto).collect(),
        more: r.more,
        count: r.count,
    }
}

/// A put answer for the wire.
pub fn put_to_proto(id: &ServerIdentity, r: PutResponse) -> pb::PutResponse {
    pb::PutResponse {
        header: Some(id.header(r.header.revision)),
        prev_kv: r.prev_kv.map(kv_to_proto),
    }
}

/// A delete answer for the wire.
pub fn delete_range_to_proto(
    id: &ServerIdentity,
    r: DeleteRangeResponse,
) -> pb::DeleteRangeResponse {
    pb::DeleteRangeResponse {
        header: Some(id.header(r.header.revision)),
        deleted: r.deleted,
        prev_kvs: r.prev_kvs.into_iter().map(kv_to_proto).collect(),
    }
}

/// A transaction answer for the wire (nested answers included).
pub fn txn_to_proto(id: &ServerIdentity, r: TxnResponse) -> pb::TxnResponse {
    let responses = r
        .responses
        .into_iter()
        .map(|op| pb::ResponseOp {
            response: Some(match op {
                ResponseOp::Range(r) => Response::ResponseRange(range_to_proto(id, r)),
                ResponseOp::Put(r) => Response::ResponsePut(put_to_proto(id, r)),
                ResponseOp::DeleteRange(r) => {
                    Response::ResponseDeleteRange(delete_range_to_proto(id, r))
                }
                ResponseOp::Txn(r) => Response::ResponseTxn(txn_to_proto(id, r)),
            }),
        })
        .collect();
    pb::TxnResponse {
        header: Some(id.header(r.header.revision)),
        succeeded: r.succeeded,
        responses,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> ServerIdentity {
        ServerIdentity::new("test", vec!["http://127.0.0.1:2379".into()])
    }

    #[test]
    fn range_keeps_every_field_and_normalises_revision_and_sort() {
        let r = range_from_proto(pb::RangeRequest {
            key: Bytes::from_static(b"a"),
            range_end: Bytes::from_static(b"b"),
            limit: 5,
            revision: -3,
            sort_order: 0,
            sort_target: pb::range_request::SortTarget::Mod as i32,
            serializable: true,
            keys_only: true,
            count_only: false,
            min_mod_revision: 1,
            max_mod_revision: 2,
            min_create_revision: 3,
            max_create_revision: 4,
        })
        .unwrap();
        assert_eq!(r.range, KeyRange::range(&b"a"[..], &b"b"[..]));
        assert_eq!(r.revision, 0);
        assert_eq!(r.limit, 5);
        assert_eq!(r.sort_target, SortTarget::Mod);
        assert_eq!(
            r.sort_order,
            SortOrder::Ascend,
            "etcd sorts ascending when only a target is given"
        );
        assert!(r.serializable && r.keys_only && !r.count_only);
        assert_eq!(
            (
                r.min_mod_revision,
                r.max_mod_revision,
                r.min_create_revision,
                r.max_create_revision
            ),
            (1, 2, 3, 4)
        );

        let keyed = range_from_proto(pb::RangeRequest {
            key: Bytes::from_static(b"a"),
            sort_order: pb::range_request::SortOrder::Descend as i32,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (keyed.sort_order, keyed.sort_target),
            (SortOrder::Descend, SortTarget::Key)
        );
    }

    #[test]
    fn unknown_enum_values_are_refused() {
        let err = range_from_proto(pb::RangeRequest {
            sort_order: 7,
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(
            err,
            GrpcError::UnknownEnumValue {
                field: "RangeRequest.sort_order",
                value: 7
            }
        ));
        let err = compare_from_proto(pb::Compare {
            target: 42,
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(
            err,
            GrpcError::UnknownEnumValue {
                field: "Compare.target",
                ..
            }
        ));
        let err = watch_from_proto(&pb::WatchCreateRequest {
            filters: vec![5],
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(err, GrpcError::UnknownEnumValue { .. }));
    }

    #[test]
    fn compares_take_their_operand_from_the_union() {
        use pb::compare::{CompareResult as R, CompareTarget as T};
        let c = compare_from_proto(pb::Compare {
            result: R::NotEqual as i32,
            target: T::Value as i32,
            key: Bytes::from_static(b"k"),
            range_end: Bytes::new(),
            target_union: Some(TargetUnion::Value(Bytes::from_static(b"v"))),
        })
        .unwrap();
        assert_eq!(c.result, CompareResult::NotEqual);
        assert_eq!(c.target, CompareTarget::Value(Bytes::from_static(b"v")));
        assert_eq!(c.range, KeyRange::key(&b"k"[..]));

        for (target, union, want) in [
            (
                T::Version,
                TargetUnion::Version(3),
                CompareTarget::Version(3),
            ),
            (
                T::Create,
                TargetUnion::CreateRevision(4),
                CompareTarget::Create(4),
            ),
            (T::Mod, TargetUnion::ModRevision(5), CompareTarget::Mod(5)),
            (T::Lease, TargetUnion::Lease(6), CompareTarget::Lease(6)),
        ] {
            let c = compare_from_proto(pb::Compare {
                result: R::Greater as i32,
                target: target as i32,
                key: Bytes::from_static(b"k"),
                range_end: Bytes::from_static(b"z"),
                target_union: Some(union),
            })
            .unwrap();
            assert_eq!(c.target, want);
            assert_eq!(c.result, CompareResult::Greater);
            assert_eq!(c.range, KeyRange::range(&b"k"[..], &b"z"[..]));
        }

        // A union of the wrong kind compares against zero, as in etcd.
        let c = compare_from_proto(pb::Compare {
            target: T::Mod as i32,
            key: Bytes::from_static(b"k"),
            target_union: Some(TargetUnion::Version(9)),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.target, CompareTarget::Mod(0));
    }

    #[test]
    fn nested_transactions_convert_both_ways() {
        let inner = pb::TxnRequest {
            compare: vec![],
            success: vec![pb::RequestOp {
                request: Some(Request::RequestDeleteRange(pb::DeleteRangeRequest {
                    key: Bytes::from_static(b"d"),
                    range_end: Bytes::from_static(&[0]),
                    prev_kv: true,
                })),
            }],
            failure: vec![],
        };
        let txn = txn_from_proto(pb::TxnRequest {
            compare: vec![pb::Compare {
                key: Bytes::from_static(b"k"),
                ..Default::default()
            }],
            success: vec![
                pb::RequestOp {
                    request: Some(Request::RequestPut(pb::PutRequest {
                        key: Bytes::from_static(b"k"),
                        value: Bytes::from_static(b"v"),
                        lease: 7,
                        prev_kv: true,
                        ignore_value: false,
                        ignore_lease: false,
                    })),
                },
                pb::RequestOp {
                    request: Some(Request::RequestTxn(inner)),
                },
            ],
            failure: vec![pb::RequestOp {
                request: Some(Request::RequestRange(pb::RangeRequest {
                    key: Bytes::from_static(b"k"),
                    ..Default::default()
                })),
            }],
        })
        .unwrap();
        assert_eq!(txn.compare.len(), 1);
        assert_eq!(
            txn.success[0],
            RequestOp::Put(PutRequest {
                lease: 7,
                prev_kv: true,
                ..PutRequest::new(&b"k"[..], &b"v"[..])
            })
        );
        let RequestOp::Txn(nested) = &txn.success[1] else {
            panic!("expected a nested txn")
        };
        assert_eq!(
            nested.success[0],
            RequestOp::DeleteRange(DeleteRangeRequest {
                range: KeyRange::range(&b"d"[..], &[0u8][..]),
                prev_kv: true
            })
        );
        assert_eq!(
            txn.failure[0],
            RequestOp::Range(RangeRequest::key(&b"k"[..]))
        );

        let err = txn_from_proto(pb::TxnRequest {
            success: vec![pb::RequestOp { request: None }],
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(err, GrpcError::EmptyUnion("RequestOp")));

        let id = identity();
        let kv = KeyValue {
            key: Bytes::from_static(b"k"),
            create_revision: 2,
            mod_revision: 3,
            version: 2,
            value: Bytes::from_static(b"v"),
            lease: 0,
        };
        let out = txn_to_proto(
            &id,
            TxnResponse {
                header: ResponseHeader { revision: 9 },
                succeeded: true,
                responses: vec![
                    ResponseOp::Put(PutResponse {
                        header: ResponseHeader { revision: 9 },
                        prev_kv: Some(kv.clone()),
                    }),
                    ResponseOp::Txn(TxnResponse {
                        header: ResponseHeader { revision: 9 },
                        succeeded: false,
                        responses: vec![ResponseOp::Range(RangeResponse {
                            header: ResponseHeader { revision: 9 },
                            kvs: vec![kv.clone()],
                            more: true,
                            count: 4,
                        })],
                    }),
                ],
            },
        );
        assert!(out.succeeded);
        assert_eq!(out.header.unwrap().revision, 9);
        assert_eq!(out.header.unwrap().member_id, id.member_id);
        let Some(Response::ResponsePut(put)) = &out.responses[0].response else {
            panic!("expected a put")
        };
        assert_eq!(put.prev_kv.as_ref().unwrap().mod_revision, 3);
        let Some(Response::ResponseTxn(nested)) = &out.responses[1].response else {
            panic!("expected a txn")
        };
        assert!(!nested.succeeded);
        let Some(Response::ResponseRange(range)) = &nested.responses[0].response else {
            panic!("expected a range")
        };
        assert_eq!((range.more, range.count, range.kvs.len()), (true, 4, 1));
        assert_eq!(range.kvs[0].value, Bytes::from_static(b"v"));
    }

    #[test]
    fn watch_create_maps_filters_and_the_empty_key() {
        use pb::watch_create_request::FilterType;
        let w = watch_from_proto(&pb::WatchCreateRequest {
            key: Bytes::new(),
            range_end: Bytes::from_static(&[0]),
            start_revision: 5,
            progress_notify: true,
            filters: vec![FilterType::Nodelete as i32],
            prev_kv: true,
            watch_id: 3,
            fragment: false,
        })
        .unwrap();
        assert_eq!(w.range, KeyRange::range(&[0u8][..], &[0u8][..]));
        assert_eq!(w.start_revision, 5);
        assert!(w.progress_notify && w.prev_kv && w.no_delete && !w.no_put);
    }

    #[test]
    fn events_keep_kind_and_prev_kv() {
        let kv = KeyValue {
            key: Bytes::from_static(b"k"),
            mod_revision: 4,
            ..Default::default()
        };
        let e = event_to_proto(Event {
            kind: EventType::Delete,
            kv: kv.clone(),
            prev_kv: Some(kv.clone()),
        });
        assert_eq!(e.r#type, mvccpb::event::EventType::Delete as i32);
        assert_eq!(e.kv.unwrap().mod_revision, 4);
        assert!(e.prev_kv.is_some());
        let e = event_to_proto(Event {
            kind: EventType::Put,
            kv,
            prev_kv: None,
        });
        assert_eq!(e.r#type, mvccpb::event::EventType::Put as i32);
        assert!(e.prev_kv.is_none());
    }
}
