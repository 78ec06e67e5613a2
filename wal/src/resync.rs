//! The forward scan that tells a torn tail from mid-log corruption.
//!
//! A crash while appending can only damage the end of what was written, so after a torn
//! append nothing valid follows. If a record whose checksum verifies exists anywhere after a
//! piece of damage, bytes that were once written whole have changed: that is corruption, and
//! dropping everything after it would silently lose acknowledged data.

use crate::format::{BLOCK_SIZE, HEADER_SIZE};
use crate::source::Source;
use crate::{record, Result};

/// Offset of the first valid record starting at or after file offset `from`, trying every
/// offset where a record header fits in its block. `cached` is a block the caller already
/// holds (its index and bytes), reused instead of read again.
///
/// Every offset is tried, not only block starts and the damaged record's claimed end,
/// because a damaged length field hides where the next record in the same block begins.
/// Cost: the type-byte filter rejects most offsets, so this is about one pass over the rest
/// of the file, and a reader runs it at most once.
pub(crate) fn find_valid_record(source: &Source, from: u64, cached: (u64, &[u8])) -> Result<Option<u64>> {
    first_offset(source, from, cached, |block, start| {
        let end = (block.len() + 1).saturating_sub(HEADER_SIZE);
        (start..end).find(|&pos| record::is_valid_at(block, pos))
    })
}

/// Offset of the first non-zero byte at or after file offset `from`, or `None` when the rest
/// of the file is zeroes: the reserved, never-written end of a preallocated log. `cached` as
/// for [`find_valid_record`].
pub(crate) fn first_nonzero_byte(source: &Source, from: u64, cached: (u64, &[u8])) -> Result<Option<u64>> {
    first_offset(source, from, cached, |block, start| {
        block.get(start..).unwrap_or_default().iter().position(|&b| b != 0).map(|p| start + p)
    })
}

/// The first file offset at or after `from` that `find_in` reports, walking the blocks in
/// order; `find_in(block, start)` searches one block's bytes from `start` and returns the
/// position within the block.
fn first_offset(
    source: &Source,
    from: u64,
    cached: (u64, &[u8]),
    mut find_in: impl FnMut(&[u8], usize) -> Option<usize>,
) -> Result<Option<u64>> {
    let mut buf = Vec::new();
    let first = from / BLOCK_SIZE as u64;
    for index in first..source.block_count() {
        let block: &[u8] = if index == cached.0 {
            cached.1
        } else {
            source.read_block(index, &mut buf)?;
            &buf
        };
        let start = if index == first { (from % BLOCK_SIZE as u64) as usize } else { 0 };
        if let Some(pos) = find_in(block, start) {
            return Ok(Some(index * BLOCK_SIZE as u64 + pos as u64));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::RecordType;

    #[test]
    fn finds_records_at_any_offset_and_in_later_blocks() {
        let mut data = vec![0xAB; BLOCK_SIZE + 50];
        let mut rec = Vec::new();
        record::encode(&mut rec, RecordType::Middle, b"xyz");
        data[BLOCK_SIZE + 13..BLOCK_SIZE + 13 + rec.len()].copy_from_slice(&rec);
        let src = Source::Bytes(data);
        let at = BLOCK_SIZE as u64 + 13;
        let none: (u64, &[u8]) = (u64::MAX, &[]);
        assert_eq!(find_valid_record(&src, 0, none).unwrap(), Some(at));
        assert_eq!(find_valid_record(&src, at, none).unwrap(), Some(at));
        assert_eq!(find_valid_record(&src, at + 1, none).unwrap(), None);
        assert_eq!(find_valid_record(&src, u64::MAX, none).unwrap(), None);
    }

    #[test]
    fn finds_the_first_nonzero_byte_across_blocks() {
        let mut data = vec![0; 3 * BLOCK_SIZE];
        let none: (u64, &[u8]) = (u64::MAX, &[]);
        assert_eq!(first_nonzero_byte(&Source::Bytes(data.clone()), 5, none).unwrap(), None);
        data[2 * BLOCK_SIZE + 7] = 1;
        let src = Source::Bytes(data);
        assert_eq!(first_nonzero_byte(&src, 5, none).unwrap(), Some(2 * BLOCK_SIZE as u64 + 7));
        assert_eq!(first_nonzero_byte(&src, 2 * BLOCK_SIZE as u64 + 8, none).unwrap(), None);
    }
}
