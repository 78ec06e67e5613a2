//! One physical record: encoding its header and validating one found in a block.
//!
//! Both the writer and the reader (including its resynchronising scan) go through this file,
//! so the framing rules of `docs/format/wal.md` live in exactly one place.

use kvd_base::checksum::checksum32_parts;
use kvd_base::coding::{put_u16, put_u32};

use crate::format::{RecordType, BLOCK_SIZE, HEADER_SIZE};

/// The checksum stored in a record header. The type byte is covered so that a flipped type
/// (say `Last` to `Full`) is caught, not only flipped payload bytes.
pub(crate) fn record_checksum(ty: RecordType, payload: &[u8]) -> u32 {
    checksum32_parts(&[&[ty as u8], payload])
}

/// Appends one physical record (header and payload) to `buf`.
///
/// REQUIRES: `payload.len()` fits the space left in the current block (the writer's job).
pub(crate) fn encode(buf: &mut Vec<u8>, ty: RecordType, payload: &[u8]) {
    debug_assert!(payload.len() + HEADER_SIZE <= BLOCK_SIZE);
    put_u32(buf, record_checksum(ty, payload));
    // Cannot truncate: a fragment is at most MAX_FRAGMENT_LEN < u16::MAX bytes.
    put_u16(buf, payload.len() as u16);
    buf.push(ty as u8);
    buf.extend_from_slice(payload);
}

/// A record that passed every check, located within its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// Its type.
    pub ty: RecordType,
    /// Offset of the payload within the block.
    pub payload_start: usize,
    /// Length of the payload.
    pub payload_len: usize,
}

impl Parsed {
    /// Offset within the block just past this record.
    pub fn end(&self) -> usize {
        self.payload_start + self.payload_len
    }
}

/// Validates the record starting at `pos` of `block`, which holds the bytes of one block
/// (shorter than [`BLOCK_SIZE`] only when it is the last block of the file).
///
/// The error says why the bytes are not a valid record. It does not classify the damage as a
/// torn write or corruption: the reader decides that from what follows (a truncated payload
/// and a corrupt length look the same here).
///
/// Never panics: every length read from the bytes is checked against `block` first.
pub(crate) fn parse(block: &[u8], pos: usize) -> Result<Parsed, String> {
    let Some(header) = block.get(pos..).and_then(|rest| rest.get(..HEADER_SIZE)) else {
        return Err("record header cut by end of file".into());
    };
    let stored = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let len = usize::from(u16::from_le_bytes([header[4], header[5]]));
    let ty_byte = header[6];
    if header.iter().all(|&b| b == 0) {
        return Err("zeroed bytes where a record header should be".into());
    }
    let Some(ty) = RecordType::from_u8(ty_byte) else {
        return Err(format!("unknown record type {ty_byte}"));
    };
    let payload_start = pos + HEADER_SIZE;
    let end = payload_start + len;
    if end > block.len() {
        // Only the last block of a file is short. If the record would have fit in a full
        // block, the file simply ends inside it; otherwise the length itself is wrong.
        return Err(if block.len() < BLOCK_SIZE && end <= BLOCK_SIZE {
            format!("record payload cut by end of file ({} of {len} bytes present)", block.len() - payload_start)
        } else {
            format!("record length {len} runs past the end of its block")
        });
    }
    let payload = &block[payload_start..end];
    let computed = record_checksum(ty, payload);
    if computed != stored {
        return Err(format!("record checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"));
    }
    Ok(Parsed { ty, payload_start, payload_len: len })
}

/// True if a record passing every check starts at `pos` of `block`. A cheap filter on the type
/// byte runs first: the resynchronising scan calls this at every offset of a damaged region.
pub(crate) fn is_valid_at(block: &[u8], pos: usize) -> bool {
    match block.get(pos + HEADER_SIZE - 1) {
        Some(&t) if RecordType::from_u8(t).is_some() => parse(block, pos).is_ok(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(ty: RecordType, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        encode(&mut b, ty, payload);
        b
    }

    #[test]
    fn encode_then_parse() {
        let b = one(RecordType::Full, b"hello");
        assert_eq!(b.len(), HEADER_SIZE + 5);
        let p = parse(&b, 0).unwrap();
        assert_eq!(p, Parsed { ty: RecordType::Full, payload_start: 7, payload_len: 5 });
        assert_eq!(&b[p.payload_start..p.end()], b"hello");
        assert!(is_valid_at(&b, 0));
        assert!(!is_valid_at(&b, 1));
    }

    #[test]
    fn type_byte_is_covered_by_the_checksum() {
        let mut b = one(RecordType::Last, b"x");
        b[6] = RecordType::Full as u8;
        assert!(parse(&b, 0).unwrap_err().contains("checksum"));
    }

    #[test]
    fn short_input_is_cut_by_end_of_file() {
        let b = one(RecordType::Full, b"payload");
        for cut in 0..b.len() {
            assert!(parse(&b[..cut], 0).unwrap_err().contains("cut by end of file"), "at {cut}");
        }
    }

    #[test]
    fn zeroes_and_unknown_types_are_bad() {
        assert!(parse(&[0; 16], 0).unwrap_err().contains("zeroed"));
        let mut b = one(RecordType::Full, b"x");
        b[6] = 9;
        assert!(parse(&b, 0).unwrap_err().contains("type 9"));
    }

    #[test]
    fn length_past_a_full_block_is_bad() {
        let mut block = vec![0u8; BLOCK_SIZE];
        let rec = one(RecordType::Full, b"abc");
        let pos = BLOCK_SIZE - rec.len();
        block[pos..].copy_from_slice(&rec);
        assert!(parse(&block, pos).is_ok());
        block[pos + 4] = 4; // length 4 instead of 3: one byte past the block end
        assert!(parse(&block, pos).unwrap_err().contains("past the end of its block"));
        // The right header in a short last block is a record cut by the end of the file.
        block[pos + 4] = 3;
        let short = &block[..block.len() - 1];
        assert!(parse(short, pos).unwrap_err().contains("cut by end of file"));
    }
}
