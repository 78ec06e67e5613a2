//! Where a [`crate::LogReader`] gets its bytes: an in-memory copy or a file, one block at a
//! time, so a large log is never held in memory whole.

use std::sync::Arc;

use kvd_base::fs::RandomAccessFile;

use crate::format::BLOCK_SIZE;
use crate::Result;

/// The bytes of a log file, read by block.
pub(crate) enum Source {
    /// The whole file, already in memory.
    Bytes(Vec<u8>),
    /// A file read on demand.
    File(Arc<dyn RandomAccessFile>),
}

impl Source {
    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Source::Bytes(b) => b.len() as u64,
            Source::File(f) => f.len(),
        }
    }

    /// Number of blocks, counting a short last one.
    pub fn block_count(&self) -> u64 {
        self.len().div_ceil(BLOCK_SIZE as u64)
    }

    /// Replaces `buf` with block `index`: [`BLOCK_SIZE`] bytes, fewer for the last block and
    /// none past the end of the file.
    pub fn read_block(&self, index: u64, buf: &mut Vec<u8>) -> Result<()> {
        buf.clear();
        let start = index.saturating_mul(BLOCK_SIZE as u64);
        let len = self.len().saturating_sub(start).min(BLOCK_SIZE as u64) as usize;
        if len == 0 {
            return Ok(());
        }
        match self {
            Source::Bytes(b) => {
                // In bounds: start < len(b) here, and len was clamped to what is left.
                let s = start as usize;
                buf.extend_from_slice(&b[s..s + len]);
            }
            Source::File(f) => {
                buf.resize(len, 0);
                f.read_exact_at(buf, start)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_the_file() {
        let data: Vec<u8> = (0..BLOCK_SIZE * 2 + 5).map(|i| i as u8).collect();
        let s = Source::Bytes(data.clone());
        assert_eq!(s.block_count(), 3);
        let mut buf = Vec::new();
        let mut all = Vec::new();
        for i in 0..4 {
            s.read_block(i, &mut buf).unwrap();
            all.extend_from_slice(&buf);
        }
        assert_eq!(all, data);
        s.read_block(u64::MAX, &mut buf).unwrap();
        assert!(buf.is_empty());
    }
}
