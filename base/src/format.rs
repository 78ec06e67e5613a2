//! Format versions and magic numbers of every file kvd writes. `docs/format.md` describes each
//! format byte by byte; bump a version whenever its bytes change, and keep reading old ones.

/// Magic number in the footer of every SSTable (`"kvdSST\0\x01"` read little-endian).
pub const SST_MAGIC: u64 = u64::from_le_bytes(*b"kvdSST\0\x01");
/// Current SSTable format version.
pub const SST_FORMAT_VERSION: u32 = 1;

/// Magic number at the start of every write-ahead log file.
pub const WAL_MAGIC: u64 = u64::from_le_bytes(*b"kvdWAL\0\x01");
/// Current write-ahead log format version.
pub const WAL_FORMAT_VERSION: u32 = 1;

/// Magic number at the start of every MANIFEST file's first record.
pub const MANIFEST_MAGIC: u64 = u64::from_le_bytes(*b"kvdMANI\x01");
/// Current MANIFEST format version.
pub const MANIFEST_FORMAT_VERSION: u32 = 1;

/// Current write-batch encoding version (the payload of WAL records).
pub const BATCH_FORMAT_VERSION: u8 = 1;
