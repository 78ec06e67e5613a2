//! A decoded (checksum-verified, decompressed) block, ready to iterate.
//!
//! Format: `docs/format/sstable.md`, section "Block contents". Decoding validates the restart
//! array up front (count, bounds, strictly increasing offsets, the first at 0) so iterators can
//! binary-search it without further checks; entries are validated lazily as they are decoded.

use std::sync::Arc;

use kvd_base::coding::read_u32_at;

use super::block_iter::BlockIter;
use crate::{Error, Result};

/// The contents of one block plus where it came from (for error messages).
///
/// Immutable and shareable: the block cache hands out `Arc<Block>`s used by many iterators.
#[derive(Debug)]
pub struct Block {
    data: Vec<u8>,
    /// End of the entries region, where the restart array starts.
    restarts_offset: usize,
    num_restarts: usize,
    file: Arc<str>,
    file_offset: u64,
}

impl Block {
    /// Validates `data` (a block's uncompressed contents) as a block read from `file` at
    /// `file_offset`. A bad restart array is a corruption error naming the file and offset.
    pub fn new(data: Vec<u8>, file: Arc<str>, file_offset: u64) -> Result<Block> {
        let bad = |reason: &str| Error::corruption(&*file, file_offset, format!("block: {reason}"));
        let len = data.len();
        let num_restarts = match len.checked_sub(4).and_then(|p| read_u32_at(&data, p)) {
            Some(n) => n as usize,
            None => return Err(bad("shorter than its restart count")),
        };
        let restarts_offset = num_restarts
            .checked_mul(4)
            .and_then(|n| len.checked_sub(4)?.checked_sub(n))
            .ok_or_else(|| bad("restart count exceeds block size"))?;
        if restarts_offset > 0 && num_restarts == 0 {
            return Err(bad("entries without restart points"));
        }
        let mut prev: Option<u32> = None;
        for i in 0..num_restarts {
            let r = read_u32_at(&data, restarts_offset + 4 * i).ok_or_else(|| bad("restart array out of bounds"))?;
            let ok = match prev {
                None => r == 0,
                Some(p) => r > p,
            };
            if !ok || r as usize >= restarts_offset {
                return Err(bad("restart points not increasing within the entries"));
            }
            prev = Some(r);
        }
        Ok(Block { data, restarts_offset, num_restarts, file, file_offset })
    }

    /// Decodes raw, untrusted bytes as a block not tied to a file (named `<block>`); for tools
    /// and tests.
    pub fn from_bytes(data: Vec<u8>) -> Result<Block> {
        Block::new(data, Arc::from("<block>"), 0)
    }

    /// An iterator over this block's entries; see [`BlockIter`].
    pub fn iter(self: &Arc<Self>) -> BlockIter {
        BlockIter::new(Arc::clone(self))
    }

    /// Size of the decoded contents in bytes (what the block cache charges for it).
    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// Bytes allocated for the block's contents (at least [`Block::size`]).
    pub fn allocated_bytes(&self) -> usize {
        self.data.capacity()
    }

    /// The file this block was read from.
    pub fn file_name(&self) -> &str {
        &self.file
    }

    /// Offset of this block in its file.
    pub fn file_offset(&self) -> u64 {
        self.file_offset
    }

    /// Number of restart points.
    pub(crate) fn num_restarts(&self) -> usize {
        self.num_restarts
    }

    /// Offset of restart point `i`, validated at construction. REQUIRES: `i < num_restarts()`.
    pub(crate) fn restart_point(&self, i: usize) -> usize {
        read_u32_at(&self.data, self.restarts_offset + 4 * i).map_or(self.restarts_offset, |r| r as usize)
    }

    /// The entries region (everything before the restart array).
    pub(crate) fn entries(&self) -> &[u8] {
        &self.data[..self.restarts_offset]
    }

    /// A corruption error for a bad entry at `pos` within the decoded block.
    pub(crate) fn corruption(&self, pos: usize, what: &str) -> Error {
        Error::corruption(&*self.file, self.file_offset, format!("block: {what} at byte {pos} of the decoded block"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sstable::BlockBuilder;

    #[test]
    fn rejects_bad_restart_arrays() {
        for bad in [
            vec![],
            vec![0, 0, 0],
            vec![5, 0, 0, 0],                // claims 5 restarts in 4 bytes
            vec![9, 1, 0, 0, 0, 0, 0, 0],    // entries but no restarts
            vec![0, 1, 0, 0, 0, 1, 0, 0, 0], // first restart not 0
        ] {
            let e = Block::from_bytes(bad).unwrap_err();
            assert!(e.is_corruption(), "{e}");
        }
    }

    #[test]
    fn accepts_built_blocks() {
        let mut b = BlockBuilder::new(1);
        b.add(b"a", b"1");
        b.add(b"b", b"2");
        let block = Block::from_bytes(b.finish()).unwrap();
        assert_eq!(block.num_restarts(), 2);
        assert_eq!(block.restart_point(1), 5); // 3 header bytes + "a" + "1"
        assert!(Block::from_bytes(BlockBuilder::new(4).finish()).is_ok());
    }
}
