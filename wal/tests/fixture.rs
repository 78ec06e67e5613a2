//! The golden v1 log: `tests/fixtures/v1.log` was written by the v1 writer and must keep
//! opening, record for record, in every future version. Regenerate it (only when
//! deliberately changing the v1 writer, which should never happen) with
//! `KVD_REGENERATE_FIXTURES=1 cargo test -p kvd-wal --test fixture`.

use std::path::Path;

use kvd_base::fs::{Fs, MemFs, StdFs};
use kvd_wal::format::{BLOCK_SIZE, FILE_HEADER_LEN, HEADER_SIZE, MAX_FRAGMENT_LEN};
use kvd_wal::{LogReader, LogWriter, RecoveryMode};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1.log");
const LOG_NUMBER: u64 = 7;

/// The records of the fixture, chosen to cover every record type and padding:
/// an empty Full, a small Full, a Full that leaves 3 bytes of padding at the end of block 0,
/// a First / Middle / Last record over blocks 1 to 3, and a final small Full.
fn expected() -> Vec<Vec<u8>> {
    let used = HEADER_SIZE + FILE_HEADER_LEN + HEADER_SIZE + (HEADER_SIZE + 22);
    let filler_len = BLOCK_SIZE - used - HEADER_SIZE - 3;
    // Periodic patterns, so the checked-in file compresses well in git.
    let pattern = |len: usize, period: usize| (0..len).map(|i| (i % period) as u8).collect();
    vec![
        Vec::new(),
        b"kvd write-ahead log v1".to_vec(),
        pattern(filler_len, 251),
        pattern(2 * BLOCK_SIZE + 1000, 253),
        b"last".to_vec(),
    ]
}

/// The v1 bytes for `expected()`, as the current writer produces them.
fn write_v1() -> Vec<u8> {
    let fs = MemFs::new();
    let path = Path::new("/v1.log");
    let mut w = LogWriter::new(fs.create(path).unwrap(), LOG_NUMBER).unwrap();
    for p in expected() {
        w.add_record(&p).unwrap();
    }
    w.sync().unwrap();
    fs.read_all(path).unwrap()
}

fn regenerating() -> bool {
    std::env::var("KVD_REGENERATE_FIXTURES").as_deref() == Ok("1")
}

#[test]
fn v1_fixture_still_opens() {
    let path = Path::new(FIXTURE);
    if regenerating() {
        let mut f = StdFs.create(path).unwrap();
        f.append(&write_v1()).unwrap();
        f.sync().unwrap();
    }
    let bytes = StdFs.read_all(path).unwrap();
    // Spot checks of the layout that docs/format/wal.md promises, independent of the reader.
    let last_fragment = 2 * BLOCK_SIZE + 1000 - 2 * MAX_FRAGMENT_LEN;
    assert_eq!(bytes.len(), 3 * BLOCK_SIZE + HEADER_SIZE + last_fragment + HEADER_SIZE + 4);
    assert_eq!(&bytes[4..7], &[FILE_HEADER_LEN as u8, 0, 5], "header record length and type");
    assert_eq!(&bytes[7..15], b"kvdWAL\0\x01", "magic");
    assert_eq!(&bytes[15..19], &1u32.to_le_bytes(), "format version");
    assert_eq!(&bytes[19..27], &LOG_NUMBER.to_le_bytes(), "log number");
    assert_eq!(&bytes[BLOCK_SIZE - 3..BLOCK_SIZE], &[0, 0, 0], "block tail padding");
    assert_eq!(bytes[BLOCK_SIZE + 6], 2, "First fragment opens block 1");
    assert_eq!(bytes[2 * BLOCK_SIZE + 6], 3, "Middle fragment fills block 2");
    assert_eq!(bytes[3 * BLOCK_SIZE + 6], 4, "Last fragment opens block 3");

    let mut r = LogReader::open(&StdFs, path, RecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!(r.log_number(), Some(LOG_NUMBER));
    for (i, want) in expected().into_iter().enumerate() {
        assert_eq!(r.next_record().unwrap(), Some(want), "record {i}");
    }
    assert_eq!(r.next_record().unwrap(), None);
}

/// The writer must still produce v1 bytes exactly. When a v2 format is introduced this test
/// goes (the writer then writes v2) but `v1_fixture_still_opens` stays.
#[test]
fn writer_still_writes_v1_bytes() {
    if regenerating() {
        return; // the other test is rewriting the file
    }
    assert!(StdFs.read_all(Path::new(FIXTURE)).unwrap() == write_v1(), "v1 format drifted");
}
