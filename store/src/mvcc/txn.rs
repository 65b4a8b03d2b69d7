//! Applying writes to the state: validation, transaction compares, puts and deletes.
//!
//! Runs only in the writer, one request at a time. Like etcd, a transaction is checked
//! as a whole before anything is written (its compares, including those of nested
//! transactions, are evaluated first against the state before it; then every put on
//! the chosen path is checked), so a request that fails leaves no partial write.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::lease::Lessor;
use super::state::{to_event, to_kv, State};
use crate::backend::{CommitBatch, Record, Rev};
use crate::error::{Result, StoreError, MAX_REQUEST_BYTES, MAX_TXN_OPS};
use crate::types::*;

/// What the writer mutates while applying one request.
pub(crate) struct Applier<'a> {
    pub state: &'a mut State,
    pub lessor: &'a mut Lessor,
    pub batch: &'a mut CommitBatch,
    pub events: &'a mut Vec<Event>,
}

/// The revision being written by one transaction and the next sub-revision.
struct TxnWrite {
    main: Revision,
    sub: i64,
}

impl TxnWrite {
    fn next(&mut self) -> Rev {
        let rev = Rev::new(self.main, self.sub);
        self.sub += 1;
        rev
    }
}

/// Which branch each transaction on the path takes, decided before any write.
struct Plan {
    succeeded: bool,
    nested: Vec<Plan>,
}

/// Static checks of a request that need no state: sizes, op counts, duplicate keys.
pub(crate) fn validate_txn(req: &TxnRequest) -> Result<()> {
    if req.compare.len() > MAX_TXN_OPS
        || req.success.len() > MAX_TXN_OPS
        || req.failure.len() > MAX_TXN_OPS
    {
        return Err(StoreError::TooManyOps);
    }
    for c in &req.compare {
        if c.range.key.is_empty() {
            return Err(StoreError::EmptyKey);
        }
    }
    for ops in [&req.success, &req.failure] {
        for op in ops.iter() {
            validate_op(op)?;
        }
        check_overlaps(ops)?;
    }
    Ok(())
}

fn validate_op(op: &RequestOp) -> Result<()> {
    match op {
        RequestOp::Range(r) if r.range.key.is_empty() => Err(StoreError::EmptyKey),
        RequestOp::Put(p) => validate_put(p),
        RequestOp::DeleteRange(d) if d.range.key.is_empty() => Err(StoreError::EmptyKey),
        RequestOp::Txn(t) => validate_txn(t),
        _ => Ok(()),
    }
}

/// Checks of a put that need no state.
pub(crate) fn validate_put(p: &PutRequest) -> Result<()> {
    if p.key.is_empty() {
        return Err(StoreError::EmptyKey);
    }
    if p.key.len() + p.value.len() > MAX_REQUEST_BYTES {
        return Err(StoreError::RequestTooLarge);
    }
    if p.ignore_value && !p.value.is_empty() {
        return Err(StoreError::ValueProvided);
    }
    if p.ignore_lease && p.lease != 0 {
        return Err(StoreError::LeaseProvided);
    }
    Ok(())
}

/// The keys a branch puts and the ranges it deletes (nested transactions included).
fn writes_of(ops: &[RequestOp], puts: &mut Vec<Bytes>, dels: &mut Vec<KeyRange>) {
    for op in ops {
        match op {
            RequestOp::Put(p) => puts.push(p.key.clone()),
            RequestOp::DeleteRange(d) => dels.push(d.range.clone()),
            RequestOp::Txn(t) => {
                writes_of(&t.success, puts, dels);
                writes_of(&t.failure, puts, dels);
            }
            RequestOp::Range(_) => {}
        }
    }
}

/// etcd refuses a branch that puts one key twice or puts a key it also deletes. The two
/// branches of a nested transaction may overlap each other (only one runs), not the rest
/// of the branch; each nested branch is checked on its own by [`validate_txn`].
fn check_overlaps(ops: &[RequestOp]) -> Result<()> {
    let mut seen = BTreeSet::new();
    for op in ops {
        let keys: BTreeSet<Bytes> = match op {
            RequestOp::Put(p) => BTreeSet::from([p.key.clone()]),
            RequestOp::Txn(t) => {
                let (mut puts, mut dels) = (Vec::new(), Vec::new());
                writes_of(&t.success, &mut puts, &mut dels);
                writes_of(&t.failure, &mut puts, &mut dels);
                puts.into_iter().collect()
            }
            _ => continue,
        };
        for k in keys {
            if !seen.insert(k) {
                return Err(StoreError::DuplicateKey);
            }
        }
    }
    let (mut puts, mut dels) = (Vec::new(), Vec::new());
    writes_of(ops, &mut puts, &mut dels);
    if dels.iter().any(|d| puts.iter().any(|k| d.contains(k))) {
        return Err(StoreError::DuplicateKey);
    }
    Ok(())
}

impl Applier<'_> {
    /// Apply a transaction at the next revision.
    pub fn txn(&mut self, req: &TxnRequest) -> Result<TxnResponse> {
        validate_txn(req)?;
        let plan = self.plan(req);
        self.check_path(req, &plan)?;
        let mut w = TxnWrite {
            main: self.state.current_rev + 1,
            sub: 0,
        };
        let resp = self.exec_txn(req, &plan, &mut w);
        if w.sub > 0 {
            self.state.current_rev = w.main;
        }
        Ok(self.with_header(resp))
    }

    fn with_header(&self, mut resp: TxnResponse) -> TxnResponse {
        let rev = self.state.current_rev;
        resp.header.revision = rev;
        for r in resp.responses.iter_mut() {
            set_header(r, rev);
        }
        resp
    }

    /// Apply a put (as a one-op transaction).
    pub fn put(&mut self, req: PutRequest) -> Result<PutResponse> {
        let txn = TxnRequest {
            success: vec![RequestOp::Put(req)],
            ..Default::default()
        };
        let resp = self.txn(&txn)?;
        match resp.responses.into_iter().next() {
            Some(ResponseOp::Put(p)) => Ok(p),
            _ => Err(StoreError::Storage("put produced no response".into())),
        }
    }

    /// Apply a delete (as a one-op transaction).
    pub fn delete_range(&mut self, req: DeleteRangeRequest) -> Result<DeleteRangeResponse> {
        let txn = TxnRequest {
            success: vec![RequestOp::DeleteRange(req)],
            ..Default::default()
        };
        let resp = self.txn(&txn)?;
        match resp.responses.into_iter().next() {
            Some(ResponseOp::DeleteRange(d)) => Ok(d),
            _ => Err(StoreError::Storage("delete produced no response".into())),
        }
    }

    /// Revoke a lease: delete its keys at one new revision and forget it.
    pub fn lease_revoke(&mut self, id: LeaseId) -> Result<ResponseHeader> {
        let lease = self.lessor.get(id).ok_or(StoreError::LeaseNotFound)?;
        let success = lease
            .keys
            .iter()
            .map(|k| {
                RequestOp::DeleteRange(DeleteRangeRequest {
                    range: KeyRange::key(k.clone()),
                    prev_kv: false,
                })
            })
            .collect::<Vec<_>>();
        let mut w = TxnWrite {
            main: self.state.current_rev + 1,
            sub: 0,
        };
        for op in &success {
            if let RequestOp::DeleteRange(d) = op {
                self.exec_delete(d, &mut w);
            }
        }
        if w.sub > 0 {
            self.state.current_rev = w.main;
        }
        self.lessor.remove(id);
        // A lease names one list of the batch only, so the backend need not know which
        // came first: the last of a grant and a revoke in one batch wins.
        self.batch.leases_granted.retain(|(g, _)| *g != id);
        self.batch.leases_revoked.push(id);
        Ok(ResponseHeader {
            revision: self.state.current_rev,
        })
    }

    /// Grant a lease.
    pub fn lease_grant(&mut self, id: LeaseId, ttl: i64) -> Result<LeaseGrantResponse> {
        let (id, ttl) = self.lessor.check_grant(id, ttl)?;
        self.lessor.insert(id, ttl);
        // Revoked earlier in this batch and granted again: the grant replaces the revoke.
        self.batch.leases_revoked.retain(|r| *r != id);
        self.batch.leases_granted.push((id, ttl));
        Ok(LeaseGrantResponse {
            header: ResponseHeader {
                revision: self.state.current_rev,
            },
            id,
            ttl,
        })
    }

    /// Evaluate every compare on the path before writing anything.
    fn plan(&self, req: &TxnRequest) -> Plan {
        let succeeded = req.compare.iter().all(|c| self.compare_holds(c));
        let ops = if succeeded {
            &req.success
        } else {
            &req.failure
        };
        let nested = ops
            .iter()
            .filter_map(|op| match op {
                RequestOp::Txn(t) => Some(self.plan(t)),
                _ => None,
            })
            .collect();
        Plan { succeeded, nested }
    }

    /// Check every put on the chosen path against the state (leases, ignore_* flags).
    fn check_path(&self, req: &TxnRequest, plan: &Plan) -> Result<()> {
        let ops = if plan.succeeded {
            &req.success
        } else {
            &req.failure
        };
        let mut nested = plan.nested.iter();
        for op in ops {
            match op {
                RequestOp::Put(p) => self.check_put(p)?,
                RequestOp::Txn(t) => {
                    let Some(sub) = nested.next() else {
                        return Err(StoreError::Storage("transaction plan out of step".into()));
                    };
                    self.check_path(t, sub)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_put(&self, p: &PutRequest) -> Result<()> {
        if p.lease != 0 && !self.lessor.contains(p.lease) {
            return Err(StoreError::LeaseNotFound);
        }
        if (p.ignore_value || p.ignore_lease)
            && self.state.get_at(&p.key, self.state.current_rev).is_none()
        {
            return Err(StoreError::KeyNotFound);
        }
        Ok(())
    }

    fn compare_holds(&self, c: &Compare) -> bool {
        let rev = self.state.current_rev;
        let kvs: Vec<KeyValue> = if c.range.is_single() {
            self.state
                .get_at(&c.range.key, rev)
                .map(|(r, rec)| to_kv(r, rec))
                .into_iter()
                .collect()
        } else {
            self.state
                .range_at(&c.range, rev)
                .map(|(r, rec)| to_kv(r, rec))
                .collect()
        };
        if kvs.is_empty() {
            // A missing key has version, revisions and lease 0, and no value.
            return !matches!(c.target, CompareTarget::Value(_))
                && compare_kv(c, &KeyValue::default());
        }
        kvs.iter().all(|kv| compare_kv(c, kv))
    }

    fn exec_txn(&mut self, req: &TxnRequest, plan: &Plan, w: &mut TxnWrite) -> TxnResponse {
        let ops = if plan.succeeded {
            &req.success
        } else {
            &req.failure
        };
        let mut nested = plan.nested.iter();
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            let resp = match op {
                RequestOp::Range(r) => ResponseOp::Range(self.exec_range(r, w)),
                RequestOp::Put(p) => ResponseOp::Put(self.exec_put(p, w)),
                RequestOp::DeleteRange(d) => ResponseOp::DeleteRange(self.exec_delete(d, w)),
                RequestOp::Txn(t) => match nested.next() {
                    Some(sub) => ResponseOp::Txn(self.exec_txn(t, sub, w)),
                    None => ResponseOp::Txn(TxnResponse::default()),
                },
            };
            responses.push(resp);
        }
        TxnResponse {
            header: ResponseHeader::default(),
            succeeded: plan.succeeded,
            responses,
        }
    }

    /// A read inside a transaction sees the transaction's earlier writes.
    fn exec_range(&self, r: &RangeRequest, w: &TxnWrite) -> RangeResponse {
        let latest = if w.sub > 0 {
            w.main
        } else {
            self.state.current_rev
        };
        // A range in a txn reads at the txn's revision; errors (e.g. a compacted
        // revision) come back as an empty answer, as the txn is already decided.
        self.state.range(r, latest).unwrap_or_default()
    }

    fn latest_rev(&self, w: &TxnWrite) -> Revision {
        if w.sub > 0 {
            w.main
        } else {
            self.state.current_rev
        }
    }

    fn exec_put(&mut self, p: &PutRequest, w: &mut TxnWrite) -> PutResponse {
        let prev = self
            .state
            .get_at(&p.key, self.latest_rev(w))
            .map(|(r, rec)| (r, rec.clone()));
        let rev = w.next();
        let (create_revision, version, old_value, old_lease) = match &prev {
            Some((_, rec)) => (
                rec.create_revision,
                rec.version + 1,
                rec.value.clone(),
                rec.lease,
            ),
            None => (rev.main, 1, Bytes::new(), 0),
        };
        let value = if p.ignore_value {
            old_value
        } else {
            p.value.clone()
        };
        let lease = if p.ignore_lease { old_lease } else { p.lease };
        if old_lease != lease {
            self.lessor.detach(old_lease, &p.key);
        }
        self.lessor.attach(lease, &p.key);
        let rec = Record {
            key: p.key.clone(),
            value,
            create_revision,
            version,
            lease,
            tombstone: false,
        };
        let prev_kv = prev.map(|(r, rec)| to_kv(r, &rec));
        self.record(rev, rec, prev_kv.clone());
        PutResponse {
            header: ResponseHeader::default(),
            prev_kv: if p.prev_kv { prev_kv } else { None },
        }
    }

    fn exec_delete(&mut self, d: &DeleteRangeRequest, w: &mut TxnWrite) -> DeleteRangeResponse {
        let latest = self.latest_rev(w);
        let victims: Vec<KeyValue> = self
            .state
            .range_at(&d.range, latest)
            .map(|(r, rec)| to_kv(r, rec))
            .collect();
        for kv in &victims {
            let rev = w.next();
            self.lessor.detach(kv.lease, &kv.key);
            let rec = Record {
                key: kv.key.clone(),
                tombstone: true,
                ..Default::default()
            };
            self.record(rev, rec, Some(kv.clone()));
        }
        DeleteRangeResponse {
            header: ResponseHeader::default(),
            deleted: victims.len() as i64,
            prev_kvs: if d.prev_kv { victims } else { Vec::new() },
        }
    }

    fn record(&mut self, rev: Rev, rec: Record, prev_kv: Option<KeyValue>) {
        self.events.push(to_event(rev, &rec, prev_kv));
        self.state.insert(rev, rec.clone());
        self.batch.records.push((rev, rec));
    }
}

fn set_header(r: &mut ResponseOp, rev: Revision) {
    match r {
        ResponseOp::Range(_) => {}
        ResponseOp::Put(x) => x.header.revision = rev,
        ResponseOp::DeleteRange(x) => x.header.revision = rev,
        ResponseOp::Txn(x) => {
            x.header.revision = rev;
            for r in x.responses.iter_mut() {
                set_header(r, rev);
            }
        }
    }
}

fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    use std::cmp::Ordering;
    let ord: Ordering = match &c.target {
        CompareTarget::Version(v) => kv.version.cmp(v),
        CompareTarget::Create(v) => kv.create_revision.cmp(v),
        CompareTarget::Mod(v) => kv.mod_revision.cmp(v),
        CompareTarget::Lease(v) => kv.lease.cmp(v),
        CompareTarget::Value(v) => kv.value[..].cmp(&v[..]),
    };
    match c.result {
        CompareResult::Equal => ord == Ordering::Equal,
        CompareResult::NotEqual => ord != Ordering::Equal,
        CompareResult::Greater => ord == Ordering::Greater,
        CompareResult::Less => ord == Ordering::Less,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_in_one_list_of_a_batch_and_the_last_change_wins() {
        let mut state = State {
            current_rev: 1,
            committed_rev: 1,
            ..Default::default()
        };
        let mut lessor = Lessor::new(1);
        lessor.insert(7, 10);
        let mut batch = CommitBatch::default();
        let mut events = Vec::new();
        let mut ap = Applier {
            state: &mut state,
            lessor: &mut lessor,
            batch: &mut batch,
            events: &mut events,
        };
        ap.lease_revoke(7).unwrap();
        ap.lease_grant(7, 20).unwrap();
        assert_eq!(
            (
                ap.batch.leases_granted.clone(),
                ap.batch.leases_revoked.clone()
            ),
            (vec![(7, 20)], vec![])
        );
        ap.lease_revoke(7).unwrap();
        assert_eq!(
            (
                ap.batch.leases_granted.clone(),
                ap.batch.leases_revoked.clone()
            ),
            (vec![], vec![7])
        );
    }
}
