//! Corruption: damaged bytes in a log or a table give a corruption error naming the file, or
//! are recovered from exactly as the recovery mode says; never a panic, never wrong data.
//!
//! - A flipped byte in a log record followed by good records: an error in the default and
//!   absolute-consistency modes, the prefix before it in point-in-time mode.
//! - A flipped byte in the last log record: dropped as a torn tail by default and in
//!   point-in-time mode, an error in absolute-consistency mode.
//! - A log cut anywhere: every complete record is recovered, nothing else.
//! - A flipped byte in a data block, the index, the filter, the properties, a block trailer
//!   or the footer of a table: reads report corruption naming the table.
//! - A damaged manifest or `CURRENT`: open reports corruption naming it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kvd::{Db, Error, Options, RecoveryMode, SyncPolicy, TableOptions};
use kvd_base::file_names::CURRENT;
use kvd_base::fs::Fs;
use kvd_lsm::sstable::{Table, FOOTER_LEN};
use kvd_tests::env::{db_dir, file_name, scale, small_options, table_files, wal_files, SimDisk};
use kvd_tests::ledger::{unique_key, Ledger, Promise, Workload};
use kvd_tests::wal_layout::record_spans;

const W: Workload = Workload { keys_per_batch: 5, shared_keys: 2, value_len: 60 };

fn options(disk: &SimDisk, mode: RecoveryMode) -> Options {
    Options {
        recovery_mode: mode,
        sync_policy: SyncPolicy::Always,
        write_buffer_size: 16 << 20,
        disable_auto_compactions: true,
        table: TableOptions { block_size: 256, restart_interval: 4, bloom_bits_per_key: 10, ..TableOptions::default() },
        block_cache_bytes: 0,
        ..small_options(disk.fs())
    }
}

/// A database with `flushed` batches in a table and `logged` more only in the log, closed.
/// Returns the disk, the ledger and the log's path.
fn build(flushed: u64, logged: u64) -> (SimDisk, Ledger, PathBuf) {
    let disk = SimDisk::new();
    let mut ledger = Ledger::default();
    let db = Db::open(db_dir(), options(&disk, RecoveryMode::default())).unwrap();
    for i in 0..flushed + logged {
        let r = db.write(W.batch(i));
        ledger.record(&r);
        r.unwrap();
        if i + 1 == flushed {
            db.flush().unwrap();
        }
    }
    db.close().unwrap();
    drop(db);
    let logs = wal_files(&disk.mem, &db_dir());
    assert_eq!(logs.len(), 1, "one live log: {logs:?}");
    (disk, ledger, logs[0].clone())
}

/// Opens in `mode` and returns the surviving batch ids, or the open error.
fn open_survivors(disk: &SimDisk, mode: RecoveryMode, ledger: &Ledger) -> Result<BTreeSet<u64>, Error> {
    let db = Db::open(db_dir(), options(disk, mode))?;
    let mut l = Ledger { acked: BTreeSet::new(), ..ledger.clone() };
    Ok(l.verify(&db, &W, Promise::Prefix).unwrap_or_else(|e| panic!("recovered state: {e}")))
}

fn assert_corruption_naming(e: &Error, file: &str) {
    assert!(e.is_corruption(), "expected a corruption error, got: {e}");
    assert!(e.to_string().contains(file), "the error does not name {file}: {e}");
}

fn ids(r: std::ops::Range<u64>) -> BTreeSet<u64> {
    r.collect()
}

#[test]
fn flipped_byte_in_a_middle_log_record() {
    let (flushed, logged) = (10, 12);
    let (pristine, ledger, log) = build(flushed, logged);
    let spans = record_spans(&pristine.mem.read_all(&log).unwrap());
    assert_eq!(spans.len() as u64, logged, "one record per batch when written one at a time");
    for (k, span) in spans.iter().enumerate().take(spans.len() - 1) {
        for at in [span.start + 1, span.start + 8, (span.start + span.end) / 2, span.end - 1] {
            for mode in
                [RecoveryMode::TolerateCorruptedTail, RecoveryMode::AbsoluteConsistency, RecoveryMode::PointInTime]
            {
                let disk = pristine.copy_dir(&db_dir());
                disk.mem.mutate_byte(&log, at as usize, |b| b ^ 0x20).unwrap();
                let got = open_survivors(&disk, mode, &ledger);
                let what = format!("record {k}, byte {at}, {mode:?}");
                match mode {
                    RecoveryMode::PointInTime => {
                        assert_eq!(got.unwrap_or_else(|e| panic!("{what}: {e}")), ids(0..flushed + k as u64), "{what}")
                    }
                    _ => assert_corruption_naming(&got.expect_err(&what), &file_name(&log)),
                }
            }
        }
    }
}

#[test]
fn flipped_byte_in_the_last_log_record() {
    let (flushed, logged) = (6, 5);
    let (pristine, ledger, log) = build(flushed, logged);
    let last = record_spans(&pristine.mem.read_all(&log).unwrap()).pop().unwrap();
    for at in last.start..last.end {
        for mode in [RecoveryMode::TolerateCorruptedTail, RecoveryMode::AbsoluteConsistency, RecoveryMode::PointInTime]
        {
            let disk = pristine.copy_dir(&db_dir());
            disk.mem.mutate_byte(&log, at as usize, |b| b ^ 0x01).unwrap();
            let got = open_survivors(&disk, mode, &ledger);
            let what = format!("byte {at} of the last record, {mode:?}");
            match mode {
                RecoveryMode::AbsoluteConsistency => assert_corruption_naming(&got.expect_err(&what), &file_name(&log)),
                _ => assert_eq!(got.unwrap_or_else(|e| panic!("{what}: {e}")), ids(0..flushed + logged - 1), "{what}"),
            }
        }
    }
}

#[test]
fn truncated_log_recovers_every_complete_record() {
    let (flushed, logged) = (4, 40);
    let (pristine, ledger, log) = build(flushed, logged);
    let spans = record_spans(&pristine.mem.read_all(&log).unwrap());
    // Past the last record the log holds only reserved zeroes; cutting there changes nothing.
    let len = spans.last().map_or(0, |s| s.end);
    let mut cuts: BTreeSet<u64> =
        spans.iter().flat_map(|s| [s.start, s.start + 1, s.start + 7, s.end - 1, s.end]).collect();
    cuts.extend((0..len).step_by(scale(13, 1)));
    for cut in cuts.into_iter().filter(|&c| c <= len) {
        let disk = pristine.copy_dir(&db_dir());
        disk.mem.truncate(&log, cut as usize).unwrap();
        let complete = spans.iter().filter(|s| s.end <= cut).count() as u64;
        let got = open_survivors(&disk, RecoveryMode::TolerateCorruptedTail, &ledger)
            .unwrap_or_else(|e| panic!("log cut at {cut} of {len}: {e}"));
        assert_eq!(got, ids(0..flushed + complete), "log cut at {cut} of {len}");
    }
}

/// The byte ranges of one table's parts.
#[derive(Debug)]
struct TableLayout {
    data_blocks: Vec<(u64, u64)>,
    index: (u64, u64),
    filter: (u64, u64),
    properties: (u64, u64),
    footer: (u64, u64),
}

fn layout(fs: &dyn Fs, path: &Path) -> TableLayout {
    let table = Table::open(fs.open(path).unwrap(), 1, file_name(path), None).unwrap();
    let span = |h: kvd_lsm::sstable::BlockHandle| (h.offset, h.offset + h.size);
    let footer = *table.footer();
    let len = fs.file_size(path).unwrap();
    TableLayout {
        data_blocks: table.index_entries().unwrap().into_iter().map(|(_, h)| span(h)).collect(),
        index: span(footer.index),
        filter: span(footer.filter.expect("the table has a filter")),
        properties: span(footer.properties),
        footer: (len - FOOTER_LEN as u64, len),
    }
}

/// Flips the byte at `at` of the only table, then checks every read: open, a full scan, and a
/// point read of every key either succeed with the right data or fail with corruption naming
/// the table; the full scan must fail. The flip is undone afterwards.
fn check_flip(disk: &SimDisk, ledger: &Ledger, table: &Path, at: u64, what: &str) {
    let name = file_name(table);
    disk.mem.mutate_byte(table, at as usize, |b| b ^ 0x10).unwrap();
    match Db::open(db_dir(), options(disk, RecoveryMode::default())) {
        Err(e) => assert_corruption_naming(&e, &name),
        Ok(db) => {
            let scan: Result<Vec<_>, _> = db.scan(None, None).collect();
            let e = scan.expect_err(&format!("{what} (byte {at}): a full scan read damaged data without error"));
            assert_corruption_naming(&e, &name);
            for id in 0..ledger.attempted {
                for j in 0..W.keys_per_batch {
                    match db.get(unique_key(id, j).as_bytes()) {
                        Ok(v) => assert_eq!(v, Some(W.value(id, j)), "{what} (byte {at}): wrong data"),
                        Err(e) => assert_corruption_naming(&e, &name),
                    }
                }
            }
            db.close().unwrap();
        }
    }
    disk.mem.mutate_byte(table, at as usize, |b| b ^ 0x10).unwrap();
}

#[test]
fn flipped_byte_in_every_part_of_a_table() {
    let (disk, ledger, _) = build(60, 0);
    let tables = table_files(&disk.mem, &db_dir());
    assert_eq!(tables.len(), 1, "{tables:?}");
    let table = &tables[0];
    let l = layout(&disk.mem, table);
    assert!(l.data_blocks.len() > 4, "several data blocks: {l:?}");
    let trailer = |(_, end): (u64, u64)| [end, end + 4, end + 8];
    let mut targets: Vec<(String, u64)> = Vec::new();
    for (i, &(start, end)) in l.data_blocks.iter().enumerate() {
        targets.extend([start, (start + end) / 2, end - 1].map(|b| (format!("data block {i}"), b)));
        targets.extend(trailer((start, end)).map(|b| (format!("trailer of data block {i}"), b)));
    }
    for (part, span) in [("index block", l.index), ("filter block", l.filter), ("properties block", l.properties)] {
        let step = ((span.1 - span.0) / scale(6, 1000)).max(1);
        targets.extend((span.0..span.1).step_by(step as usize).map(|b| (part.to_string(), b)));
        targets.extend(trailer(span).map(|b| (format!("trailer of {part}"), b)));
    }
    targets.extend((l.footer.0..l.footer.1).map(|b| ("footer".to_string(), b)));
    for (what, at) in &targets {
        check_flip(&disk, &ledger, table, *at, what);
    }
    // Undone flips leave a healthy table.
    let db = Db::open(db_dir(), options(&disk, RecoveryMode::default())).unwrap();
    Ledger { acked: BTreeSet::new(), ..ledger.clone() }.verify(&db, &W, Promise::AllAcked).unwrap();
}

#[test]
fn a_table_cut_short_is_corruption() {
    let (pristine, _, _) = build(30, 0);
    let table = table_files(&pristine.mem, &db_dir()).remove(0);
    let len = pristine.mem.file_size(&table).unwrap() as usize;
    for cut in [0, 1, FOOTER_LEN - 1, FOOTER_LEN, len / 2, len - FOOTER_LEN, len - 1] {
        let disk = pristine.copy_dir(&db_dir());
        disk.mem.truncate(&table, cut).unwrap();
        let e = match Db::open(db_dir(), options(&disk, RecoveryMode::default())) {
            Err(e) => e,
            Ok(db) => {
                db.scan(None, None).find_map(Result::err).unwrap_or_else(|| panic!("cut at {cut}: scan succeeded"))
            }
        };
        assert_corruption_naming(&e, &file_name(&table));
    }
}

#[test]
fn damaged_manifest_or_current_is_corruption() {
    let (disk, _, _) = build(20, 3);
    let manifest = kvd_tests::env::db_files(&disk.mem, &db_dir())
        .into_iter()
        .find(|(_, k)| matches!(k, kvd_base::file_names::FileKind::Manifest(_)))
        .map(|(n, _)| db_dir().join(n))
        .unwrap();
    // A flipped byte in the (only) snapshot record followed by nothing is a torn tail, so flip
    // inside the header instead: a manifest that does not say what it is must not be guessed at.
    disk.mem.mutate_byte(&manifest, 2, |b| b ^ 0xff).unwrap();
    let e = Db::open(db_dir(), options(&disk, RecoveryMode::default())).err().expect("open with a bad manifest");
    assert_corruption_naming(&e, &file_name(&manifest));

    let (disk, _, _) = build(20, 3);
    disk.mem.write_atomic(&db_dir().join(CURRENT), b"not-a-manifest\n").unwrap();
    let e = Db::open(db_dir(), options(&disk, RecoveryMode::default())).err().expect("open with a bad CURRENT");
    assert_corruption_naming(&e, CURRENT);
}

#[test]
fn corruption_is_reported_in_every_mode_without_panicking() {
    // Random flips anywhere in the directory's files, in every mode: an error or a state the
    // mode allows, never a panic (a panic fails this test).
    let (flushed, logged) = (15, 15);
    let (pristine, ledger, _) = build(flushed, logged);
    let files: Vec<(PathBuf, u64)> = kvd_tests::env::db_files(&pristine.mem, &db_dir())
        .into_iter()
        .filter(|(n, _)| n != "LOCK")
        .map(|(n, _)| (db_dir().join(&n), pristine.mem.file_size(&db_dir().join(&n)).unwrap()))
        .collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..scale(150, 3000) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (path, len) = &files[(x % files.len() as u64) as usize];
        let at = (x >> 20) % len.max(&1);
        for mode in [RecoveryMode::TolerateCorruptedTail, RecoveryMode::AbsoluteConsistency, RecoveryMode::PointInTime]
        {
            let disk = pristine.copy_dir(&db_dir());
            disk.mem.mutate_byte(path, at as usize, |b| b ^ (1 << (x % 8))).unwrap();
            if let Ok(db) = Db::open(db_dir(), options(&disk, mode)) {
                let _ = db.scan(None, None).collect::<Vec<_>>();
                for id in 0..ledger.attempted {
                    // Missing is allowed (a mode may drop records); different is not.
                    if let Ok(Some(v)) = db.get(unique_key(id, 0).as_bytes()) {
                        assert_eq!(v, W.value(id, 0), "{} byte {at} {mode:?}: wrong data", path.display());
                    }
                }
            }
        }
    }
}
