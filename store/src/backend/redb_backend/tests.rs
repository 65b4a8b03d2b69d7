//! Unit tests of [`RedbBackend`] alone (no MVCC store on top).

use std::io::{Read, Seek, SeekFrom, Write};

use bytes::Bytes;

use super::*;
use crate::backend::Record;

fn put(key: &str, value: &str, create: Revision, version: i64) -> Record {
    Record {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Bytes::copy_from_slice(value.as_bytes()),
        create_revision: create,
        version,
        lease: 0,
        tombstone: false,
    }
}

fn tombstone(key: &str) -> Record {
    Record {
        key: Bytes::copy_from_slice(key.as_bytes()),
        tombstone: true,
        ..Default::default()
    }
}

fn batch(records: Vec<(Rev, Record)>) -> CommitBatch {
    CommitBatch {
        records,
        ..Default::default()
    }
}

fn open_err(path: &Path) -> String {
    match RedbBackend::open(path) {
        Err(StoreError::Open(msg)) => {
            eprintln!("refused as expected: {msg}");
            msg
        }
        Err(other) => panic!("expected StoreError::Open, got {other:?}"),
        Ok(_) => panic!("opening {} should have failed", path.display()),
    }
}

/// Write `value` under `key` in the meta table of the data file at `file`, bypassing
/// the backend (to fake files written by other versions).
fn poke_meta(file: &Path, key: &str, value: u64) {
    let db = Database::create(file).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(META).unwrap().insert(key, value).unwrap();
    txn.commit().unwrap();
}

#[test]
fn creates_the_directory_and_file_on_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a/b/data");
    let backend = RedbBackend::open(&data).unwrap();
    assert_eq!(backend.path(), data.join(DATA_FILE_NAME));
    assert!(data.join(DATA_FILE_NAME).is_file());
    assert_eq!(backend.load().unwrap(), Loaded::default());
    assert_eq!(backend.name(), "redb");

    // A path ending in .redb names the file itself.
    let file = dir.path().join("c/store.redb");
    let backend = RedbBackend::open(&file).unwrap();
    assert_eq!(backend.path(), file);
    assert!(file.is_file());
}

#[test]
fn identity_is_chosen_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let first = RedbBackend::open(dir.path()).unwrap().identity();
    let again = RedbBackend::open(dir.path()).unwrap().identity();
    assert_eq!(first, again);
    assert_ne!(first.cluster_id, 0);
    assert_ne!(first.member_id, 0);
    let other = RedbBackend::open(dir.path().join("other"))
        .unwrap()
        .identity();
    assert_ne!(first, other);
}

#[test]
fn commit_then_load_round_trips_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut lease_key = put("leased", "x", 3, 1);
    lease_key.lease = 77;
    let batches = vec![
        CommitBatch {
            records: vec![
                (Rev::new(2, 0), put("a", "1", 2, 1)),
                (Rev::new(2, 1), put("b", "1", 2, 1)),
            ],
            leases_granted: vec![(77, 30), (78, 60)],
            ..Default::default()
        },
        CommitBatch {
            records: vec![
                (Rev::new(3, 0), lease_key.clone()),
                (Rev::new(4, 0), put("a", "2", 2, 2)),
            ],
            leases_revoked: vec![78],
            ..Default::default()
        },
        batch(vec![(Rev::new(5, 0), tombstone("b"))]),
        CommitBatch {
            compact_scheduled: Some(3),
            ..Default::default()
        },
    ];
    {
        let backend = RedbBackend::open(dir.path()).unwrap();
        for b in &batches {
            backend.commit(b).unwrap();
        }
    }
    let loaded = RedbBackend::open(dir.path()).unwrap().load().unwrap();
    assert_eq!(
        loaded.records,
        vec![
            (Rev::new(2, 0), put("a", "1", 2, 1)),
            (Rev::new(2, 1), put("b", "1", 2, 1)),
            (Rev::new(3, 0), lease_key),
            (Rev::new(4, 0), put("a", "2", 2, 2)),
            (Rev::new(5, 0), tombstone("b")),
        ]
    );
    assert_eq!(loaded.leases, vec![(77, 30)]);
    assert_eq!(loaded.compact_scheduled, 3);
    assert_eq!(loaded.compact_finished, 0);
}

#[test]
fn records_load_in_revision_order_whatever_the_commit_order_of_subs() {
    let dir = tempfile::tempdir().unwrap();
    let backend = RedbBackend::open(dir.path()).unwrap();
    // Revisions past 127 and 2^31 exercise the key ordering beyond one byte.
    let revs = [
        Rev::new(1 << 33, 0),
        Rev::new(200, 5),
        Rev::new(200, 12),
        Rev::new(9, 0),
    ];
    for rev in revs {
        backend
            .commit(&batch(vec![(rev, put("k", "v", 9, 1))]))
            .unwrap();
    }
    let loaded: Vec<Rev> = backend
        .load()
        .unwrap()
        .records
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let mut sorted = revs.to_vec();
    sorted.sort();
    assert_eq!(loaded, sorted);
}

#[test]
fn a_failed_batch_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let backend = RedbBackend::open(dir.path()).unwrap();
    backend
        .commit(&batch(vec![(Rev::new(2, 0), put("a", "1", 2, 1))]))
        .unwrap();
    // The second record of this batch would overwrite revision 2/0: the whole batch,
    // including the records and the lease before it, must be dropped.
    let bad = CommitBatch {
        records: vec![
            (Rev::new(3, 0), put("b", "1", 3, 1)),
            (Rev::new(2, 0), put("x", "x", 2, 1)),
        ],
        leases_granted: vec![(5, 10)],
        compact_scheduled: Some(2),
        ..Default::default()
    };
    let err = backend.commit(&bad).unwrap_err();
    assert!(
        matches!(&err, StoreError::Storage(m) if m.contains("already stored")),
        "{err:?}"
    );
    // A negative revision in a record is refused the same way.
    let negative = batch(vec![(Rev::new(4, 0), put("c", "1", -4, 1))]);
    assert!(matches!(
        backend.commit(&negative),
        Err(StoreError::Storage(_))
    ));
    drop(backend);

    let loaded = RedbBackend::open(dir.path()).unwrap().load().unwrap();
    assert_eq!(loaded.records, vec![(Rev::new(2, 0), put("a", "1", 2, 1))]);
    assert!(loaded.leases.is_empty());
    assert_eq!(loaded.compact_scheduled, 0);
}

#[test]
fn leases_are_granted_and_revoked_durably() {
    let dir = tempfile::tempdir().unwrap();
    {
        let backend = RedbBackend::open(dir.path()).unwrap();
        backend
            .commit(&CommitBatch {
                leases_granted: vec![(1, 5), (2, 10), (3, 15)],
                ..Default::default()
            })
            .unwrap();
        backend
            .commit(&CommitBatch {
                leases_revoked: vec![2, 99],
                ..Default::default()
            })
            .unwrap();
    }
    let loaded = RedbBackend::open(dir.path()).unwrap().load().unwrap();
    assert_eq!(loaded.leases, vec![(1, 5), (3, 15)]);
}

#[test]
fn compaction_deletes_the_given_records_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let backend = RedbBackend::open(dir.path()).unwrap();
    let records: Vec<(Rev, Record)> = (2..12)
        .map(|main| (Rev::new(main, 0), put("k", &main.to_string(), 2, main - 1)))
        .collect();
    backend.commit(&batch(records.clone())).unwrap();
    backend
        .commit(&CommitBatch {
            compact_scheduled: Some(8),
            ..Default::default()
        })
        .unwrap();

    let removed: Vec<Rev> = (2..8).map(|main| Rev::new(main, 0)).collect();
    backend.compact(8, &removed).unwrap();
    let after = backend.load().unwrap();
    assert_eq!(after.records, records[6..].to_vec());
    assert_eq!((after.compact_scheduled, after.compact_finished), (8, 8));

    // Again, as after a crash just before compact_finished was known to the store.
    backend.compact(8, &removed).unwrap();
    assert_eq!(backend.load().unwrap(), after);

    // An older compaction never moves the marks back.
    backend.compact(4, &[]).unwrap();
    let loaded = backend.load().unwrap();
    assert_eq!((loaded.compact_scheduled, loaded.compact_finished), (8, 8));
}

#[test]
fn compaction_refuses_to_delete_newer_records() {
    let dir = tempfile::tempdir().unwrap();
    let backend = RedbBackend::open(dir.path()).unwrap();
    backend
        .commit(&batch(vec![(Rev::new(5, 0), put("k", "v", 5, 1))]))
        .unwrap();
    assert!(matches!(
        backend.compact(4, &[Rev::new(5, 0)]),
        Err(StoreError::Storage(_))
    ));
    assert_eq!(backend.load().unwrap().records.len(), 1);
}

#[test]
fn an_interrupted_compaction_is_visible_on_reopen_and_can_be_finished() {
    let dir = tempfile::tempdir().unwrap();
    let n = (COMPACT_CHUNK * 2 + 500) as i64;
    let removed: Vec<Rev> = (2..n + 2).map(|main| Rev::new(main, 0)).collect();
    {
        let backend = RedbBackend::open(dir.path()).unwrap();
        let records = removed
            .iter()
            .map(|&rev| (rev, put("k", "v", 2, rev.main - 1)))
            .collect();
        backend.commit(&batch(records)).unwrap();
        backend
            .commit(&batch(vec![(
                Rev::new(n + 2, 0),
                put("k", "last", 2, n + 1),
            )]))
            .unwrap();
        backend
            .commit(&CommitBatch {
                compact_scheduled: Some(n + 2),
                ..Default::default()
            })
            .unwrap();
        // The crash: the first chunk was deleted, the rest never was.
        backend
            .remove_records(&removed[..COMPACT_CHUNK], None)
            .unwrap();
    }
    let backend = RedbBackend::open(dir.path()).unwrap();
    let loaded = backend.load().unwrap();
    assert_eq!(loaded.compact_scheduled, n + 2);
    assert_eq!(loaded.compact_finished, 0);
    assert_eq!(loaded.records.len(), removed.len() - COMPACT_CHUNK + 1);

    // The store finishes it on start with the full list, part of which is gone already.
    backend.compact(n + 2, &removed).unwrap();
    let loaded = backend.load().unwrap();
    assert_eq!(
        loaded.records,
        vec![(Rev::new(n + 2, 0), put("k", "last", 2, n + 1))]
    );
    assert_eq!(loaded.compact_finished, n + 2);
}

#[test]
fn size_reports_the_file_and_grows_with_commits() {
    let dir = tempfile::tempdir().unwrap();
    let backend = RedbBackend::open(dir.path()).unwrap();
    let (file0, used0) = backend.size();
    assert_eq!(
        file0,
        std::fs::metadata(backend.path()).unwrap().len() as i64
    );
    assert!(used0 <= file0);
    let value = "v".repeat(1000);
    let records = (2..200)
        .map(|m| (Rev::new(m, 0), put("k", &value, 2, m - 1)))
        .collect();
    backend.commit(&batch(records)).unwrap();
    let (file1, used1) = backend.size();
    assert!(file1 >= 198 * 1000, "file {file1}");
    assert!(used1 >= used0 + 198 * 1000, "in use {used0} -> {used1}");
    assert!(used1 <= file1);
}

#[test]
fn refuses_a_second_open_of_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let _first = RedbBackend::open(dir.path()).unwrap();
    let msg = open_err(dir.path());
    assert!(msg.contains("already open"), "{msg}");
}

#[test]
fn refuses_a_file_of_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(DATA_FILE_NAME);
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let garbage: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(&file, &garbage).unwrap();
    let msg = open_err(dir.path());
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    // Never reset: the file is as it was.
    assert_eq!(std::fs::read(&file).unwrap(), garbage);

    std::fs::write(&file, b"this is a text file, not a database\n").unwrap();
    let msg = open_err(dir.path());
    assert!(
        msg.contains("not a redb data file") || msg.contains("corrupt"),
        "{msg}"
    );
}

#[test]
fn refuses_a_damaged_data_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = {
        let backend = RedbBackend::open(dir.path()).unwrap();
        let value = "x".repeat(200);
        let records = (2..2000)
            .map(|m| (Rev::new(m, 0), put("key", &value, 2, m - 1)))
            .collect();
        backend.commit(&batch(records)).unwrap();
        backend.path().to_path_buf()
    };
    let original = std::fs::read(&file).unwrap();

    // Overwrite a stretch in the middle of the file, where the record pages are.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&file)
        .unwrap();
    let middle = original.len() as u64 / 2;
    f.seek(SeekFrom::Start(middle)).unwrap();
    let mut page = vec![0u8; 4096];
    f.read_exact(&mut page).unwrap();
    for b in page.iter_mut() {
        *b = !*b;
    }
    f.seek(SeekFrom::Start(middle)).unwrap();
    f.write_all(&page).unwrap();
    f.sync_all().unwrap();
    drop(f);

    let msg = open_err(dir.path());
    assert!(msg.contains("corrupt"), "{msg}");

    // A truncated file is refused too.
    std::fs::write(&file, &original[..original.len() / 3]).unwrap();
    let msg = open_err(dir.path());
    assert!(msg.contains(&file.display().to_string()), "{msg}");
}

#[test]
fn refuses_a_file_from_a_newer_or_older_format() {
    let dir = tempfile::tempdir().unwrap();
    let file = RedbBackend::open(dir.path()).unwrap().path().to_path_buf();
    poke_meta(&file, META_FORMAT_VERSION, FORMAT_VERSION + 1);
    let msg = open_err(dir.path());
    assert!(
        msg.contains("newer Skiff") && msg.contains("data format 2"),
        "{msg}"
    );

    poke_meta(&file, META_FORMAT_VERSION, 0);
    let msg = open_err(dir.path());
    assert!(msg.contains("older Skiff"), "{msg}");

    poke_meta(&file, META_FORMAT_VERSION, FORMAT_VERSION);
    RedbBackend::open(dir.path()).unwrap();
}

#[test]
fn refuses_a_redb_file_of_another_program() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(DATA_FILE_NAME);
    {
        let db = Database::create(&file).unwrap();
        let txn = db.begin_write().unwrap();
        let def: redb::TableDefinition<&str, &str> = redb::TableDefinition::new("users");
        txn.open_table(def)
            .unwrap()
            .insert("alice", "admin")
            .unwrap();
        txn.commit().unwrap();
    }
    let msg = open_err(dir.path());
    assert!(
        msg.contains("not a Skiff data file") && msg.contains("users"),
        "{msg}"
    );
}

#[test]
fn refuses_a_meta_table_without_its_facts() {
    let dir = tempfile::tempdir().unwrap();
    let file = RedbBackend::open(dir.path()).unwrap().path().to_path_buf();
    {
        let db = Database::create(&file).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .remove(META_FORMAT_VERSION)
            .unwrap();
        txn.commit().unwrap();
    }
    let msg = open_err(dir.path());
    assert!(msg.contains("format_version"), "{msg}");
}

#[test]
fn a_record_that_does_not_decode_fails_the_load_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = {
        let backend = RedbBackend::open(dir.path()).unwrap();
        backend
            .commit(&batch(vec![(Rev::new(2, 0), put("a", "1", 2, 1))]))
            .unwrap();
        backend.path().to_path_buf()
    };
    {
        let db = Database::create(&file).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(RECORDS)
            .unwrap()
            .insert((3, 0), [9u8, 0, 0].as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let backend = RedbBackend::open(dir.path()).unwrap();
    match backend.load() {
        Err(StoreError::Open(msg)) => {
            assert!(
                msg.contains("3/0") && msg.contains("encoding version 9"),
                "{msg}"
            )
        }
        other => panic!("expected an Open error, got {other:?}"),
    }
}
