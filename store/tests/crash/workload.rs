//! The crash test's workload and its model.
//!
//! Every writer task runs a deterministic sequence of operations, a function of
//! (iteration, task, sequence number), one at a time: it sends operation `seq`, waits
//! for its acknowledgement, prints it, then sends `seq + 1`. So after a kill the parent
//! knows exactly what each task did: the acknowledged operations `0..=S`, in order, and
//! at most one more (`S + 1`) that may or may not have been committed. The [`Model`]
//! replays them to predict the state of the task's keys.

use std::collections::BTreeMap;

use bytes::Bytes;
use skiff_store::*;

/// Writer tasks per child.
pub const TASKS: u64 = 12;
/// Plain keys per task (overwritten and deleted over and over).
const KEYS_PER_TASK: u64 = 16;
/// Bytes per value.
const VALUE_BYTES: usize = 128;
/// TTL of the tasks' leases: far longer than any test run, so none expires.
pub const LEASE_TTL: i64 = 3600;

/// One operation of the workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Put `value` under `key`, attached to the task's lease when `leased`.
    Put {
        key: String,
        value: String,
        leased: bool,
    },
    /// If `key_a`'s mod revision is that of the task's last successful txn (0 = never),
    /// put `value` under both `key_a` and `key_b`; otherwise put it under `key_failed`.
    Txn {
        key_a: String,
        key_b: String,
        key_failed: String,
        value: String,
    },
    /// Delete `key` (which may not exist).
    Delete { key: String },
}

/// The prefix of every key of `task` in `iteration`.
pub fn task_prefix(iteration: u64, task: u64) -> String {
    format!("i{iteration:03}/t{task:02}/")
}

/// (iteration, task) of a key written by the workload.
pub fn key_owner(key: &[u8]) -> Option<(u64, u64)> {
    let key = std::str::from_utf8(key).ok()?;
    let mut parts = key.split('/');
    let iteration = parts.next()?.strip_prefix('i')?.parse().ok()?;
    let task = parts.next()?.strip_prefix('t')?.parse().ok()?;
    Some((iteration, task))
}

/// The lease of `task` in `iteration`.
pub fn lease_id(iteration: u64, task: u64) -> LeaseId {
    ((iteration + 1) * 1000 + task + 1) as LeaseId
}

/// Operation `seq` of `task` in `iteration`.
pub fn op(iteration: u64, task: u64, seq: u64) -> Op {
    let prefix = task_prefix(iteration, task);
    let mut value = format!("i{iteration}-t{task}-s{seq}-");
    value.extend(std::iter::repeat_n(
        'x',
        VALUE_BYTES.saturating_sub(value.len()),
    ));
    match seq % 10 {
        0..=5 => Op::Put {
            key: format!("{prefix}k{:02}", (seq * 3) % KEYS_PER_TASK),
            value,
            leased: false,
        },
        6 => Op::Put {
            key: format!("{prefix}k{:02}", (seq * 7) % KEYS_PER_TASK),
            value,
            leased: true,
        },
        7 | 8 => Op::Txn {
            key_a: format!("{prefix}txn-a"),
            key_b: format!("{prefix}txn-b"),
            key_failed: format!("{prefix}txn-failed"),
            value,
        },
        _ => Op::Delete {
            key: format!("{prefix}k{:02}", (seq * 5) % KEYS_PER_TASK),
        },
    }
}

/// The request a task sends for `op`, given the revision of its last successful txn.
pub fn txn_request(op: &Op, last_txn_rev: Revision) -> Option<TxnRequest> {
    let Op::Txn {
        key_a,
        key_b,
        key_failed,
        value,
    } = op
    else {
        return None;
    };
    let put = |k: &str| {
        RequestOp::Put(PutRequest::new(
            Bytes::from(k.to_owned()),
            Bytes::from(value.clone()),
        ))
    };
    Some(TxnRequest {
        compare: vec![Compare {
            range: KeyRange::key(Bytes::from(key_a.clone())),
            result: CompareResult::Equal,
            target: CompareTarget::Mod(last_txn_rev),
        }],
        success: vec![put(key_a), put(key_b)],
        failure: vec![put(key_failed)],
    })
}

/// A revision the model knows exactly, or only a lower bound of (for the change of an
/// operation that was in flight at the kill).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rev {
    /// Exactly this revision.
    Is(Revision),
    /// Some revision above this one.
    After(Revision),
}

impl Rev {
    fn admits(self, actual: Revision) -> bool {
        match self {
            Rev::Is(r) => actual == r,
            Rev::After(r) => actual > r,
        }
    }
}

/// What the model expects of one live key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedKv {
    pub value: String,
    pub mod_revision: Rev,
    pub create_revision: Rev,
    pub version: i64,
    pub lease: LeaseId,
}

impl ExpectedKv {
    /// Whether `kv` is what the model expects.
    pub fn admits(&self, kv: &KeyValue) -> bool {
        kv.value == self.value.as_bytes()
            && kv.version == self.version
            && kv.lease == self.lease
            && self.mod_revision.admits(kv.mod_revision)
            && self.create_revision.admits(kv.create_revision)
    }
}

/// One change an operation made, as a watch reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Put {
        key: String,
        value: String,
        lease: LeaseId,
    },
    Delete {
        key: String,
    },
}

impl Change {
    /// Whether `event` reports this change.
    pub fn admits(&self, event: &Event) -> bool {
        match self {
            Change::Put { key, value, lease } => {
                event.kind == EventType::Put
                    && event.kv.key == key.as_bytes()
                    && event.kv.value == value.as_bytes()
                    && event.kv.lease == *lease
            }
            Change::Delete { key } => {
                event.kind == EventType::Delete && event.kv.key == key.as_bytes()
            }
        }
    }
}

/// The outcome of applying one operation to the model.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    /// The changes, in order (empty when the operation changed nothing).
    pub changes: Vec<Change>,
    /// The acknowledgement's flag: 1/0 for a txn's success, the count for a delete.
    pub flag: i64,
}

/// The predicted state of one task's keys.
#[derive(Clone, Debug)]
pub struct Model {
    iteration: u64,
    task: u64,
    /// Live keys.
    pub keys: BTreeMap<String, ExpectedKv>,
    /// Revision of the last successful txn (0 = none).
    last_txn_rev: Revision,
}

impl Model {
    /// The state before the task's first operation.
    pub fn new(iteration: u64, task: u64) -> Self {
        Model {
            iteration,
            task,
            keys: BTreeMap::new(),
            last_txn_rev: 0,
        }
    }

    /// Apply operation `seq`, committed at `rev`.
    pub fn apply(&mut self, seq: u64, rev: Rev) -> Applied {
        let lease = lease_id(self.iteration, self.task);
        match op(self.iteration, self.task, seq) {
            Op::Put { key, value, leased } => {
                let lease = if leased { lease } else { 0 };
                self.put(&key, &value, rev, lease);
                Applied {
                    changes: vec![Change::Put { key, value, lease }],
                    flag: 0,
                }
            }
            Op::Txn {
                key_a,
                key_b,
                key_failed,
                value,
            } => {
                let a_mod = self.keys.get(&key_a).map(|kv| kv.mod_revision);
                let holds = match (a_mod, self.last_txn_rev) {
                    (None, 0) => true,
                    (Some(Rev::Is(m)), last) => m == last,
                    // Only the in-flight operation has an unknown revision, and it is the last.
                    _ => false,
                };
                if holds {
                    self.put(&key_a, &value, rev, 0);
                    self.put(&key_b, &value, rev, 0);
                    if let Rev::Is(r) = rev {
                        self.last_txn_rev = r;
                    }
                    let changes = vec![
                        Change::Put {
                            key: key_a,
                            value: value.clone(),
                            lease: 0,
                        },
                        Change::Put {
                            key: key_b,
                            value,
                            lease: 0,
                        },
                    ];
                    Applied { changes, flag: 1 }
                } else {
                    self.put(&key_failed, &value, rev, 0);
                    Applied {
                        changes: vec![Change::Put {
                            key: key_failed,
                            value,
                            lease: 0,
                        }],
                        flag: 0,
                    }
                }
            }
            Op::Delete { key } => match self.keys.remove(&key) {
                Some(_) => Applied {
                    changes: vec![Change::Delete { key }],
                    flag: 1,
                },
                None => Applied::default(),
            },
        }
    }

    fn put(&mut self, key: &str, value: &str, rev: Rev, lease: LeaseId) {
        let (version, create_revision) = match self.keys.get(key) {
            Some(old) => (old.version + 1, old.create_revision),
            None => (1, rev),
        };
        self.keys.insert(
            key.to_owned(),
            ExpectedKv {
                value: value.to_owned(),
                mod_revision: rev,
                create_revision,
                version,
                lease,
            },
        );
    }
}
