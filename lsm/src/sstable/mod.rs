//! The sorted string table (SSTable): an immutable file of internal-key-sorted entries.
//!
//! The byte layout is specified in `docs/format/sstable.md`; every encoder in this module points
//! to its section there. In short, a table is
//!
//! ```text
//! [data block 0][trailer] ... [data block N-1][trailer]
//! [filter block][trailer]      (absent when the filter is disabled or the table is empty)
//! [index block][trailer]
//! [properties block][trailer]
//! [footer: 68 bytes, ends with SST_MAGIC]
//! ```
//!
//! Writers use [`TableBuilder`]; readers open a [`Table`] (which keeps its index, filter and
//! properties in memory) and read data blocks through an optional shared [`BlockCache`]
//! (`crate::cache`). Every block carries an xxh3-64 checksum that is verified on every read, so
//! a flipped bit surfaces as a corruption error naming the file, never as wrong data.
//!
//! An empty table (no entries) is valid: it has no data blocks, an empty index, no filter, and
//! empty smallest/largest keys. Engines usually skip writing one, but accepting it keeps
//! `finish` total and lets compaction close an output without special cases.
//!
//! ```
//! use std::{path::Path, sync::Arc};
//! use kvd_base::{fs::{Fs, MemFs}, InternalKey, ValueKind};
//! use kvd_lsm::{cache::BlockCache, iter::InternalIterator};
//! use kvd_lsm::sstable::{Table, TableBuilder, TableOptions};
//!
//! let fs = MemFs::new();
//! let path = Path::new("/000001.sst");
//! let mut b = TableBuilder::new(fs.create(path)?, "000001.sst".into(), TableOptions::default());
//! b.add(InternalKey::new(b"apple", 2, ValueKind::Put).encoded(), b"red")?;
//! b.add(InternalKey::new(b"apple", 1, ValueKind::Delete).encoded(), b"")?;
//! b.add(InternalKey::new(b"pear", 3, ValueKind::Put).encoded(), b"green")?;
//! let props = b.finish()?; // synced
//! assert_eq!(props.num_entries, 3);
//!
//! let cache = Arc::new(BlockCache::new(8 << 20));
//! let table = Table::open(fs.open(path)?, 1, "000001.sst".into(), Some(cache))?;
//! // The newest version visible at seqno 1 is the tombstone.
//! let (ikey, _) = table.get(b"apple", 1)?.expect("found");
//! assert_eq!(ikey, InternalKey::new(b"apple", 1, ValueKind::Delete).encoded());
//! let mut it = table.iter();
//! it.seek_to_last()?;
//! assert_eq!(it.value(), b"green");
//! # Ok::<(), kvd_lsm::Error>(())
//! ```
//!
//! [`BlockCache`]: crate::cache::BlockCache

mod block;
mod block_builder;
mod block_io;
mod block_iter;
mod builder;
mod filter;
mod footer;
mod get_cursor;
mod handle;
mod properties;
mod reader;
mod separator;
mod table_iter;
mod verify;

pub use block::Block;
pub use block_builder::BlockBuilder;
pub use block_io::BLOCK_TRAILER_LEN;
pub use block_iter::BlockIter;
pub use builder::TableBuilder;
pub use filter::{FilterBuilder, FilterReader};
pub use footer::{Footer, FOOTER_LEN};
pub use get_cursor::GetCursor;
pub use handle::BlockHandle;
pub use properties::TableProperties;
pub use reader::{Table, TableEntry};
pub use table_iter::TableIterator;
pub use verify::VerifyReport;

/// How blocks are compressed on disk.
///
/// Compression applies to data and index blocks; the filter and properties blocks are always
/// stored uncompressed (bloom bits do not compress, and properties are tiny). A block is stored
/// compressed only when that saves at least 1/8 of its size, so a table written with
/// [`Compression::Zstd`] may still hold uncompressed blocks; the per-block trailer says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Blocks are stored as built.
    #[default]
    None,
    /// Blocks are compressed with zstd at `level` (as accepted by `zstd::bulk::compress`;
    /// 0 means zstd's default, currently 3).
    Zstd {
        /// The zstd compression level.
        level: i32,
    },
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Compression::None => write!(f, "none"),
            Compression::Zstd { level } => write!(f, "zstd(level {level})"),
        }
    }
}

/// How a [`TableBuilder`] lays out a table. Readers need none of this: every choice is either
/// recorded in the file or self-describing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableOptions {
    /// Target uncompressed size of a data block in bytes; a block is cut once it reaches this
    /// size, so blocks holding large entries can exceed it. Values below 1 are treated as 1.
    pub block_size: usize,
    /// Entries between restart points in data blocks: smaller means faster seeks and less
    /// prefix compression. Values below 1 are treated as 1.
    pub restart_interval: usize,
    /// Bloom filter bits per distinct user key; 0 disables the filter. Values above
    /// [`MAX_BLOOM_BITS_PER_KEY`] are clamped to it.
    pub bloom_bits_per_key: u32,
    /// Compression of data and index blocks.
    pub compression: Compression,
}

/// The largest useful bloom bits-per-key; beyond it the false-positive rate is already ~1e-13.
pub const MAX_BLOOM_BITS_PER_KEY: u32 = 64;

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions { block_size: 4096, restart_interval: 16, bloom_bits_per_key: 10, compression: Compression::None }
    }
}
