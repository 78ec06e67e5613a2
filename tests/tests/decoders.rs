//! Decoders never panic, and the fixture database keeps opening.
//!
//! Random bytes and mutated valid encodings go into every decoder of untrusted bytes: data
//! blocks, whole tables (open, full iteration in both directions, seeks, point reads,
//! verification), write-ahead logs in every recovery mode, manifests (through `CURRENT` and
//! recovery), and the engine's batch records. Any result is fine except a panic. Longer runs:
//! `KVD_STRESS=1`, or the `cargo fuzz` targets in `fuzz/`.
//!
//! Golden files: the table and log fixtures of `kvd-lsm` and `kvd-wal` must exist and read
//! cleanly; the fixture database `tests/fixtures/db-v1/` must open with exactly its data set
//! (regenerate it deliberately with `KVD_REGENERATE_FIXTURES=1`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use kvd::{Compression, Db, Options, RecoveryMode, SyncPolicy, WriteBatch};
use kvd_base::fs::{Fs, MemFs, StdFs};
use kvd_base::key::{encode_expiring_value, encode_internal_key, ValueKind};
use kvd_lsm::iter::InternalIterator;
use kvd_lsm::sstable::{Block, BlockBuilder, Table, TableBuilder, TableOptions};
use kvd_tests::env::scale;
use kvd_tests::fixtures::{copy_dir, expected_contents, fixture_dir, generate};
use kvd_tests::model::{collect_scan, show};
use kvd_wal::{LogReader, Wal};
use proptest::prelude::*;
use proptest::test_runner::Config;

fn ikey(user: &[u8], seq: u64, kind: ValueKind) -> Vec<u8> {
    let mut k = Vec::new();
    encode_internal_key(&mut k, user, seq, kind);
    k
}

/// Sorted, valid internal-key entries, some tombstones and expiring values.
fn entries(n: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let user = format!("key{:05}", i * 3);
            match i % 5 {
                0 => (ikey(user.as_bytes(), u64::from(i) + 1, ValueKind::Delete), Vec::new()),
                1 => (
                    ikey(user.as_bytes(), u64::from(i) + 1, ValueKind::PutWithExpiry),
                    encode_expiring_value(u64::MAX / 2, b"exp"),
                ),
                _ => (
                    ikey(user.as_bytes(), u64::from(i) + 1, ValueKind::Put),
                    format!("value{i}").repeat(1 + i as usize % 4).into_bytes(),
                ),
            }
        })
        .collect()
}

fn valid_block() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| {
        let mut b = BlockBuilder::new(3);
        for (k, v) in entries(40) {
            b.add(&k, &v);
        }
        b.finish()
    })
}

fn valid_table(compression: Compression) -> Vec<u8> {
    let fs = MemFs::new();
    let path = Path::new("/t.sst");
    let opts = TableOptions { block_size: 200, restart_interval: 4, bloom_bits_per_key: 10, compression };
    let mut b = TableBuilder::new(fs.create(path).unwrap(), "t.sst".into(), opts);
    for (k, v) in entries(120) {
        b.add(&k, &v).unwrap();
    }
    b.finish().unwrap();
    fs.read_all(path).unwrap()
}

fn valid_tables() -> &'static [Vec<u8>; 2] {
    static T: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    T.get_or_init(|| [valid_table(Compression::None), valid_table(Compression::Zstd { level: 1 })])
}

fn valid_log() -> &'static [u8] {
    static L: OnceLock<Vec<u8>> = OnceLock::new();
    L.get_or_init(|| {
        let fs = Arc::new(MemFs::new());
        let dir = Path::new("/w");
        fs.create_dir_all(dir).unwrap();
        let wal = Wal::create(fs.clone(), dir, 7, SyncPolicy::Never).unwrap();
        for i in 0..30usize {
            // Mostly small payloads, and a few that span 32 KiB blocks.
            let len = if i % 10 == 9 { 40_000 } else { i * 13 };
            wal.append(&vec![i as u8; len], false).unwrap();
        }
        wal.close().unwrap();
        fs.read_all(&kvd_base::file_names::wal_path(dir, 7)).unwrap()
    })
}

/// A real database's manifest and one of its log records (an encoded batch group).
fn valid_manifest_and_record() -> &'static (Vec<u8>, Vec<u8>) {
    static M: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    M.get_or_init(|| {
        let fs = MemFs::new();
        let db =
            Db::open("/db", Options { fs: Arc::new(fs.clone()), write_buffer_size: 2 << 10, ..Options::default() })
                .unwrap();
        for i in 0..200u32 {
            let mut b = WriteBatch::new();
            b.put(format!("k{i}"), "v".repeat(i as usize % 50)).delete(format!("k{}", i / 2));
            b.put_with_ttl(format!("t{i}"), "x", std::time::Duration::from_secs(60));
            db.write(b).unwrap();
        }
        db.flush().unwrap();
        db.put(b"last", b"record").unwrap();
        db.close().unwrap();
        let files = kvd_tests::env::db_files(&fs, Path::new("/db"));
        let find = |f: &dyn Fn(&kvd_base::file_names::FileKind) -> bool| {
            files.iter().find(|(_, k)| f(k)).map(|(n, _)| fs.read_all(&Path::new("/db").join(n)).unwrap()).unwrap()
        };
        let manifest = find(&|k| matches!(k, kvd_base::file_names::FileKind::Manifest(_)));
        let log = find(&|k| matches!(k, kvd_base::file_names::FileKind::Wal(_)));
        let record = kvd_tests::wal_layout::record_spans(&log).pop().expect("a record").payload;
        (manifest, record)
    })
}

/// Applies byte overwrites (position as a fraction of the length) and an optional cut.
fn mutate(base: &[u8], edits: &[(prop::sample::Index, u8)], cut: Option<prop::sample::Index>) -> Vec<u8> {
    let mut v = base.to_vec();
    if !v.is_empty() {
        for (i, b) in edits {
            let at = i.index(v.len());
            v[at] ^= b | 1;
        }
    }
    if let Some(c) = cut {
        v.truncate(c.index(v.len() + 1));
    }
    v
}

/// Drives any internal iterator over everything it yields, both ways, and a few seeks;
/// errors end a walk. Bounded so a decoder that loops cannot hang the test.
fn exercise(it: &mut dyn InternalIterator, probe: &[u8]) {
    let limit = 100_000;
    if it.seek_to_first().is_ok() {
        for _ in 0..limit {
            if !it.valid() || it.next().is_err() {
                break;
            }
            let _ = (it.key().len(), it.value().len());
        }
    }
    if it.seek_to_last().is_ok() {
        for _ in 0..limit {
            if !it.valid() || it.prev().is_err() {
                break;
            }
        }
    }
    let _ = it.seek(probe);
    let _ = it.seek_for_prev(probe);
    if it.valid() {
        let _ = it.next();
    }
}

fn decode_block(bytes: Vec<u8>, probe: &[u8]) {
    if let Ok(block) = Block::from_bytes(bytes) {
        exercise(&mut Arc::new(block).iter(), probe);
    }
}

fn decode_table(bytes: Vec<u8>, probe: &[u8]) {
    let fs = MemFs::new();
    let path = Path::new("/x.sst");
    let mut f = fs.create(path).unwrap();
    f.append(&bytes).unwrap();
    drop(f);
    if let Ok(table) = Table::open(fs.open(path).unwrap(), 1, "x.sst".into(), None) {
        exercise(&mut table.iter(), probe);
        let _ = table.get(probe, u64::MAX >> 8);
        let _ = table.verify();
        let _ = table.index_entries();
    }
}

fn decode_log(bytes: Vec<u8>) {
    for mode in [RecoveryMode::TolerateCorruptedTail, RecoveryMode::AbsoluteConsistency, RecoveryMode::PointInTime] {
        if let Ok(mut r) = LogReader::new(bytes.clone(), "x.log", mode) {
            for _ in 0..100_000 {
                match r.next_record() {
                    Ok(Some(p)) => {
                        let _ = kvd::decode_record(&p, "x.log", r.last_record_offset().unwrap_or(0));
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            let _ = r.tail_dropped();
        }
    }
}

fn decode_manifest(bytes: Vec<u8>) {
    let fs = MemFs::new();
    let dir = Path::new("/m");
    fs.create_dir_all(dir).unwrap();
    fs.write_atomic(&dir.join("CURRENT"), b"MANIFEST-000001\n").unwrap();
    let mut f = fs.create(&dir.join("MANIFEST-000001")).unwrap();
    f.append(&bytes).unwrap();
    drop(f);
    let _ = kvd_lsm::manifest::recover(&fs, dir);
}

fn config() -> Config {
    Config { cases: scale(256, 20_000), failure_persistence: None, ..Config::default() }
}

fn edits() -> impl Strategy<Value = Vec<(prop::sample::Index, u8)>> {
    prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn block_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600), probe in prop::collection::vec(any::<u8>(), 0..20)) {
        decode_block(bytes, &probe);
    }

    #[test]
    fn mutated_blocks_never_panic(e in edits(), cut in prop::option::of(any::<prop::sample::Index>()), probe in prop::collection::vec(any::<u8>(), 0..20)) {
        decode_block(mutate(valid_block(), &e, cut), &probe);
    }

    #[test]
    fn table_reader_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400), probe in prop::collection::vec(any::<u8>(), 0..20)) {
        decode_table(bytes, &probe);
    }

    #[test]
    fn mutated_tables_never_panic(which in 0..2usize, e in edits(), cut in prop::option::weighted(0.2, any::<prop::sample::Index>()), probe in prop::collection::vec(any::<u8>(), 0..20)) {
        decode_table(mutate(&valid_tables()[which], &e, cut), &probe);
    }

    #[test]
    fn log_reader_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        decode_log(bytes);
    }

    #[test]
    fn mutated_logs_never_panic(e in edits(), cut in prop::option::weighted(0.3, any::<prop::sample::Index>())) {
        decode_log(mutate(valid_log(), &e, cut));
    }

    #[test]
    fn manifest_replay_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400), e in edits(), cut in prop::option::weighted(0.3, any::<prop::sample::Index>())) {
        decode_manifest(bytes);
        decode_manifest(mutate(&valid_manifest_and_record().0, &e, cut));
    }

    #[test]
    fn batch_record_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200), e in edits(), cut in prop::option::weighted(0.3, any::<prop::sample::Index>())) {
        let _ = kvd::decode_record(&bytes, "x.log", 0);
        let _ = kvd::decode_record(&mutate(&valid_manifest_and_record().1, &e, cut), "x.log", 0);
    }
}

/// The valid samples really are valid, so the mutations start from meaningful inputs.
#[test]
fn valid_samples_decode() {
    let block = Arc::new(Block::from_bytes(valid_block().to_vec()).unwrap());
    let mut it = block.iter();
    it.seek_to_first().unwrap();
    let mut n = 0;
    while it.valid() {
        n += 1;
        it.next().unwrap();
    }
    assert_eq!(n, 40);
    for bytes in valid_tables() {
        let fs = MemFs::new();
        let mut f = fs.create(Path::new("/t")).unwrap();
        f.append(bytes).unwrap();
        drop(f);
        let t = Table::open(fs.open(Path::new("/t")).unwrap(), 1, "t".into(), None).unwrap();
        assert_eq!(t.verify().unwrap().entries, 120);
        assert!(t.index_entries().unwrap().len() > 5);
    }
    let mut r = LogReader::new(valid_log().to_vec(), "l", RecoveryMode::AbsoluteConsistency).unwrap();
    let mut n = 0;
    while r.next_record().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 30);
    let (manifest, record) = valid_manifest_and_record();
    assert!(!manifest.is_empty());
    assert_eq!(kvd::decode_record(record, "l", 0).unwrap().len(), 1);
}

/// The golden files of the other formats are checked in and read cleanly through the public
/// readers (their owners' tests check their exact contents).
#[test]
fn golden_table_and_log_fixtures_exist_and_read() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let sst = root.join("lsm/tests/fixtures/v1.sst");
    let table =
        Table::open(StdFs.open(&sst).expect("lsm/tests/fixtures/v1.sst is checked in"), 1, "v1.sst".into(), None)
            .expect("the v1 table opens");
    let report = table.verify().expect("the v1 table verifies");
    assert!(report.entries > 0);
    let log = root.join("wal/tests/fixtures/v1.log");
    let mut r = LogReader::open(&StdFs, &log, RecoveryMode::AbsoluteConsistency)
        .expect("wal/tests/fixtures/v1.log is checked in");
    let mut n = 0;
    while r.next_record().expect("the v1 log reads cleanly").is_some() {
        n += 1;
    }
    assert!(n > 0);
}

#[test]
fn fixture_database_v1_opens_with_exact_contents() {
    let dir = fixture_dir();
    if std::env::var("KVD_REGENERATE_FIXTURES").is_ok_and(|v| v == "1") {
        let _ = std::fs::remove_dir_all(&dir);
        generate(&dir).expect("generate the fixture database");
    }
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/db-v1 is checked in")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let count = |suffix: &str| names.iter().filter(|n| n.ends_with(suffix)).count();
    assert!(count(".sst") >= 2, "two tables (plain and zstd): {names:?}");
    assert_eq!(count(".log"), 1, "one log holding unflushed writes: {names:?}");
    assert!(names.iter().any(|n| n.starts_with("MANIFEST-")) && names.iter().any(|n| n == "CURRENT"), "{names:?}");
    assert!(!names.iter().any(|n| n == "LOCK"), "LOCK is no part of the fixture: {names:?}");

    // Open a copy: opening writes (recovery, a new log and manifest).
    let tmp = tempfile::tempdir().unwrap();
    let copy: PathBuf = tmp.path().join("db");
    copy_dir(&dir, &copy).unwrap();
    let opts =
        Options { create_if_missing: false, recovery_mode: RecoveryMode::AbsoluteConsistency, ..Options::default() };
    let want = expected_contents();
    for round in 0..2 {
        let db = Db::open(&copy, opts.clone())
            .unwrap_or_else(|e| panic!("the v1 fixture database opens (round {round}): {e}"));
        let got = collect_scan(db.scan(None, None), "fixture scan");
        let want_all = want.scan(None, None, false);
        assert_eq!(
            got.iter().map(|(k, _)| show(k)).collect::<Vec<_>>(),
            want_all.iter().map(|(k, _)| show(k)).collect::<Vec<_>>(),
            "fixture keys (round {round})"
        );
        assert!(got == want_all, "fixture values (round {round})");
        for (k, v) in want.entries() {
            assert_eq!(db.get(k).unwrap().as_deref(), Some(&v[..]), "get {}", show(k));
        }
        assert_eq!(db.get(b"ttl/short").unwrap(), None, "an expired entry stays expired");
        assert_eq!(db.get(b"key0005").unwrap(), None, "a key deleted in a table stays deleted");
        assert_eq!(db.get(b"key0011").unwrap(), None, "a key deleted in the log stays deleted");
        assert_eq!(db.get(b"key0003").unwrap().as_deref(), Some(&b"resurrected in the log"[..]));
        assert_eq!(db.get(b"ttl/far").unwrap().as_deref(), Some(&b"lives a century"[..]));
        assert_eq!(db.get(b"wal/only").unwrap().as_deref(), Some(&b"never flushed"[..]));
        db.close().unwrap();
    }
}
