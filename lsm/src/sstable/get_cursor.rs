//! [`GetCursor`]: point lookups in one table for keys asked in ascending order.
//!
//! A batched read (the engine's `multi_get`) sorts its keys and asks each table for them in
//! that order. Successive keys then land in the data block just used or a few blocks after
//! it, so the cursor keeps that block and its position: a lookup in the same block skips the
//! block cache and resumes decoding where the last one stopped
//! ([`BlockIter::seek_forward`]); a lookup further on gallops forward through the index
//! instead of binary-searching all of it. Keys asked out of order are still answered
//! correctly, just without the shortcuts.

use std::sync::Arc;

use kvd_base::key::{user_key, InternalKey};
use kvd_base::key_head::KeyHead;
use kvd_base::MAX_SEQNO;

use super::{BlockIter, Table};
use crate::iter::InternalIterator;
use crate::Result;

/// Point lookups in one table, cheapest when the keys come in ascending order. Holds the
/// table (`Arc`) and at most one data block. Not shared between threads while in use
/// (`&mut self`); an error drops the held block, and the cursor stays usable.
pub struct GetCursor {
    table: Arc<Table>,
    /// The data block last read (its index in the table) and the position in it.
    current: Option<(usize, BlockIter)>,
}

impl GetCursor {
    /// A cursor over `table`, holding no block yet.
    pub fn new(table: Arc<Table>) -> Self {
        GetCursor { table, current: None }
    }

    /// The table looked up.
    pub fn table(&self) -> &Arc<Table> {
        &self.table
    }

    /// The newest entry for `user_key` with sequence number `<= seq`, tombstones included,
    /// as borrowed `(internal key, value)`: what [`Table::get`] returns. The bloom filter is
    /// consulted only when `use_filter` (a caller expecting the key to be present saves the
    /// filter probe; one expecting a miss saves a block read).
    pub fn get(&mut self, user_key_wanted: &[u8], seq: u64, use_filter: bool) -> Result<Option<(&[u8], &[u8])>> {
        if use_filter && !self.table.may_contain(user_key_wanted) {
            return Ok(None);
        }
        let target = InternalKey::seek_key(user_key_wanted, seq.min(MAX_SEQNO));
        let target = target.encoded();
        let found = match self.position(target) {
            Ok(found) => found,
            Err(e) => {
                self.current = None;
                return Err(e);
            }
        };
        Ok(match &self.current {
            Some((_, it)) if found && user_key(it.key()) == user_key_wanted => Some((it.key(), it.value())),
            _ => None,
        })
    }

    /// Positions `current` at the first entry `>= target`; false when the table holds none.
    fn position(&mut self, target: &[u8]) -> Result<bool> {
        let n = self.table.num_data_blocks();
        let mut i = self.block_for(target);
        // As in `Table::get`: when every key of block i is below target (its separator is
        // not), the answer is the first entry of a later block.
        while i < n {
            match &mut self.current {
                Some((b, it)) if *b == i => it.seek_forward(target)?,
                _ => {
                    let mut it = self.table.data_block_at(i, true)?.iter();
                    it.seek(target)?;
                    self.current = Some((i, it));
                }
            }
            if self.current.as_ref().is_some_and(|(_, it)| it.valid()) {
                return Ok(true);
            }
            i += 1;
        }
        Ok(false)
    }

    /// Index of the first data block whose separator is `>= target`, found from the held
    /// block when `target` is at or after it.
    fn block_for(&self, target: &[u8]) -> usize {
        let table = &*self.table;
        let head = KeyHead::of(user_key(target));
        let below = |i: usize| table.separator_below(i, target, head);
        let Some((b, _)) = &self.current else {
            return table.index_position_in(0, table.num_data_blocks(), target, head);
        };
        let b = *b;
        if !below(b) {
            // target <= separator(b): block b, unless target belongs to an earlier block.
            return if b == 0 || below(b - 1) { b } else { table.index_position_in(0, b, target, head) };
        }
        // Gallop: find a block at or after target, then binary-search the last stride.
        let (mut lo, mut step) = (b + 1, 1usize);
        loop {
            let probe = b + step;
            if probe >= table.num_data_blocks() || !below(probe) {
                let hi = probe.min(table.num_data_blocks());
                return table.index_position_in(lo, hi, target, head);
            }
            lo = probe + 1;
            step *= 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use kvd_base::fs::{Fs, MemFs};
    use kvd_base::ValueKind;

    use super::*;
    use crate::cache::BlockCache;
    use crate::sstable::{TableBuilder, TableOptions};

    /// A table of keys `k0000`..: even keys only, each with versions at seqnos 10 (a put) and
    /// 20 (a put, or for multiples of 6 a tombstone); small blocks so lookups cross many.
    fn table() -> Arc<Table> {
        let fs = MemFs::new();
        let path = std::path::Path::new("/1.sst");
        let opts = TableOptions { block_size: 128, restart_interval: 3, ..Default::default() };
        let mut b = TableBuilder::new(fs.create(path).unwrap(), "1.sst".into(), opts);
        for i in (0..400u32).step_by(2) {
            let k = format!("k{i:04}");
            let kind = if i % 6 == 0 { ValueKind::Delete } else { ValueKind::Put };
            b.add(InternalKey::new(k.as_bytes(), 20, kind).encoded(), format!("{k}@20").as_bytes()).unwrap();
            b.add(InternalKey::new(k.as_bytes(), 10, ValueKind::Put).encoded(), format!("{k}@10").as_bytes()).unwrap();
        }
        b.finish().unwrap();
        Table::open(fs.open(path).unwrap(), 1, "1.sst".into(), Some(Arc::new(BlockCache::new(1 << 20)))).unwrap()
    }

    fn owned(r: Option<(&[u8], &[u8])>) -> Option<(Vec<u8>, Vec<u8>)> {
        r.map(|(k, v)| (k.to_vec(), v.to_vec()))
    }

    #[test]
    fn agrees_with_table_get_in_any_order() {
        let t = table();
        assert!(t.num_data_blocks() > 20);
        let ascending: Vec<u32> = (0..402).collect();
        let mut shuffled = ascending.clone();
        // A fixed scramble: stride 7 modulo a prime covers every index once.
        shuffled.sort_by_key(|&i| (i * 7) % 409);
        let sparse: Vec<u32> = (0..402).step_by(37).collect();
        for keys in [ascending, shuffled, sparse] {
            for seq in [5, 10, 15, 20, 99] {
                for use_filter in [false, true] {
                    let mut c = GetCursor::new(Arc::clone(&t));
                    for &i in &keys {
                        let k = format!("k{i:04}");
                        let want = t.get(k.as_bytes(), seq).unwrap();
                        assert_eq!(owned(c.get(k.as_bytes(), seq, use_filter).unwrap()), want, "{k} at {seq}");
                    }
                }
            }
        }
    }

    #[test]
    fn keys_past_the_end_and_before_the_start() {
        let t = table();
        let mut c = GetCursor::new(Arc::clone(&t));
        assert!(c.get(b"k0398", 99, false).unwrap().is_some());
        assert!(c.get(b"z", 99, false).unwrap().is_none());
        assert!(c.get(b"a", 99, false).unwrap().is_none());
        assert_eq!(owned(c.get(b"k0002", 99, false).unwrap()).unwrap().1, b"k0002@20");
    }
}
