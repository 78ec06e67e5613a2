//! Damage inside the log (bytes that were once written and verified) must be reported with
//! file and offset by the default mode, never skipped; PointInTime keeps the prefix before it.

mod common;

use common::*;
use kvd_base::fs::{Fs, MemFs};
use kvd_wal::format::{BLOCK_SIZE, FILE_HEADER_LEN, HEADER_SIZE};
use kvd_wal::{RecoveryMode, SyncPolicy};

/// Writes `records` to log 1 and returns the fs and each record's starting offset.
fn write(records: &[Vec<u8>]) -> (std::sync::Arc<MemFs>, Vec<u64>) {
    let fs = mem_fs();
    let wal = create_wal(fs.clone(), SyncPolicy::Never);
    let mut starts = Vec::new();
    for p in records {
        starts.push(fs.file_size(&log_path(1)).unwrap());
        wal.append(p, false).unwrap();
    }
    wal.close().unwrap();
    (fs, starts)
}

/// Asserts the three modes' verdicts on a log damaged at `bad`, whose intact prefix is
/// `prefix` records and whose first damaged record starts at `dropped_from`.
fn assert_mid_log(fs: &MemFs, records: &[Vec<u8>], prefix: usize, bad: u64, dropped_from: u64) {
    for mode in [RecoveryMode::TolerateCorruptedTail, RecoveryMode::AbsoluteConsistency] {
        let e = read_log(fs, 1, mode).unwrap_err();
        assert!(e.is_corruption());
        let (file, offset) = corruption_at(&e);
        assert!(file.ends_with("000001.log"), "{file}");
        assert_eq!(offset, bad, "{mode:?}: {e}");
    }
    let (recs, r) = read_log(fs, 1, RecoveryMode::PointInTime).unwrap();
    assert_eq!(recs, records[..prefix]);
    assert_eq!(r.tail_dropped().map(|t| t.0), Some(dropped_from));
}

#[test]
fn every_flipped_byte_of_a_middle_record_is_reported_at_that_record() {
    let records: Vec<_> = (0..3).map(|i| payload(i, 40 + i as usize)).collect();
    let (fs, starts) = write(&records);
    let path = log_path(1);
    let (start, end) = (starts[1], starts[2]);
    for off in start..end {
        fs.mutate_byte(&path, off as usize, |b| b ^ 0x41).unwrap();
        assert_mid_log(&fs, &records, 1, start, start);
        fs.mutate_byte(&path, off as usize, |b| b ^ 0x41).unwrap();
    }
    assert_eq!(read_log(&*fs, 1, RecoveryMode::AbsoluteConsistency).unwrap().0, records);
}

#[test]
fn damaged_middle_fragment_of_a_multi_block_record() {
    let records = vec![payload(0, 10), payload(1, 3 * BLOCK_SIZE), payload(2, 10)];
    let (fs, starts) = write(&records);
    // The Middle fragment that begins block 1.
    fs.mutate_byte(&log_path(1), BLOCK_SIZE + 100, |b| !b).unwrap();
    assert_mid_log(&fs, &records, 1, BLOCK_SIZE as u64, starts[1]);
}

#[test]
fn a_zeroed_block_followed_by_good_blocks_is_not_a_torn_tail() {
    let records: Vec<_> = (0..400).map(|i| payload(i, 200)).collect();
    let (fs, starts) = write(&records);
    for off in BLOCK_SIZE..2 * BLOCK_SIZE {
        fs.mutate_byte(&log_path(1), off, |_| 0).unwrap();
    }
    // The record straddling into block 1 is the first casualty.
    let victim = starts.iter().rposition(|&s| s < BLOCK_SIZE as u64).unwrap();
    assert_mid_log(&fs, &records, victim, BLOCK_SIZE as u64, starts[victim]);
}

#[test]
fn a_corrupt_length_is_found_by_scanning_the_same_block() {
    let records: Vec<_> = (0..5).map(|i| payload(i, 30)).collect();
    let (fs, starts) = write(&records);
    // Length 0xffff: runs past the block, hiding where the next record starts.
    let len_at = starts[2] as usize + 4;
    fs.mutate_byte(&log_path(1), len_at, |_| 0xff).unwrap();
    fs.mutate_byte(&log_path(1), len_at + 1, |_| 0xff).unwrap();
    assert_mid_log(&fs, &records, 2, starts[2], starts[2]);
}

#[test]
fn a_first_fragment_without_its_last_is_dropped_whole() {
    let records = vec![payload(0, 10), payload(1, 2 * BLOCK_SIZE)];
    let (fs, starts) = write(&records);
    // First in block 0, Middle in block 1, Last in block 2: cut the Last off entirely.
    fs.truncate(&log_path(1), 2 * BLOCK_SIZE).unwrap();
    for mode in [RecoveryMode::TolerateCorruptedTail, RecoveryMode::PointInTime] {
        let (recs, r) = read_log(&*fs, 1, mode).unwrap();
        assert_eq!(recs, records[..1]);
        assert_eq!(r.tail_dropped().map(|t| t.0), Some(starts[1]));
    }
    let e = read_log(&*fs, 1, RecoveryMode::AbsoluteConsistency).unwrap_err();
    assert_eq!(corruption_at(&e).1, starts[1]);
}

#[test]
fn a_damaged_last_record_with_nothing_after_is_indistinguishable_from_a_torn_one() {
    // Documented limit of TolerateCorruptedTail: damage to the very last record looks
    // exactly like a torn append, so it is dropped; AbsoluteConsistency reports it.
    let records = vec![payload(0, 10), payload(1, 2 * BLOCK_SIZE)];
    let (fs, starts) = write(&records);
    let last_fragment = 2 * BLOCK_SIZE + HEADER_SIZE;
    fs.mutate_byte(&log_path(1), last_fragment, |b| !b).unwrap();
    let (recs, r) = read_log(&*fs, 1, RecoveryMode::default()).unwrap();
    assert_eq!(recs, records[..1]);
    assert_eq!(r.tail_dropped().map(|t| t.0), Some(starts[1]));
    let e = read_log(&*fs, 1, RecoveryMode::AbsoluteConsistency).unwrap_err();
    assert_eq!(corruption_at(&e).1, 2 * BLOCK_SIZE as u64);
}

#[test]
fn garbage_or_zeroes_after_the_last_record_end_the_log_zeroes_cleanly() {
    let records: Vec<_> = (0..3).map(|i| payload(i, 100)).collect();
    for junk in [vec![0u8; 5000], payload(77, 5000), vec![0u8; 2 * BLOCK_SIZE]] {
        let (fs, _) = write(&records);
        let end = fs.file_size(&log_path(1)).unwrap();
        let mut bytes = fs.read_all(&log_path(1)).unwrap();
        bytes.extend_from_slice(&junk);
        let (recs, r) = read_bytes(&bytes, RecoveryMode::default()).unwrap();
        assert_eq!(recs, records);
        if junk.iter().all(|&b| b == 0) {
            // Zeroes to the end are what a preallocated log's unwritten space looks like.
            assert_eq!(r.tail_dropped(), None);
            assert_eq!(read_bytes(&bytes, RecoveryMode::AbsoluteConsistency).unwrap().0, records);
            continue;
        }
        assert_eq!(r.tail_dropped().map(|t| t.0), Some(end));
        let e = read_bytes(&bytes, RecoveryMode::AbsoluteConsistency).unwrap_err();
        assert_eq!(corruption_at(&e).1, end);
    }
}

#[test]
fn a_damaged_file_header_is_reported_when_records_follow() {
    let records = vec![payload(0, 10)];
    let (fs, _) = write(&records);
    fs.mutate_byte(&log_path(1), HEADER_SIZE + 3, |b| !b).unwrap();
    let e = read_log(&*fs, 1, RecoveryMode::default()).unwrap_err();
    assert_eq!(corruption_at(&e).1, 0);
    let (recs, r) = read_log(&*fs, 1, RecoveryMode::PointInTime).unwrap();
    assert!(recs.is_empty() && r.log_number().is_none());
    // Not a kvd log at all: refused in every mode, even when it verifies.
    let _ = FILE_HEADER_LEN;
}
