//! Checking a reopened store against what the killed children acknowledged.
//!
//! - Every acknowledged write is there: each task's keys are exactly what replaying its
//!   acknowledged operations predicts, or that plus its one in-flight operation.
//! - Revisions are consistent: no two acknowledged writes share a revision, none is
//!   above the current revision, every key's mod revision is at most the current one,
//!   and the compaction revision is at least every acknowledged compaction.
//! - History is intact: every retained revision after the compaction is delivered by a
//!   watch (no gaps), each holding exactly the changes of its acknowledged write (or of
//!   an in-flight one), and a read at the revision of each retained acknowledged write
//!   shows what that write wrote.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use skiff_store::*;

use super::workload::{self, key_owner, lease_id, Change, ExpectedKv, Model, TASKS};
use super::ChildRun;

/// An acknowledged write that changed something.
struct AckedWrite {
    iteration: u64,
    task: u64,
    seq: u64,
    changes: Vec<Change>,
}

/// Check `store` against every run so far; panics on the first inconsistency and
/// returns a one-line summary otherwise.
pub async fn check(store: &MvccStore, runs: &[ChildRun]) -> String {
    let status = store.status().await.expect("status");
    let current = status.header.revision;
    let compacted = status.compact_revision;
    let acked_compaction = runs
        .iter()
        .flat_map(|r| r.compactions.iter().copied())
        .max()
        .unwrap_or(0);
    assert!(
        compacted >= acked_compaction,
        "compaction revision {compacted} is below the acknowledged compaction {acked_compaction}"
    );
    assert!(
        compacted <= current,
        "compaction revision {compacted} above current {current}"
    );

    let mut acked: BTreeMap<Revision, AckedWrite> = BTreeMap::new();
    // (iteration, task) -> the changes of its in-flight operation, which was committed.
    let mut in_flight: HashMap<(u64, u64), Vec<Change>> = HashMap::new();
    // (revision, key, what a read at that revision must show).
    let mut reads: Vec<(Revision, String, Option<ExpectedKv>)> = Vec::new();
    let mut keys_checked = 0;

    for run in runs {
        for task in 0..TASKS {
            let acks = &run.acks[task as usize];
            let mut model = Model::new(run.iteration, task);
            for &(seq, rev, flag) in acks {
                let applied = model.apply(seq, workload::Rev::Is(rev));
                assert_eq!(
                    applied.flag, flag,
                    "iteration {} task {task} op {seq} at {rev}: acknowledged with flag {flag}, \
                     the model predicts {}",
                    run.iteration, applied.flag
                );
                assert!(
                    rev <= current,
                    "acknowledged revision {rev} is above current {current}"
                );
                if applied.changes.is_empty() {
                    continue;
                }
                if rev >= compacted {
                    for change in &applied.changes {
                        let key = match change {
                            Change::Put { key, .. } | Change::Delete { key } => key,
                        };
                        reads.push((rev, key.clone(), model.keys.get(key).cloned()));
                    }
                }
                let write = AckedWrite {
                    iteration: run.iteration,
                    task,
                    seq,
                    changes: applied.changes,
                };
                if let Some(other) = acked.insert(rev, write) {
                    panic!(
                        "revision {rev} acknowledged twice: iteration {} task {} op {} and \
                         iteration {} task {task} op {seq}",
                        other.iteration, other.task, other.seq, run.iteration
                    );
                }
            }

            // The live keys: as replayed, or with the in-flight operation on top.
            let prefix = workload::task_prefix(run.iteration, task);
            let resp = store
                .range(RangeRequest::prefix(Bytes::from(prefix.clone())))
                .await
                .expect("range");
            let actual: BTreeMap<String, KeyValue> = resp
                .kvs
                .into_iter()
                .map(|kv| (String::from_utf8_lossy(&kv.key).into_owned(), kv))
                .collect();
            keys_checked += actual.len();
            if matches(&actual, &model.keys) {
                continue;
            }
            let mut with_in_flight = model.clone();
            let after = acks.last().map_or(1, |&(_, rev, _)| rev);
            let changes = if run.lease_acked[task as usize] {
                with_in_flight
                    .apply(acks.len() as u64, workload::Rev::After(after))
                    .changes
            } else {
                Vec::new()
            };
            assert!(
                matches(&actual, &with_in_flight.keys),
                "iteration {} task {task} (acknowledged ops 0..{}): keys under {prefix} are\n  {:?}\n\
                 expected\n  {:?}\nor, with the in-flight op,\n  {:?}",
                run.iteration,
                acks.len(),
                actual.values().collect::<Vec<_>>(),
                model.keys,
                with_in_flight.keys
            );
            in_flight.insert((run.iteration, task), changes);
        }
        for task in 0..TASKS {
            if run.lease_acked[task as usize] {
                let id = lease_id(run.iteration, task);
                let ttl = store.lease_time_to_live(id, false).await;
                let granted = ttl.map(|t| t.granted_ttl);
                assert_eq!(granted, Ok(workload::LEASE_TTL), "acknowledged lease {id}");
            }
        }
    }

    for kv in store
        .range(super::common::everything(0))
        .await
        .expect("range all")
        .kvs
    {
        assert!(
            kv.create_revision <= kv.mod_revision && kv.mod_revision <= current,
            "key {:?}: create {} mod {} current {current}",
            kv.key,
            kv.create_revision,
            kv.mod_revision
        );
    }

    for (rev, key, expected) in &reads {
        let req = RangeRequest {
            revision: *rev,
            ..RangeRequest::key(Bytes::from(key.clone()))
        };
        let kv = store
            .range(req)
            .await
            .expect("read at an acknowledged revision")
            .kvs
            .pop();
        match (expected, kv) {
            (None, None) => {}
            (Some(e), Some(kv)) if e.admits(&kv) => {}
            (e, kv) => panic!("{key} at revision {rev}: expected {e:?}, read {kv:?}"),
        }
    }

    let start = (compacted + 1).max(2);
    let mut events_checked = 0;
    if start <= current {
        let events = super::common::history(store, start, current).await;
        events_checked = events.len();
        let mut by_rev: BTreeMap<Revision, Vec<Event>> = BTreeMap::new();
        for e in events {
            by_rev.entry(e.kv.mod_revision).or_default().push(e);
        }
        for rev in start..=current {
            assert!(
                by_rev.contains_key(&rev),
                "revision {rev} is missing from the history"
            );
        }
        for (rev, events) in &by_rev {
            let changes: Vec<Change> = match acked.get(rev) {
                Some(write) => write.changes.clone(),
                None => {
                    let owner = key_owner(&events[0].kv.key).unwrap_or_else(|| {
                        panic!("revision {rev}: an event of a key no task writes: {events:?}")
                    });
                    match in_flight.remove(&owner) {
                        Some(changes) => changes,
                        None => panic!(
                            "revision {rev} is neither an acknowledged write nor the in-flight \
                             write of its task: {events:?}"
                        ),
                    }
                }
            };
            let same = changes.len() == events.len()
                && changes.iter().zip(events).all(|(c, e)| c.admits(e));
            assert!(
                same,
                "revision {rev}: events {events:?}, expected {changes:?}"
            );
        }
    }

    format!(
        "revision {current}, compacted {compacted}, {} acked writes with revisions, {keys_checked} \
         live keys, {} reads at old revisions, {events_checked} history events",
        acked.len(),
        reads.len()
    )
}

/// Whether the live keys are exactly the expected ones, each as expected.
fn matches(actual: &BTreeMap<String, KeyValue>, expected: &BTreeMap<String, ExpectedKv>) -> bool {
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|((ak, kv), (ek, e))| ak == ek && e.admits(kv))
}
