//! Unit tests of the reader's state machine over hand-built files. Scenario tests over real
//! writers and file systems live in `wal/tests/`.

use super::*;
use crate::format::FILE_HEADER_LEN;

const NAME: &str = "000009.log";

/// A file with a valid header for log 9 followed by `records` physical records, each given
/// as (type, payload), laid out with no block logic (tests keep them inside block 0).
fn file(records: &[(RecordType, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    record::encode(&mut b, RecordType::FileHeader, &file_header::encode(9));
    for (ty, p) in records {
        record::encode(&mut b, *ty, p);
    }
    b
}

fn read_all(data: Vec<u8>, mode: RecoveryMode) -> Result<(Vec<Vec<u8>>, LogReader)> {
    let mut r = LogReader::new(data, NAME, mode)?;
    let mut out = Vec::new();
    while let Some(p) = r.next_record()? {
        out.push(p);
    }
    Ok((out, r))
}

fn corruption_offset(e: crate::Error) -> u64 {
    match e {
        crate::Error::Base(kvd_base::Error::Corruption { file, offset, .. }) => {
            assert_eq!(file, NAME);
            offset
        }
        other => panic!("expected corruption, got {other}"),
    }
}

const HDR_END: u64 = (HEADER_SIZE + FILE_HEADER_LEN) as u64;

#[test]
fn reassembles_fragments_and_reports_offsets() {
    use RecordType::*;
    let data = file(&[(Full, b"a"), (First, b"b"), (Middle, b"c"), (Last, b"d"), (Full, b"")]);
    let mut r = LogReader::new(data, NAME, RecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!(r.log_number(), Some(9));
    assert_eq!(r.next_record().unwrap().unwrap(), b"a");
    assert_eq!(r.last_record_offset(), Some(HDR_END));
    assert_eq!(r.next_record().unwrap().unwrap(), b"bcd");
    assert_eq!(r.last_record_offset(), Some(HDR_END + 8));
    assert_eq!(r.next_record().unwrap().unwrap(), b"");
    assert_eq!(r.next_record().unwrap(), None);
    assert_eq!(r.next_record().unwrap(), None);
    assert_eq!(r.tail_dropped(), None);
}

#[test]
fn bad_fragment_sequences_are_corruption_in_the_default_mode() {
    use RecordType::*;
    let cases: [&[(RecordType, &[u8])]; 4] = [
        &[(First, b"x"), (Full, b"y")],
        &[(First, b"x"), (First, b"y"), (Last, b"z")],
        &[(Middle, b"x")],
        &[(Full, b"ok"), (Last, b"x")],
    ];
    for case in cases {
        let e = read_all(file(case), RecoveryMode::default()).unwrap_err();
        assert!(corruption_offset(e) >= HDR_END, "{case:?}");
        // PointInTime keeps the consistent prefix and never a partial payload.
        let (recs, r) = read_all(file(case), RecoveryMode::PointInTime).unwrap();
        assert!(recs.iter().all(|p| p == b"ok"), "{case:?}: {recs:?}");
        assert!(r.tail_dropped().is_some());
    }
}

#[test]
fn first_without_last_at_eof_is_a_torn_tail() {
    use RecordType::*;
    let data = file(&[(Full, b"keep"), (First, b"part"), (Middle, b"ial")]);
    let (recs, r) = read_all(data.clone(), RecoveryMode::default()).unwrap();
    assert_eq!(recs, [b"keep".to_vec()]);
    assert_eq!(r.tail_dropped().map(|t| t.0), Some(HDR_END + 11));
    let e = read_all(data, RecoveryMode::AbsoluteConsistency).unwrap_err();
    assert_eq!(corruption_offset(e), HDR_END + 11);
}

#[test]
fn errors_repeat_after_failure() {
    let data = file(&[(RecordType::Middle, b"x")]);
    let mut r = LogReader::new(data, NAME, RecoveryMode::default()).unwrap();
    assert!(r.next_record().is_err());
    assert!(r.next_record().unwrap_err().is_corruption());
}

#[test]
fn header_problems() {
    // Wrong magic in a record whose checksum verifies: an error in every mode.
    let mut payload = file_header::encode(9);
    payload[0] ^= 0xff;
    let mut data = Vec::new();
    record::encode(&mut data, RecordType::FileHeader, &payload);
    for mode in [RecoveryMode::TolerateCorruptedTail, RecoveryMode::AbsoluteConsistency, RecoveryMode::PointInTime] {
        let e = LogReader::new(data.clone(), NAME, mode).unwrap_err();
        assert_eq!(corruption_offset(e), 0);
    }
    // No header record at all.
    let mut data = Vec::new();
    record::encode(&mut data, RecordType::Full, b"x");
    assert!(LogReader::new(data, NAME, RecoveryMode::PointInTime).is_err());
    // Empty file: an empty log, except under AbsoluteConsistency.
    let r = LogReader::new(Vec::new(), NAME, RecoveryMode::default()).unwrap();
    assert_eq!((r.log_number(), r.tail_dropped()), (None, None));
    assert!(LogReader::new(Vec::new(), NAME, RecoveryMode::AbsoluteConsistency).is_err());
    // A torn header is a torn tail.
    let data = file(&[]);
    let mut r = LogReader::new(data[..10].to_vec(), NAME, RecoveryMode::default()).unwrap();
    assert_eq!(r.next_record().unwrap(), None);
    assert_eq!(r.tail_dropped().map(|t| t.0), Some(0));
}

#[test]
fn zero_tail_ends_the_log_but_zero_hole_is_corruption() {
    use RecordType::*;
    let mut data = file(&[(Full, b"a")]);
    data.extend_from_slice(&[0; 100]);
    let (recs, r) = read_all(data.clone(), RecoveryMode::default()).unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(r.tail_dropped(), None, "zeroes to the end are reserved space, not damage");
    // The same zeroes followed by a valid record: mid-log corruption.
    record::encode(&mut data, Full, b"after the hole");
    let e = read_all(data, RecoveryMode::default()).unwrap_err();
    assert_eq!(corruption_offset(e), HDR_END + 8);
}

/// `data` followed by zeroes up to `len` bytes: a preallocated log.
fn reserved(mut data: Vec<u8>, len: usize) -> Vec<u8> {
    data.resize(len, 0);
    data
}

const ALL_MODES: [RecoveryMode; 3] =
    [RecoveryMode::AbsoluteConsistency, RecoveryMode::TolerateCorruptedTail, RecoveryMode::PointInTime];

#[test]
fn a_zeroed_reserved_tail_is_a_clean_end_in_every_mode() {
    use RecordType::*;
    for len in [HDR_END as usize + 20, BLOCK_SIZE, 3 * BLOCK_SIZE + 100] {
        let data = reserved(file(&[(Full, b"a"), (Full, b"bb")]), len);
        for mode in ALL_MODES {
            let (records, r) = read_all(data.clone(), mode).unwrap();
            assert_eq!(records, [b"a".to_vec(), b"bb".to_vec()], "{mode:?} len {len}");
            assert_eq!(r.tail_dropped(), None);
        }
    }
}

#[test]
fn a_torn_record_before_reserved_zeroes_is_a_torn_tail() {
    use RecordType::*;
    let whole = file(&[(Full, b"a"), (Full, b"torn payload")]);
    let cut = whole.len() - 5;
    let data = reserved(whole[..cut].to_vec(), 2 * BLOCK_SIZE);
    let (records, r) = read_all(data.clone(), RecoveryMode::TolerateCorruptedTail).unwrap();
    assert_eq!(records, [b"a".to_vec()]);
    assert_eq!(r.tail_dropped().map(|(o, _)| o), Some(HDR_END + 8));
    let e = read_all(data, RecoveryMode::AbsoluteConsistency).unwrap_err();
    assert_eq!(corruption_offset(e), HDR_END + 8);
}

#[test]
fn zeroes_hiding_a_later_record_are_corruption_not_the_end() {
    use RecordType::*;
    let mut data = file(&[(Full, b"a")]);
    let zeroed_at = data.len() as u64;
    data.extend_from_slice(&[0; 40]);
    record::encode(&mut data, Full, b"acknowledged");
    let data = reserved(data, BLOCK_SIZE);
    for mode in [RecoveryMode::AbsoluteConsistency, RecoveryMode::TolerateCorruptedTail] {
        let e = read_all(data.clone(), mode).unwrap_err();
        assert_eq!(corruption_offset(e), zeroed_at, "{mode:?}");
    }
    // Point in time stops at the first damage, as for any other damage.
    let (records, r) = read_all(data, RecoveryMode::PointInTime).unwrap();
    assert_eq!(records, [b"a".to_vec()]);
    assert_eq!(r.tail_dropped().map(|(o, _)| o), Some(zeroed_at));
}

#[test]
fn a_file_of_only_reserved_space_has_no_header() {
    let data = vec![0; BLOCK_SIZE + 9];
    assert!(read_all(data.clone(), RecoveryMode::AbsoluteConsistency).is_err());
    let (records, r) = read_all(data, RecoveryMode::TolerateCorruptedTail).unwrap();
    assert!(records.is_empty());
    assert_eq!(r.log_number(), None);
}
