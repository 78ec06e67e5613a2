//! Records come back exactly as written: sizes around every block-layout edge, through both
//! reader sources, on the in-memory and the real file system, and across rotation.

mod common;

use std::sync::Arc;

use common::*;
use kvd_base::fs::{Fs, StdFs};
use kvd_wal::format::{BLOCK_SIZE, FILE_HEADER_LEN, HEADER_SIZE, MAX_FRAGMENT_LEN};
use kvd_wal::{Error, LogReader, LogWriter, RecoveryMode, SyncPolicy, Wal};

/// Sizes that land on every interesting edge: empty, tiny, one fragment filling a block,
/// exactly a block, just over, and records of several blocks (100 KiB and more).
fn edge_sizes() -> Vec<usize> {
    let first_block_room = BLOCK_SIZE - HEADER_SIZE - FILE_HEADER_LEN - HEADER_SIZE;
    vec![
        0,
        1,
        100,
        first_block_room,
        first_block_room - 3, // leaves a 3-byte tail: padding
        MAX_FRAGMENT_LEN - 1,
        MAX_FRAGMENT_LEN,
        MAX_FRAGMENT_LEN + 1,
        BLOCK_SIZE,
        100 * 1024,
        3 * BLOCK_SIZE + 17,
        0,
    ]
}

#[test]
fn edge_sizes_roundtrip_alone_and_together() {
    // Alone: each size as the first record, where the layout edges are exact.
    for (i, len) in edge_sizes().into_iter().enumerate() {
        let fs = mem_fs();
        let wal = create_wal(fs.clone(), SyncPolicy::Never);
        let p = payload(i as u64, len);
        wal.append(&p, false).unwrap();
        wal.append(b"after", false).unwrap();
        wal.close().unwrap();
        let (recs, r) = read_log(&*fs, 1, RecoveryMode::AbsoluteConsistency).unwrap();
        assert_eq!(recs, [p, b"after".to_vec()], "size {len}");
        assert_eq!(r.tail_dropped(), None);
    }
    // Together: the same sizes at shifting offsets.
    let fs = mem_fs();
    let wal = create_wal(fs.clone(), SyncPolicy::Never);
    let all: Vec<_> = edge_sizes().into_iter().enumerate().map(|(i, n)| payload(100 + i as u64, n)).collect();
    for p in &all {
        wal.append(p, false).unwrap();
    }
    wal.close().unwrap();
    for mode in MODES {
        assert_eq!(read_log(&*fs, 1, mode).unwrap().0, all);
    }
}

#[test]
fn records_starting_in_the_last_bytes_of_a_block() {
    // A record starting 0..=16 bytes before a block end: padding (under 7), an empty First
    // fragment (exactly 7), or a short first fragment.
    let header_end = HEADER_SIZE + FILE_HEADER_LEN;
    for j in 0..=16 {
        for (k, len) in [0, 1, 100, 40_000].into_iter().enumerate() {
            let fs = mem_fs();
            let path = log_path(1);
            let mut w = LogWriter::new(fs.create(&path).unwrap(), 1).unwrap();
            let filler = payload(1, BLOCK_SIZE - j - header_end - HEADER_SIZE);
            let p = payload(2 + k as u64, len);
            w.add_record(&filler).unwrap();
            assert_eq!(w.size() as usize, BLOCK_SIZE - j);
            w.add_record(&p).unwrap();
            w.add_record(b"tail").unwrap();
            w.flush().unwrap();
            let want = [filler, p, b"tail".to_vec()];
            let bytes = fs.read_all(&path).unwrap();
            let got = read_bytes(&bytes, RecoveryMode::AbsoluteConsistency).unwrap().0;
            assert_eq!(got, want, "j={j} len={len}");
            // The block-at-a-time file source agrees with the in-memory one.
            let got = read_log(&*fs, 1, RecoveryMode::AbsoluteConsistency).unwrap().0;
            assert_eq!(got, want, "j={j} len={len}");
        }
    }
}

#[test]
fn reader_reports_log_number_and_record_offsets() {
    let fs = mem_fs();
    let wal = Wal::create(fs.clone(), dir(), 42, SyncPolicy::Always).unwrap();
    assert_eq!(wal.current_log_number(), 42);
    wal.append(b"one", false).unwrap();
    wal.append(b"two", false).unwrap();
    let mut r = LogReader::open(&*fs, &log_path(42), RecoveryMode::default()).unwrap();
    assert_eq!(r.log_number(), Some(42));
    assert_eq!(r.next_record().unwrap().unwrap(), b"one");
    let first = (HEADER_SIZE + FILE_HEADER_LEN) as u64;
    assert_eq!(r.last_record_offset(), Some(first));
    assert_eq!(r.next_record().unwrap().unwrap(), b"two");
    assert_eq!(r.last_record_offset(), Some(first + HEADER_SIZE as u64 + 3));
    assert!(r.file_name().ends_with("000042.log"));
}

#[test]
fn rotation_splits_records_between_logs() {
    let fs = mem_fs();
    let wal = create_wal(fs.clone(), SyncPolicy::Never);
    wal.append(b"in one", false).unwrap();
    assert_eq!(wal.rotate(5).unwrap(), 1);
    assert_eq!(wal.current_log_number(), 5);
    wal.append(b"in five", false).unwrap();
    // Numbers must increase; a refused rotation changes nothing.
    assert!(matches!(wal.rotate(5), Err(Error::LogNumberNotIncreasing { current: 5, .. })));
    assert!(matches!(wal.rotate(3), Err(Error::LogNumberNotIncreasing { requested: 3, .. })));
    wal.append(b"still five", false).unwrap();
    wal.close().unwrap();
    assert!(matches!(wal.append(b"x", false), Err(Error::Closed)));
    wal.close().unwrap();
    assert_eq!(read_log(&*fs, 1, RecoveryMode::AbsoluteConsistency).unwrap().0, [b"in one"]);
    let (five, r) = read_log(&*fs, 5, RecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!(five, [b"in five".to_vec(), b"still five".to_vec()]);
    assert_eq!(r.log_number(), Some(5));
}

#[test]
fn counters_track_bytes_and_syncs() {
    let fs = mem_fs();
    let wal = create_wal(fs.clone(), SyncPolicy::Never);
    let header = (HEADER_SIZE + FILE_HEADER_LEN) as u64;
    assert_eq!(wal.bytes_written(), header);
    assert_eq!(wal.syncs(), 1, "creation syncs the header");
    wal.append(b"abc", false).unwrap();
    assert_eq!(wal.bytes_written(), header + HEADER_SIZE as u64 + 3);
    assert_eq!(wal.syncs(), 1, "Never does not sync on append");
    wal.append(b"abc", true).unwrap();
    assert_eq!(wal.syncs(), 2, "an explicit sync request does");
    wal.sync().unwrap();
    assert_eq!(wal.syncs(), 2, "nothing new to sync");
    assert_eq!(wal.bytes_written(), fs.file_size(&log_path(1)).unwrap());
}

#[test]
fn real_file_system_roundtrip() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = Arc::new(StdFs);
    let big = payload(1, 100 * 1024);
    {
        let wal = Wal::create(fs.clone(), tmp.path(), 3, SyncPolicy::Always).unwrap();
        wal.append(b"small", false).unwrap();
        wal.append(&big, false).unwrap();
        wal.append(b"", false).unwrap();
    } // dropped without close: drop closes it
    let path = kvd_base::file_names::wal_path(tmp.path(), 3);
    let mut r = LogReader::open(&*fs, &path, RecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!(r.next_record().unwrap().unwrap(), b"small");
    assert_eq!(r.next_record().unwrap().unwrap(), big);
    assert_eq!(r.next_record().unwrap().unwrap(), b"");
    assert_eq!(r.next_record().unwrap(), None);
}
