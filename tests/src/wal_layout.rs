//! Where the records of a log file lie, for tests that cut or damage one record.
//!
//! Record starts come from [`LogReader::last_record_offset`]; record ends are computed
//! independently from the framing documented in `docs/format/wal.md` (32 KiB blocks, 7-byte
//! record headers, block tails shorter than a header zero-padded, payloads fragmented across
//! blocks), so a reader and a layout that disagree show up as a test failure.

use kvd_wal::format::{BLOCK_SIZE, HEADER_SIZE};
use kvd_wal::{LogReader, RecoveryMode};

/// One logical record of a log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSpan {
    /// Offset of the header of its first fragment.
    pub start: u64,
    /// Offset just past its last fragment.
    pub end: u64,
    /// The reassembled payload.
    pub payload: Vec<u8>,
}

/// Where a payload of `len` bytes whose first fragment header is at `start` ends.
pub fn framed_end(start: u64, len: usize) -> u64 {
    let block = BLOCK_SIZE as u64;
    let header = HEADER_SIZE as u64;
    let mut pos = start;
    let mut left = len as u64;
    loop {
        let room = block - pos % block;
        if room < header {
            pos += room;
            continue;
        }
        let n = left.min(room - header);
        pos += header + n;
        left -= n;
        if left == 0 {
            return pos;
        }
    }
}

/// Every record of the log in `data` (the file header record excluded), in order. Panics if
/// the log does not read cleanly: callers lay out logs they just wrote.
pub fn record_spans(data: &[u8]) -> Vec<RecordSpan> {
    let mut r = LogReader::new(data.to_vec(), "layout", RecoveryMode::AbsoluteConsistency)
        .unwrap_or_else(|e| panic!("log header does not read: {e}"));
    let mut spans = Vec::new();
    while let Some(payload) = r.next_record().unwrap_or_else(|e| panic!("log does not read cleanly: {e}")) {
        let start = r.last_record_offset().expect("a returned record has an offset");
        let end = framed_end(start, payload.len());
        spans.push(RecordSpan { start, end, payload });
    }
    spans
}
