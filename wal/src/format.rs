//! The write-ahead log's on-disk layout: constants and record types.
//!
//! The byte-by-byte specification is `docs/format/wal.md`; this is a summary of it. Change
//! neither without the other, and bump [`WAL_FORMAT_VERSION`] whenever the bytes change.
//!
//! A log file is a sequence of fixed 32 KiB blocks (the last one may be short). Records never
//! straddle a block boundary: a payload too long for the space left is cut into fragments.
//!
//! ```text
//!  block 0                          block 1                          block 2 (short: EOF)
//! +--------------------------------+--------------------------------+-----------------+
//! |HDR|FileHeader|rec|rec|First....|Middle..........................|Last|rec|rec|pad |
//! +--------------------------------+--------------------------------+-----------------+
//!  <-------------- 32768 --------->
//!
//! record:
//! +--------------+------------+---------+------------------------+
//! | checksum u32 | length u16 | type u8 | payload (length bytes) |
//! +--------------+------------+---------+------------------------+
//!  0              4            6         7
//!
//! checksum = low 32 bits of xxh3_64(type ++ payload), little-endian like every integer.
//! type     = 1 Full | 2 First | 3 Middle | 4 Last | 5 FileHeader
//!
//! FileHeader payload (always the first record of a file, 20 bytes):
//! +---------------+--------------------+----------------+
//! | WAL_MAGIC u64 | format version u32 | log number u64 |
//! +---------------+--------------------+----------------+
//! ```
//!
//! A block tail shorter than [`HEADER_SIZE`] cannot hold a record header, so the writer fills it
//! with zeroes and the reader skips it. A tail of exactly [`HEADER_SIZE`] bytes holds an empty
//! `First` fragment, as in LevelDB, so the reader never needs a special case for it.
//!
//! Why fixed blocks (the LevelDB design) rather than length-prefixed records: after a corrupt
//! length field the reader can still find the next record boundary at the next block start, so
//! it can tell mid-log corruption (good records follow) from a torn tail (nothing follows).

pub use kvd_base::format::{WAL_FORMAT_VERSION, WAL_MAGIC};

/// Size of a block. Every block but the last of a file is exactly this long.
pub const BLOCK_SIZE: usize = 32 * 1024;

/// Size of a record header: checksum (4) + length (2) + type (1).
pub const HEADER_SIZE: usize = 7;

/// The largest fragment payload: a record alone in a block.
pub const MAX_FRAGMENT_LEN: usize = BLOCK_SIZE - HEADER_SIZE;

/// Length of the payload of the [`RecordType::FileHeader`] record: magic (8) + version (4) +
/// log number (8).
pub const FILE_HEADER_LEN: usize = 20;

/// The type byte of a record header. Zero is reserved: it is what padding and preallocated or
/// never-written space look like, so it must never be a valid type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordType {
    /// A whole payload in one fragment.
    Full = 1,
    /// The first fragment of a payload; `Middle`* and one `Last` follow.
    First = 2,
    /// A fragment that is neither the first nor the last of its payload.
    Middle = 3,
    /// The final fragment of a payload.
    Last = 4,
    /// The file header, the first record of every log file and nowhere else.
    FileHeader = 5,
}

impl RecordType {
    /// The type for a type byte, or `None` for an unknown byte (including zero).
    pub fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => RecordType::Full,
            2 => RecordType::First,
            3 => RecordType::Middle,
            4 => RecordType::Last,
            5 => RecordType::FileHeader,
            _ => return None,
        })
    }

    /// The type of a fragment given whether it begins and whether it ends its payload.
    pub fn for_fragment(is_first: bool, is_last: bool) -> Self {
        match (is_first, is_last) {
            (true, true) => RecordType::Full,
            (true, false) => RecordType::First,
            (false, false) => RecordType::Middle,
            (false, true) => RecordType::Last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_bytes_roundtrip_and_zero_is_invalid() {
        for t in [RecordType::Full, RecordType::First, RecordType::Middle, RecordType::Last, RecordType::FileHeader] {
            assert_eq!(RecordType::from_u8(t as u8), Some(t));
        }
        assert_eq!(RecordType::from_u8(0), None);
        assert_eq!(RecordType::from_u8(6), None);
        assert_eq!(RecordType::from_u8(0xff), None);
    }

    #[test]
    fn fragment_lengths_fit_the_length_field() {
        assert!(MAX_FRAGMENT_LEN <= u16::MAX as usize);
    }
}
