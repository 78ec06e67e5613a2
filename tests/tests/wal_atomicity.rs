//! The log replays a batch all or nothing: a batch whose record is torn anywhere (cut short,
//! or its tail zeroed as a crash during a preallocated write leaves it) is dropped whole on
//! reopen, every earlier batch is intact, and the dropped batch never comes back.
//!
//! Small batches fit one fragment; large ones span several 32 KiB log blocks (first, middle
//! and last fragments), so tears between, inside and at the edges of fragments are covered.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kvd::{Db, Options, SyncPolicy};
use kvd_base::fs::Fs;
use kvd_tests::env::{db_dir, scale, small_options, wal_files, SimDisk};
use kvd_tests::ledger::{Ledger, Promise, Workload};
use kvd_tests::wal_layout::{record_spans, RecordSpan};
use kvd_wal::format::{BLOCK_SIZE, HEADER_SIZE};

fn options(disk: &SimDisk) -> Options {
    Options { sync_policy: SyncPolicy::Always, write_buffer_size: 64 << 20, ..small_options(disk.fs()) }
}

/// `before` batches of `w`, then the batch under test, all in one log; closed.
fn build(w: &Workload, before: u64) -> (SimDisk, Ledger, PathBuf, RecordSpan) {
    let disk = SimDisk::new();
    let mut ledger = Ledger::default();
    let db = Db::open(db_dir(), options(&disk)).unwrap();
    for _ in 0..=before {
        let r = db.write(w.batch(ledger.attempted));
        ledger.record(&r);
        r.unwrap();
    }
    db.close().unwrap();
    drop(db);
    let log = wal_files(&disk.mem, &db_dir()).pop().expect("a log");
    let spans = record_spans(&disk.mem.read_all(&log).unwrap());
    assert_eq!(spans.len() as u64, before + 1, "one record per batch");
    let last = spans.last().cloned().unwrap();
    (disk, ledger, log, last)
}

#[derive(Debug, Clone, Copy)]
enum Tear {
    /// The file ends at this offset.
    Cut(u64),
    /// The file keeps its length but every byte from this offset on is zero.
    ZeroFrom(u64),
}

/// Tears the last record of a copy of `pristine` and checks what a reopen finds, then that
/// the dropped batch stays dropped after more writes and another reopen.
fn check_tear(pristine: &SimDisk, ledger: &Ledger, w: &Workload, log: &Path, tear: Tear) {
    let disk = pristine.copy_dir(&db_dir());
    let len = disk.mem.file_size(log).unwrap();
    match tear {
        Tear::Cut(at) => disk.mem.truncate(log, at as usize).unwrap(),
        Tear::ZeroFrom(at) => {
            let mut data = disk.mem.read_all(log).unwrap();
            data[at as usize..].fill(0);
            let mut f = disk.mem.create(log).unwrap();
            f.append(&data).and_then(|()| f.sync()).unwrap();
            assert_eq!(disk.mem.file_size(log).unwrap(), len);
        }
    }
    let mut ledger = ledger.clone();
    let torn = ledger.attempted - 1;
    // The torn batch was acknowledged, but its bytes are gone: only the others must survive.
    ledger.acked.remove(&torn);
    let db = Db::open(db_dir(), options(&disk)).unwrap_or_else(|e| panic!("{tear:?}: reopen: {e}"));
    let survivors = ledger.verify(&db, w, Promise::Prefix).unwrap_or_else(|e| panic!("{tear:?}: {e}"));
    let want: BTreeSet<u64> = (0..torn).collect();
    assert_eq!(survivors, want, "{tear:?}: the torn batch is dropped whole, the others kept");
    for _ in 0..3 {
        let r = db.write(w.batch(ledger.attempted));
        ledger.record(&r);
        r.unwrap();
    }
    db.close().unwrap();
    drop(db);
    let db = Db::open(db_dir(), options(&disk)).unwrap();
    ledger.verify(&db, w, Promise::AllAcked).unwrap_or_else(|e| panic!("{tear:?}, after more writes: {e}"));
}

/// Offsets inside `span` worth tearing at: around every fragment boundary, plus every
/// `step`-th byte.
fn tear_points(span: &RecordSpan, step: u64) -> BTreeSet<u64> {
    let block = BLOCK_SIZE as u64;
    let mut points: BTreeSet<u64> = (span.start + 1..span.end).step_by(step as usize).collect();
    let mut b = span.start - span.start % block;
    while b < span.end {
        for p in [b, b + 1, b + HEADER_SIZE as u64 - 1, b + HEADER_SIZE as u64, b + HEADER_SIZE as u64 + 1] {
            points.insert(p);
        }
        b += block;
        for p in [b - 1, b - 2] {
            points.insert(p);
        }
    }
    for p in [span.start + 1, span.start + HEADER_SIZE as u64, span.end - 1] {
        points.insert(p);
    }
    points.retain(|p| *p > span.start && *p < span.end);
    points
}

#[test]
fn a_small_batch_torn_at_every_byte_is_dropped_whole() {
    let w = Workload { keys_per_batch: 6, shared_keys: 2, value_len: 30 };
    let (pristine, ledger, log, last) = build(&w, 8);
    assert!(last.end - last.start < BLOCK_SIZE as u64);
    for at in last.start + 1..last.end {
        check_tear(&pristine, &ledger, &w, &log, Tear::Cut(at));
        check_tear(&pristine, &ledger, &w, &log, Tear::ZeroFrom(at));
    }
}

#[test]
fn a_batch_spanning_several_log_blocks_torn_anywhere_is_dropped_whole() {
    // ~80 KiB batches: each record is cut into fragments over three or four blocks.
    let w = Workload { keys_per_batch: 40, shared_keys: 3, value_len: 2000 };
    let (pristine, ledger, log, last) = build(&w, 2);
    assert!(last.end - last.start > 2 * BLOCK_SIZE as u64, "the record spans blocks: {last:?}");
    let points = tear_points(&last, scale(211, 5));
    assert!(points.len() > 300, "{} tear points", points.len());
    for &at in &points {
        check_tear(&pristine, &ledger, &w, &log, Tear::Cut(at));
    }
    for &at in points.iter().step_by(scale(4, 3)) {
        check_tear(&pristine, &ledger, &w, &log, Tear::ZeroFrom(at));
    }
}

#[test]
fn a_torn_first_batch_leaves_an_empty_but_usable_database() {
    let w = Workload::default();
    let (pristine, ledger, log, last) = build(&w, 0);
    for at in [last.start + 1, (last.start + last.end) / 2, last.end - 1] {
        check_tear(&pristine, &ledger, &w, &log, Tear::Cut(at));
    }
}
