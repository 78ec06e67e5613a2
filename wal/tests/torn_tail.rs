//! A crash tears the last append at any byte. Every complete earlier record must come back
//! in the default mode, the torn one never (not even in part), and AbsoluteConsistency must
//! refuse the file.

mod common;

use std::sync::Arc;

use common::*;
use kvd_base::fs::{Fs, MemFs};
use kvd_wal::format::{BLOCK_SIZE, FILE_HEADER_LEN, HEADER_SIZE};
use kvd_wal::{RecoveryMode, SyncPolicy};

/// A log holding `earlier` then `last`, and its bytes (with the size before `last`).
fn log_bytes(earlier: &[Vec<u8>], last: &[u8]) -> (Vec<u8>, usize) {
    let fs = mem_fs();
    let wal = create_wal(fs.clone(), SyncPolicy::Never);
    for p in earlier {
        wal.append(p, false).unwrap();
    }
    let before = fs.file_size(&log_path(1)).unwrap() as usize;
    wal.append(last, false).unwrap();
    wal.close().unwrap();
    (fs.read_all(&log_path(1)).unwrap(), before)
}

/// Truncates a copy of `bytes` at each offset in `cuts` (with `MemFs::truncate`, as a crash
/// would leave it) and checks what each recovery mode makes of it.
fn check_cuts(earlier: &[Vec<u8>], bytes: &[u8], before: usize, cuts: impl Iterator<Item = usize>) {
    let fs = Arc::new(MemFs::new());
    fs.create_dir_all(dir()).unwrap();
    let path = log_path(2);
    for cut in cuts {
        // Cutting inside or right after the padding that completes a block leaves no record
        // bytes at all, only zeroes: a clean end, like cutting exactly before the record.
        let clean = bytes[before..cut].iter().all(|&b| b == 0);
        let mut f = fs.create(&path).unwrap();
        f.append(bytes).unwrap();
        f.sync().unwrap();
        fs.truncate(&path, cut).unwrap();

        for mode in [RecoveryMode::TolerateCorruptedTail, RecoveryMode::PointInTime] {
            let (recs, r) = read_log(&*fs, 2, mode).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
            assert_eq!(recs, earlier, "cut {cut} {mode:?}");
            match r.tail_dropped() {
                None => assert!(clean, "cut {cut}: a torn record must be reported"),
                Some((off, _)) => {
                    assert!((before as u64..cut as u64).contains(&off), "cut {cut}: at {off}")
                }
            }
        }
        match read_log(&*fs, 2, RecoveryMode::AbsoluteConsistency) {
            Ok((recs, _)) => {
                assert!(clean, "cut {cut}: a torn tail must be an error");
                assert_eq!(recs, earlier);
            }
            Err(e) => {
                let (file, off) = corruption_at(&e);
                assert!(file.ends_with("000002.log"));
                assert!((before as u64..=cut as u64).contains(&off), "cut {cut}: at {off}");
            }
        }
    }
}

fn small_records() -> Vec<Vec<u8>> {
    (0..3).map(|i| payload(i, 10 + 20 * i as usize)).collect()
}

#[test]
fn small_last_record_torn_at_every_byte() {
    let earlier = small_records();
    let (bytes, before) = log_bytes(&earlier, &payload(9, 300));
    check_cuts(&earlier, &bytes, before, before..bytes.len());
}

#[test]
fn record_spanning_a_block_boundary_torn_at_every_byte() {
    // The last record starts 100 bytes before the end of block 0.
    let filler = payload(1, BLOCK_SIZE - 100 - (HEADER_SIZE + FILE_HEADER_LEN) - HEADER_SIZE);
    let earlier = vec![filler];
    let (bytes, before) = log_bytes(&earlier, &payload(9, 2000));
    assert_eq!(before, BLOCK_SIZE - 100);
    check_cuts(&earlier, &bytes, before, before..bytes.len());
}

#[test]
fn record_after_padding_torn_at_every_byte() {
    // 3 bytes left in block 0: the last append writes padding, then its record in block 1.
    let filler = payload(1, BLOCK_SIZE - 3 - (HEADER_SIZE + FILE_HEADER_LEN) - HEADER_SIZE);
    let earlier = vec![filler];
    let (bytes, before) = log_bytes(&earlier, &payload(9, 50));
    assert_eq!(before, BLOCK_SIZE - 3);
    check_cuts(&earlier, &bytes, before, before..bytes.len());
}

#[test]
fn multi_block_record_torn_at_sampled_bytes_and_every_block_edge() {
    let earlier = small_records();
    let (bytes, before) = log_bytes(&earlier, &payload(9, 100 * 1024));
    let edges = (1..=bytes.len() / BLOCK_SIZE)
        .flat_map(|b| (b * BLOCK_SIZE).saturating_sub(8)..b * BLOCK_SIZE + 8)
        .filter(|&c| c >= before && c < bytes.len());
    let sampled = (before..bytes.len()).step_by(997);
    check_cuts(&earlier, &bytes, before, sampled.chain(edges).chain([bytes.len() - 1]));
}
