//! Builds one block (data or index) of prefix-compressed, sorted entries.
//!
//! Format: `docs/format/sstable.md`, section "Block contents". Each entry is
//! `varint shared | varint non_shared | varint value_len | key[shared..] | value`, where `shared`
//! is the length of the prefix it has in common with the previous key. Every
//! `restart_interval` entries the prefix sharing restarts (`shared = 0`) and the entry's offset
//! is recorded, so a reader can binary-search the restart points and decode from any of them.
//! The block ends with the restart offsets (u32 LE each) and their count (u32 LE).

use kvd_base::coding::{put_u32, put_varint, varint_len};

/// Accumulates entries into the byte form of one block.
///
/// REQUIRES: keys are added in strictly increasing order (the table builder checks this);
/// the block's bytes stay below 4 GiB, because restart offsets are u32 (the table builder
/// cuts blocks long before, and rejects single entries of 4 GiB or more).
#[derive(Debug)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    restart_interval: usize,
    /// Entries since the last restart point.
    counter: usize,
    num_entries: usize,
    last_key: Vec<u8>,
}

impl BlockBuilder {
    /// An empty builder placing a restart point every `restart_interval` entries (at least 1).
    pub fn new(restart_interval: usize) -> Self {
        BlockBuilder {
            buf: Vec::new(),
            restarts: Vec::new(),
            restart_interval: restart_interval.max(1),
            counter: 0,
            num_entries: 0,
            last_key: Vec::new(),
        }
    }

    /// Appends an entry. See the type's requirements.
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        let shared = if self.counter < self.restart_interval && self.num_entries > 0 {
            self.last_key.iter().zip(key).take_while(|(a, b)| a == b).count()
        } else {
            // Restart: the first entry, or `restart_interval` entries since the last restart.
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
            0
        };
        let non_shared = key.len() - shared;
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, non_shared as u64);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(&key[shared..]);
        self.counter += 1;
        self.num_entries += 1;
    }

    /// The size the block will have once finished, excluding its on-disk trailer.
    pub fn estimated_size(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    /// The size the block would have after adding `key` and `value`, ignoring prefix sharing.
    pub fn estimated_size_after(&self, key: &[u8], value: &[u8]) -> usize {
        self.estimated_size()
            + 4
            + varint_len(key.len() as u64)
            + varint_len(value.len() as u64)
            + 1
            + key.len()
            + value.len()
    }

    /// True when no entry was added since the last reset.
    pub fn is_empty(&self) -> bool {
        self.num_entries == 0
    }

    /// Entries added since the last reset.
    pub fn num_entries(&self) -> usize {
        self.num_entries
    }

    /// The last key added (empty when none).
    pub fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// Appends the restart array and returns the block's bytes, leaving the builder empty and
    /// reusable. An empty block is just a zero restart count (4 bytes).
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        out.reserve(4 * self.restarts.len() + 4);
        for r in &self.restarts {
            put_u32(&mut out, *r);
        }
        put_u32(&mut out, self.restarts.len() as u32);
        self.restarts.clear();
        self.counter = 0;
        self.num_entries = 0;
        self.last_key.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_prefixes_between_restarts() {
        let mut b = BlockBuilder::new(2);
        b.add(b"apple", b"1");
        b.add(b"apply", b"2");
        b.add(b"banana", b"3");
        assert_eq!(b.num_entries(), 3);
        assert_eq!(b.last_key(), b"banana");
        let est = b.estimated_size();
        let bytes = b.finish();
        assert_eq!(bytes.len(), est);
        // Entry 0: shared 0, non_shared 5, value 1.
        assert_eq!(&bytes[..3], &[0, 5, 1]);
        assert_eq!(&bytes[3..9], b"apple1");
        // Entry 1 shares "appl".
        assert_eq!(&bytes[9..12], &[4, 1, 1]);
        // Two restarts (entries 0 and 2), count 2.
        let n = bytes.len();
        assert_eq!(&bytes[n - 4..], &2u32.to_le_bytes());
        assert_eq!(&bytes[n - 12..n - 8], &0u32.to_le_bytes());
        assert!(b.is_empty());
    }

    #[test]
    fn empty_block_is_a_zero_count() {
        let mut b = BlockBuilder::new(16);
        assert_eq!(b.finish(), vec![0, 0, 0, 0]);
    }
}
