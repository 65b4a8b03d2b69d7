//! The writer: one thread that applies every write in order and makes it durable with
//! group commit.
//!
//! Each round takes every write that is queued (up to [`MAX_BATCH`]), applies them one
//! after another to the in-memory state (each transaction gets its own revision), hands
//! the changes to [`Backend::commit`] as one batch (one transaction, one fsync), and only
//! then makes them visible to readers, publishes them to watchers, and answers the
//! callers. Concurrent clients therefore share fsyncs instead of queuing behind them.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::txn::Applier;
use super::Core;
use crate::backend::CommitBatch;
use crate::error::{Result, StoreError};
use crate::types::*;

/// Most writes applied and committed in one round.
pub(crate) const MAX_BATCH: usize = 4096;

/// A write for the writer, with where to send its answer.
pub(crate) enum WriteCmd {
    Txn(TxnRequest, oneshot::Sender<Result<TxnResponse>>),
    Put(PutRequest, oneshot::Sender<Result<PutResponse>>),
    Delete(
        DeleteRangeRequest,
        oneshot::Sender<Result<DeleteRangeResponse>>,
    ),
    Compact(Revision, oneshot::Sender<Result<ResponseHeader>>),
    LeaseGrant(LeaseId, i64, oneshot::Sender<Result<LeaseGrantResponse>>),
    LeaseRevoke(LeaseId, oneshot::Sender<Result<ResponseHeader>>),
    /// A lease found past its deadline by the expiry loop (revoked if still expired).
    LeaseExpire(LeaseId),
}

/// An answer held back until its batch is durable; called with the commit error, if any.
type Reply = Box<dyn FnOnce(Option<StoreError>) + Send>;

fn reply<T: Send + 'static>(tx: oneshot::Sender<Result<T>>, res: Result<T>) -> Reply {
    Box::new(move |failure| {
        let res = match (failure, res) {
            (Some(e), Ok(_)) => Err(e),
            (_, res) => res,
        };
        let _ = tx.send(res);
    })
}

/// Run the writer until every sender is gone.
pub(crate) fn run(core: Arc<Core>, mut rx: mpsc::UnboundedReceiver<WriteCmd>) {
    while let Some(first) = rx.blocking_recv() {
        let mut cmds = vec![first];
        while cmds.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(cmd) => cmds.push(cmd),
                Err(_) => break,
            }
        }
        round(&core, cmds);
    }
    tracing::debug!("store writer stopped");
}

/// Apply, commit, publish and answer one batch of writes.
fn round(core: &Core, cmds: Vec<WriteCmd>) {
    if let Some(reason) = core.failure() {
        for cmd in cmds {
            fail(cmd, StoreError::Failed(reason.clone()));
        }
        return;
    }
    let mut batch = CommitBatch::default();
    let mut events = Vec::new();
    let mut replies: Vec<Reply> = Vec::with_capacity(cmds.len());
    {
        let mut state = core.state.write().unwrap_or_else(|e| e.into_inner());
        let mut lessor = core.lessor.lock().unwrap_or_else(|e| e.into_inner());
        let mut ap = Applier {
            state: &mut state,
            lessor: &mut lessor,
            batch: &mut batch,
            events: &mut events,
        };
        for cmd in cmds {
            match cmd {
                WriteCmd::Txn(req, tx) => replies.push(reply(tx, ap.txn(&req))),
                WriteCmd::Put(req, tx) => replies.push(reply(tx, ap.put(req))),
                WriteCmd::Delete(req, tx) => replies.push(reply(tx, ap.delete_range(req))),
                WriteCmd::LeaseGrant(id, ttl, tx) => {
                    replies.push(reply(tx, ap.lease_grant(id, ttl)))
                }
                WriteCmd::LeaseRevoke(id, tx) => replies.push(reply(tx, ap.lease_revoke(id))),
                WriteCmd::LeaseExpire(id) => {
                    let expired = ap
                        .lessor
                        .get(id)
                        .is_some_and(|l| l.deadline <= Instant::now());
                    if expired {
                        let _ = ap.lease_revoke(id);
                    } else {
                        ap.lessor.unmark_expiring(id);
                    }
                }
                WriteCmd::Compact(rev, tx) => {
                    let compacted = ap.state.compact_rev.max(batch_compact(ap.batch));
                    let res = check_compact(compacted, ap.state.current_rev, rev);
                    if res.is_ok() {
                        ap.batch.compact_scheduled = Some(rev);
                    }
                    let header = ResponseHeader {
                        revision: ap.state.current_rev,
                    };
                    replies.push(reply(tx, res.map(|_| header)));
                }
            }
        }
    }
    if !batch.is_empty() {
        if let Err(e) = core.backend.commit(&batch) {
            let reason = e.to_string();
            tracing::error!(error = %reason, "store commit failed; refusing writes until restart");
            core.set_failure(reason.clone());
            for r in replies {
                r(Some(StoreError::Failed(reason.clone())));
            }
            return;
        }
    }
    core.make_visible(&events);
    if let Some(rev) = batch.compact_scheduled {
        core.compact_in_memory_and_backend(rev);
    }
    for r in replies {
        r(None);
    }
}

fn batch_compact(batch: &CommitBatch) -> Revision {
    batch.compact_scheduled.unwrap_or(0)
}

/// etcd's checks on a compaction revision.
fn check_compact(compacted: Revision, current: Revision, rev: Revision) -> Result<()> {
    if rev <= compacted {
        return Err(StoreError::Compacted {
            compact_revision: compacted,
        });
    }
    if rev > current {
        return Err(StoreError::FutureRevision {
            current_revision: current,
        });
    }
    Ok(())
}

fn fail(cmd: WriteCmd, e: StoreError) {
    match cmd {
        WriteCmd::Txn(_, tx) => drop(tx.send(Err(e))),
        WriteCmd::Put(_, tx) => drop(tx.send(Err(e))),
        WriteCmd::Delete(_, tx) => drop(tx.send(Err(e))),
        WriteCmd::Compact(_, tx) => drop(tx.send(Err(e))),
        WriteCmd::LeaseGrant(_, _, tx) => drop(tx.send(Err(e))),
        WriteCmd::LeaseRevoke(_, tx) => drop(tx.send(Err(e))),
        WriteCmd::LeaseExpire(_) => {}
    }
}
