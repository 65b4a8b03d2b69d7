//! Conversions between the store's request/response types and etcd's protobuf
//! messages, in the direction a client needs: requests to protobuf, responses from it.

use bytes::Bytes;

use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::{compare, range_request, request_op, response_op};
use crate::proto::mvccpb;
use crate::types::*;

/// The key and range end of `range`, as etcd spells them too (every key is `[0]` to
/// `[0]`; an empty key goes as is, for etcd to refuse).
pub(crate) fn key_and_end(range: KeyRange) -> (Bytes, Bytes) {
    (range.key, range.range_end)
}

/// The revision of an optional response header (0 when absent).
pub(crate) fn header(h: Option<pb::ResponseHeader>) -> ResponseHeader {
    ResponseHeader {
        revision: h.map_or(0, |h| h.revision),
    }
}

/// A key-value from etcd.
pub(crate) fn key_value(kv: mvccpb::KeyValue) -> KeyValue {
    KeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

/// A watch event from etcd. Unknown event types (none exist in etcd v3) read as puts.
pub(crate) fn event(ev: mvccpb::Event) -> Event {
    let kind = match mvccpb::event::EventType::try_from(ev.r#type) {
        Ok(mvccpb::event::EventType::Delete) => EventType::Delete,
        _ => EventType::Put,
    };
    Event {
        kind,
        kv: key_value(ev.kv.unwrap_or_default()),
        prev_kv: ev.prev_kv.map(key_value),
    }
}

/// A range request to etcd.
pub(crate) fn range_request(r: RangeRequest) -> pb::RangeRequest {
    let (key, range_end) = key_and_end(r.range);
    let sort_order = match r.sort_order {
        SortOrder::None => range_request::SortOrder::None,
        SortOrder::Ascend => range_request::SortOrder::Ascend,
        SortOrder::Descend => range_request::SortOrder::Descend,
    };
    let sort_target = match r.sort_target {
        SortTarget::Key => range_request::SortTarget::Key,
        SortTarget::Version => range_request::SortTarget::Version,
        SortTarget::Create => range_request::SortTarget::Create,
        SortTarget::Mod => range_request::SortTarget::Mod,
        SortTarget::Value => range_request::SortTarget::Value,
    };
    pb::RangeRequest {
        key,
        range_end,
        limit: r.limit,
        revision: r.revision,
        sort_order: sort_order as i32,
        sort_target: sort_target as i32,
        serializable: r.serializable,
        keys_only: r.keys_only,
        count_only: r.count_only,
        min_mod_revision: r.min_mod_revision,
        max_mod_revision: r.max_mod_revision,
        min_create_revision: r.min_create_revision,
        max_create_revision: r.max_create_revision,
    }
}

/// A range response from etcd.
pub(crate) fn range_response(r: pb::RangeResponse) -> RangeResponse {
    RangeResponse {
        header: header(r.header),
        kvs: r.kvs.into_iter().map(key_value).collect(),
        more: r.more,
        count: r.count,
    }
}

/// A put request to etcd.
pub(crate) fn put_request(r: PutRequest) -> pb::PutRequest {
    pb::PutRequest {
        key: r.key,
        value: r.value,
        lease: r.lease,
        prev_kv: r.prev_kv,
        ignore_value: r.ignore_value,
        ignore_lease: r.ignore_lease,
    }
}

/// A put response from etcd.
pub(crate) fn put_response(r: pb::PutResponse) -> PutResponse {
    PutResponse {
        header: header(r.header),
        prev_kv: r.prev_kv.map(key_value),
    }
}

/// A delete request to etcd.
pub(crate) fn delete_request(r: DeleteRangeRequest) -> pb::DeleteRangeRequest {
    let (key, range_end) = key_and_end(r.range);
    pb::DeleteRangeRequest {
        key,
        range_end,
        prev_kv: r.prev_kv,
    }
}

/// A delete response from etcd.
pub(crate) fn delete_response(r: pb::DeleteRangeResponse) -> DeleteRangeResponse {
    DeleteRangeResponse {
        header: header(r.header),
        deleted: r.deleted,
        prev_kvs: r.prev_kvs.into_iter().map(key_value).collect(),
    }
}

fn compare(c: Compare) -> pb::Compare {
    let (key, range_end) = key_and_end(c.range);
    let result = match c.result {
        CompareResult::Equal => compare::CompareResult::Equal,
        CompareResult::Greater => compare::CompareResult::Greater,
        CompareResult::Less => compare::CompareResult::Less,
        CompareResult::NotEqual => compare::CompareResult::NotEqual,
    };
    let (target, union) = match c.target {
        CompareTarget::Version(v) => (
            compare::CompareTarget::Version,
            compare::TargetUnion::Version(v),
        ),
        CompareTarget::Create(r) => (
            compare::CompareTarget::Create,
            compare::TargetUnion::CreateRevision(r),
        ),
        CompareTarget::Mod(r) => (
            compare::CompareTarget::Mod,
            compare::TargetUnion::ModRevision(r),
        ),
        CompareTarget::Value(v) => (
            compare::CompareTarget::Value,
            compare::TargetUnion::Value(v),
        ),
        CompareTarget::Lease(l) => (
            compare::CompareTarget::Lease,
            compare::TargetUnion::Lease(l),
        ),
    };
    pb::Compare {
        result: result as i32,
        target: target as i32,
        key,
        range_end,
        target_union: Some(union),
    }
}

fn request_op(op: RequestOp) -> pb::RequestOp {
    let request = match op {
        RequestOp::Range(r) => request_op::Request::RequestRange(range_request(r)),
        RequestOp::Put(r) => request_op::Request::RequestPut(put_request(r)),
        RequestOp::DeleteRange(r) => request_op::Request::RequestDeleteRange(delete_request(r)),
        RequestOp::Txn(t) => request_op::Request::RequestTxn(txn_request(t)),
    };
    pb::RequestOp {
        request: Some(request),
    }
}

/// A transaction to etcd.
pub(crate) fn txn_request(t: TxnRequest) -> pb::TxnRequest {
    pb::TxnRequest {
        compare: t.compare.into_iter().map(compare).collect(),
        success: t.success.into_iter().map(request_op).collect(),
        failure: t.failure.into_iter().map(request_op).collect(),
    }
}

/// A transaction response from etcd. A response op without a body (which etcd never
/// sends) reads as an empty range response.
pub(crate) fn txn_response(t: pb::TxnResponse) -> TxnResponse {
    let responses = t
        .responses
        .into_iter()
        .map(|op| match op.response {
            Some(response_op::Response::ResponseRange(r)) => ResponseOp::Range(range_response(r)),
            Some(response_op::Response::ResponsePut(r)) => ResponseOp::Put(put_response(r)),
            Some(response_op::Response::ResponseDeleteRange(r)) => {
                ResponseOp::DeleteRange(delete_response(r))
            }
            Some(response_op::Response::ResponseTxn(r)) => ResponseOp::Txn(txn_response(r)),
            None => ResponseOp::Range(RangeResponse::default()),
        })
        .collect();
    TxnResponse {
        header: header(t.header),
        succeeded: t.succeeded,
        responses,
    }
}

/// The create request of a watch, starting at `start_revision`.
pub(crate) fn watch_create(req: &WatchRequest, start_revision: Revision) -> pb::WatchRequest {
    let (key, range_end) = key_and_end(req.range.clone());
    let mut filters = Vec::new();
    if req.no_put {
        filters.push(pb::watch_create_request::FilterType::Noput as i32);
    }
    if req.no_delete {
        filters.push(pb::watch_create_request::FilterType::Nodelete as i32);
    }
    pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
            pb::WatchCreateRequest {
                key,
                range_end,
                start_revision,
                progress_notify: req.progress_notify,
                filters,
                prev_kv: req.prev_kv,
                watch_id: 0,
                fragment: false,
            },
        )),
    }
}

/// A progress request on a watch stream.
pub(crate) fn watch_progress() -> pb::WatchRequest {
    pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::ProgressRequest(
            pb::WatchProgressRequest {},
        )),
    }
}

/// A watch batch from etcd.
pub(crate) fn watch_response(w: pb::WatchResponse) -> WatchResponse {
    WatchResponse {
        header: header(w.header),
        events: w.events.into_iter().map(event).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_go_as_spelled() {
        let (k, e) = key_and_end(KeyRange::prefix("a"));
        assert_eq!((k.as_ref(), e.as_ref()), (&b"a"[..], &b"b"[..]));
        let (k, e) = key_and_end(KeyRange::range(Bytes::new(), Bytes::from_static(&[0])));
        assert!(
            k.is_empty() && e.as_ref() == [0],
            "an empty key stays empty (etcd refuses it)"
        );
    }

    #[test]
    fn compare_carries_target_and_operand() {
        let c = compare(Compare {
            range: KeyRange::key("k"),
            result: CompareResult::NotEqual,
            target: CompareTarget::Mod(7),
        });
        assert_eq!(c.result, compare::CompareResult::NotEqual as i32);
        assert_eq!(c.target, compare::CompareTarget::Mod as i32);
        assert_eq!(c.target_union, Some(compare::TargetUnion::ModRevision(7)));
    }

    #[test]
    fn nested_txn_response_converts_recursively() {
        let inner = pb::TxnResponse {
            header: Some(pb::ResponseHeader {
                revision: 9,
                ..Default::default()
            }),
            succeeded: true,
            responses: vec![pb::ResponseOp {
                response: Some(response_op::Response::ResponsePut(
                    pb::PutResponse::default(),
                )),
            }],
        };
        let outer = txn_response(pb::TxnResponse {
            header: Some(pb::ResponseHeader {
                revision: 9,
                ..Default::default()
            }),
            succeeded: false,
            responses: vec![pb::ResponseOp {
                response: Some(response_op::Response::ResponseTxn(inner)),
            }],
        });
        assert_eq!(outer.header.revision, 9);
        match &outer.responses[..] {
            [ResponseOp::Txn(t)] => {
                assert!(t.succeeded && matches!(t.responses[..], [ResponseOp::Put(_)]))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn delete_event_keeps_key_and_revision() {
        let ev = event(mvccpb::Event {
            r#type: mvccpb::event::EventType::Delete as i32,
            kv: Some(mvccpb::KeyValue {
                key: Bytes::from_static(b"k"),
                mod_revision: 5,
                ..Default::default()
            }),
            prev_kv: None,
        });
        assert_eq!(
            (ev.kind, ev.kv.key.as_ref(), ev.kv.mod_revision),
            (EventType::Delete, &b"k"[..], 5)
        );
    }
}
