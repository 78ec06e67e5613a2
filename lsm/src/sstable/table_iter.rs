//! The two-level table iterator: a position in the (in-memory) index selects a data block,
//! whose [`BlockIter`] yields the entries.
//!
//! The builder never writes an empty data block, but the iterator still skips any it meets,
//! in both directions (as LevelDB's two-level iterator does), so that correctness does not
//! rest on that.

use std::sync::Arc;

use super::{BlockIter, Table};
use crate::iter::InternalIterator;
use crate::Result;

/// Iterates every entry of a table in internal-key order, forwards and backwards; implements
/// [`InternalIterator`] with its contract. Holds its table (`Arc`) and the current block, so it
/// stays usable after the table is dropped elsewhere. Data blocks are loaded through the
/// table's block cache.
pub struct TableIterator {
    table: Arc<Table>,
    /// Index of the data block `data` iterates.
    block_index: usize,
    data: Option<BlockIter>,
    /// Whether blocks read from the file are added to the block cache.
    fill_cache: bool,
}

impl TableIterator {
    /// An unpositioned iterator over `table`.
    pub fn new(table: Arc<Table>) -> Self {
        TableIterator { table, block_index: 0, data: None, fill_cache: true }
    }

    /// An unpositioned iterator over `table` that uses cached blocks but does not add the
    /// blocks it reads to the cache (RocksDB's `fill_cache = false`): for compactions, which
    /// read every block of their inputs once. Filling the cache from them would evict the
    /// blocks readers use and hold memory for tables about to be deleted.
    pub fn without_cache_fill(table: Arc<Table>) -> Self {
        TableIterator { table, block_index: 0, data: None, fill_cache: false }
    }

    /// The table being iterated.
    pub fn table(&self) -> &Arc<Table> {
        &self.table
    }

    fn load(&mut self, i: usize) -> Result<&mut BlockIter> {
        let block = self.table.data_block_at(i, self.fill_cache)?;
        self.block_index = i;
        Ok(self.data.insert(block.iter()))
    }

    /// Positions at the first entry of block `i` or, skipping empty blocks, a later one.
    fn first_from(&mut self, mut i: usize) -> Result<()> {
        while i < self.table.num_data_blocks() {
            if self.load(i)?.seek_to_first_valid()? {
                return Ok(());
            }
            i += 1;
        }
        self.data = None;
        Ok(())
    }

    /// Positions at the last entry of block `i` or, skipping empty blocks, an earlier one;
    /// `None` means before the first block.
    fn last_from(&mut self, mut i: Option<usize>) -> Result<()> {
        while let Some(b) = i {
            if self.load(b)?.seek_to_last_valid()? {
                return Ok(());
            }
            i = b.checked_sub(1);
        }
        self.data = None;
        Ok(())
    }

    fn seek_impl(&mut self, target: &[u8]) -> Result<()> {
        let i = self.table.index_position(target);
        if i >= self.table.num_data_blocks() {
            self.data = None;
            return Ok(());
        }
        let it = self.load(i)?;
        it.seek(target)?;
        if !it.valid() {
            // Every key of block i is < target (its separator is not): the answer starts i + 1.
            self.first_from(i + 1)?;
        }
        Ok(())
    }

    fn seek_for_prev_impl(&mut self, target: &[u8]) -> Result<()> {
        let i = self.table.index_position(target);
        if i >= self.table.num_data_blocks() {
            // target is past every separator, hence past every key.
            return self.last_from(self.table.num_data_blocks().checked_sub(1));
        }
        let it = self.load(i)?;
        it.seek_for_prev(target)?;
        if !it.valid() {
            // Every key of block i is > target; block i - 1's keys are all <= its separator < target.
            self.last_from(i.checked_sub(1))?;
        }
        Ok(())
    }

    fn next_impl(&mut self) -> Result<()> {
        let Some(it) = self.data.as_mut() else {
            return Ok(());
        };
        it.next()?;
        if !it.valid() {
            self.first_from(self.block_index + 1)?;
        }
        Ok(())
    }

    fn prev_impl(&mut self) -> Result<()> {
        let Some(it) = self.data.as_mut() else {
            return Ok(());
        };
        it.prev()?;
        if !it.valid() {
            self.last_from(self.block_index.checked_sub(1))?;
        }
        Ok(())
    }

    /// Runs `f`, dropping the position if it fails (the trait's error contract).
    fn guard(&mut self, f: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        let r = f(self);
        if r.is_err() {
            self.data = None;
        }
        r
    }
}

/// Small helpers so block positioning reads as one step.
trait SeekValid {
    fn seek_to_first_valid(&mut self) -> Result<bool>;
    fn seek_to_last_valid(&mut self) -> Result<bool>;
}

impl SeekValid for BlockIter {
    fn seek_to_first_valid(&mut self) -> Result<bool> {
        self.seek_to_first()?;
        Ok(self.valid())
    }

    fn seek_to_last_valid(&mut self) -> Result<bool> {
        self.seek_to_last()?;
        Ok(self.valid())
    }
}

impl InternalIterator for TableIterator {
    fn valid(&self) -> bool {
        self.data.as_ref().is_some_and(|d| d.valid())
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.guard(|it| it.first_from(0))
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.guard(|it| it.last_from(it.table.num_data_blocks().checked_sub(1)))
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.guard(|it| it.seek_impl(target))
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.guard(|it| it.seek_for_prev_impl(target))
    }

    fn next(&mut self) -> Result<()> {
        debug_assert!(self.valid());
        self.guard(Self::next_impl)
    }

    fn prev(&mut self) -> Result<()> {
        debug_assert!(self.valid());
        self.guard(Self::prev_impl)
    }

    fn key(&self) -> &[u8] {
        self.data.as_ref().map_or(&[], |d| d.key())
    }

    fn value(&self) -> &[u8] {
        self.data.as_ref().map_or(&[], |d| d.value())
    }
}
