//! A bidirectional cursor over one [`Block`].
//!
//! Forward movement decodes the next entry. Backward movement, as in LevelDB, rewinds to the
//! last restart point before the current entry and decodes forward to the entry just before
//! it: entries are delta-encoded against their predecessor, so they can only be decoded
//! forwards. Seeks binary-search the restart points (whose keys are stored whole) and then scan.

use std::cmp::Ordering;
use std::sync::Arc;

use kvd_base::coding::Decoder;
use kvd_base::key::compare_internal_keys;

use super::block::Block;
use crate::iter::InternalIterator;
use crate::Result;

/// The decoded header of one entry.
struct EntryHeader {
    shared: usize,
    non_shared: usize,
    /// Offset (within the entries region) of the non-shared key bytes.
    key_start: usize,
    /// Offset just past the entry's value.
    end: usize,
}

/// Decodes the header of the entry at `pos`, checking that its key delta and value lie inside
/// the entries region.
fn decode_entry(entries: &[u8], pos: usize) -> Option<EntryHeader> {
    // Fast path (as LevelDB's `DecodeEntry`): the three lengths are usually one byte each.
    if let Some(&[shared, non_shared, value_len]) = entries.get(pos..pos + 3) {
        if (shared | non_shared | value_len) < 0x80 {
            let key_start = pos + 3;
            let end = key_start + non_shared as usize + value_len as usize;
            if end > entries.len() {
                return None;
            }
            return Some(EntryHeader { shared: shared as usize, non_shared: non_shared as usize, key_start, end });
        }
    }
    let mut d = Decoder::new(entries.get(pos..)?);
    let shared = usize::try_from(d.varint("shared").ok()?).ok()?;
    let non_shared = usize::try_from(d.varint("non_shared").ok()?).ok()?;
    let value_len = usize::try_from(d.varint("value_len").ok()?).ok()?;
    let key_start = pos + d.position();
    let end = key_start.checked_add(non_shared)?.checked_add(value_len)?;
    if end > entries.len() {
        return None;
    }
    Some(EntryHeader { shared, non_shared, key_start, end })
}

/// Iterates a block's entries in stored order, which is internal-key order for every block
/// kvd writes (data and index blocks). Implements [`InternalIterator`]; seeks compare with
/// [`compare_internal_keys`].
///
/// Corrupt entries (lengths pointing outside the block, a shared prefix longer than the
/// previous key, a restart entry that shares a prefix) produce a corruption error naming the
/// block's file and offset and leave the iterator invalid; they never panic.
pub struct BlockIter {
    block: Arc<Block>,
    /// Offset of the current entry; `entries().len()` when not valid.
    current: usize,
    /// Offset of the entry after the current one.
    next: usize,
    /// The last restart point at or before `current`.
    restart_index: usize,
    key: Vec<u8>,
    value: (usize, usize),
    valid: bool,
}

impl BlockIter {
    /// A cursor over `block`, not yet positioned.
    pub fn new(block: Arc<Block>) -> Self {
        let end = block.entries().len();
        BlockIter { block, current: end, next: end, restart_index: 0, key: Vec::new(), value: (0, 0), valid: false }
    }

    /// The block being iterated.
    pub fn block(&self) -> &Arc<Block> {
        &self.block
    }

    fn invalidate(&mut self) {
        let end = self.block.entries().len();
        self.current = end;
        self.next = end;
        self.key.clear();
        self.valid = false;
    }

    /// Runs `f`, leaving the iterator invalid if it fails (the trait's error contract).
    fn guard(&mut self, f: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        let r = f(self);
        if r.is_err() {
            self.invalidate();
        }
        r
    }

    fn seek_to_restart(&mut self, index: usize) {
        self.key.clear();
        self.restart_index = index;
        self.next = self.block.restart_point(index);
        self.valid = false;
    }

    /// Decodes the entry at `self.next`; returns false (and invalidates) at the end of the block.
    fn parse_next(&mut self) -> Result<bool> {
        self.current = self.next;
        if self.current >= self.block.entries().len() {
            self.invalidate();
            return Ok(false);
        }
        // Borrow the block through its field so `key` and the offsets can change alongside.
        let block: &Block = &self.block;
        let entries = block.entries();
        let h = decode_entry(entries, self.current)
            .ok_or_else(|| block.corruption(self.current, "entry overruns the block"))?;
        if h.shared > self.key.len() {
            return Err(block.corruption(self.current, "shared prefix longer than the previous key"));
        }
        while self.restart_index + 1 < block.num_restarts()
            && block.restart_point(self.restart_index + 1) <= self.current
        {
            self.restart_index += 1;
        }
        if h.shared != 0 && block.restart_point(self.restart_index) == self.current {
            return Err(block.corruption(self.current, "restart entry shares a prefix"));
        }
        self.key.truncate(h.shared);
        self.key.extend_from_slice(&entries[h.key_start..h.key_start + h.non_shared]);
        self.value = (h.key_start + h.non_shared, h.end);
        self.next = h.end;
        self.valid = true;
        Ok(true)
    }

    /// The whole key stored at restart point `index`.
    fn restart_key(&self, index: usize) -> Result<&[u8]> {
        let pos = self.block.restart_point(index);
        let entries = self.block.entries();
        match decode_entry(entries, pos) {
            Some(h) if h.shared == 0 => Ok(&entries[h.key_start..h.key_start + h.non_shared]),
            _ => Err(self.block.corruption(pos, "bad restart entry")),
        }
    }

    fn seek_impl(&mut self, target: &[u8]) -> Result<()> {
        let n = self.block.num_restarts();
        if n == 0 {
            self.invalidate();
            return Ok(());
        }
        // Find the last restart whose key is < target; the answer is at or after it.
        let (mut left, mut right) = (0usize, n - 1);
        while left < right {
            let mid = left + (right - left).div_ceil(2);
            if compare_internal_keys(self.restart_key(mid)?, target) == Ordering::Less {
                left = mid;
            } else {
                right = mid - 1;
            }
        }
        self.seek_to_restart(left);
        while self.parse_next()? {
            if compare_internal_keys(&self.key, target) != Ordering::Less {
                return Ok(());
            }
        }
        Ok(())
    }

    /// As [`InternalIterator::seek`], resuming from the current position when it is at or
    /// before `target`: only the restart points after the current one are searched, and when
    /// the answer lies before the next restart point the scan simply continues. Any other
    /// position (invalid, or past `target`) falls back to a full seek.
    pub fn seek_forward(&mut self, target: &[u8]) -> Result<()> {
        self.guard(|it| {
            if !it.valid {
                return it.seek_impl(target);
            }
            match compare_internal_keys(&it.key, target) {
                Ordering::Greater => return it.seek_impl(target),
                Ordering::Equal => return Ok(()),
                Ordering::Less => {}
            }
            // The restart key at `restart_index` is <= the current key < target, so the
            // search of `seek_impl` can start there.
            let (mut left, mut right) = (it.restart_index, it.block.num_restarts() - 1);
            while left < right {
                let mid = left + (right - left).div_ceil(2);
                if compare_internal_keys(it.restart_key(mid)?, target) == Ordering::Less {
                    left = mid;
                } else {
                    right = mid - 1;
                }
            }
            if left > it.restart_index {
                it.seek_to_restart(left);
            }
            while it.parse_next()? {
                if compare_internal_keys(&it.key, target) != Ordering::Less {
                    return Ok(());
                }
            }
            Ok(())
        })
    }

    fn seek_to_last_impl(&mut self) -> Result<()> {
        let n = self.block.num_restarts();
        if n == 0 {
            self.invalidate();
            return Ok(());
        }
        self.seek_to_restart(n - 1);
        let end = self.block.entries().len();
        while self.parse_next()? && self.next < end {}
        Ok(())
    }

    fn prev_impl(&mut self) -> Result<()> {
        let original = self.current;
        while self.block.restart_point(self.restart_index) >= original {
            if self.restart_index == 0 {
                // Before the first entry.
                self.invalidate();
                return Ok(());
            }
            self.restart_index -= 1;
        }
        self.seek_to_restart(self.restart_index);
        while self.parse_next()? && self.next < original {}
        Ok(())
    }
}

impl InternalIterator for BlockIter {
    fn valid(&self) -> bool {
        self.valid
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.guard(|it| {
            if it.block.num_restarts() == 0 {
                it.invalidate();
                return Ok(());
            }
            it.seek_to_restart(0);
            it.parse_next().map(|_| ())
        })
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.guard(Self::seek_to_last_impl)
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.guard(|it| it.seek_impl(target))
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.guard(|it| {
            it.seek_impl(target)?;
            if !it.valid {
                it.seek_to_last_impl()
            } else if compare_internal_keys(&it.key, target) == Ordering::Greater {
                it.prev_impl()
            } else {
                Ok(())
            }
        })
    }

    fn next(&mut self) -> Result<()> {
        debug_assert!(self.valid);
        self.guard(|it| it.parse_next().map(|_| ()))
    }

    fn prev(&mut self) -> Result<()> {
        debug_assert!(self.valid);
        self.guard(Self::prev_impl)
    }

    fn key(&self) -> &[u8] {
        &self.key
    }

    fn value(&self) -> &[u8] {
        &self.block.entries()[self.value.0..self.value.1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sstable::BlockBuilder;
    use kvd_base::key::InternalKey;
    use kvd_base::ValueKind;
    use proptest::prelude::*;

    fn ikey(i: u32) -> Vec<u8> {
        InternalKey::new(format!("key{i:05}").as_bytes(), 7, ValueKind::Put).into_encoded()
    }

    fn build(n: u32, interval: usize) -> Arc<Block> {
        let mut b = BlockBuilder::new(interval);
        for i in 0..n {
            b.add(&ikey(i * 2), format!("v{i}").as_bytes());
        }
        Arc::new(Block::from_bytes(b.finish()).unwrap())
    }

    #[test]
    fn both_directions_and_seeks() {
        for interval in [1, 2, 3, 16] {
            for n in [0u32, 1, 2, 17, 100] {
                let block = build(n, interval);
                let mut it = block.iter();
                it.seek_to_first().unwrap();
                let mut fwd = Vec::new();
                while it.valid() {
                    fwd.push(it.key().to_vec());
                    it.next().unwrap();
                }
                assert_eq!(fwd, (0..n).map(|i| ikey(i * 2)).collect::<Vec<_>>());
                it.seek_to_last().unwrap();
                let mut back = Vec::new();
                while it.valid() {
                    back.push(it.key().to_vec());
                    it.prev().unwrap();
                }
                back.reverse();
                assert_eq!(back, fwd);
                for t in 0..(2 * n + 1) {
                    it.seek(&ikey(t)).unwrap();
                    let want = t.div_ceil(2);
                    if want < n {
                        assert_eq!(it.key(), ikey(want * 2));
                        assert_eq!(it.value(), format!("v{want}").as_bytes());
                    } else {
                        assert!(!it.valid());
                    }
                    it.seek_for_prev(&ikey(t)).unwrap();
                    if n == 0 {
                        assert!(!it.valid());
                    } else {
                        assert_eq!(it.key(), ikey((t / 2).min(n - 1) * 2));
                    }
                }
            }
        }
    }

    #[test]
    fn seek_forward_agrees_with_seek_from_any_position() {
        for interval in [1, 2, 3, 16] {
            let block = build(40, interval);
            let (mut fwd, mut plain) = (block.iter(), block.iter());
            // Ascending targets (the fast path), then every (from, to) pair (falling back).
            for t in 0..82 {
                fwd.seek_forward(&ikey(t)).unwrap();
                plain.seek(&ikey(t)).unwrap();
                assert_eq!(fwd.valid(), plain.valid(), "interval {interval} target {t}");
                if plain.valid() {
                    assert_eq!((fwd.key(), fwd.value()), (plain.key(), plain.value()));
                }
            }
            for from in 0..82 {
                for to in 0..82 {
                    fwd.seek(&ikey(from)).unwrap();
                    fwd.seek_forward(&ikey(to)).unwrap();
                    plain.seek(&ikey(to)).unwrap();
                    assert_eq!(fwd.valid(), plain.valid(), "interval {interval} {from} -> {to}");
                    if plain.valid() {
                        assert_eq!(fwd.key(), plain.key());
                    }
                }
            }
        }
    }

    #[test]
    fn long_lengths_take_the_slow_decode() {
        // Keys and values of 200 bytes need two-byte varints.
        let mut b = BlockBuilder::new(4);
        let key = |i: u32| InternalKey::new(format!("{i:0200}").as_bytes(), 1, ValueKind::Put).into_encoded();
        for i in 0..10 {
            b.add(&key(i), &[i as u8; 200]);
        }
        let block = Arc::new(Block::from_bytes(b.finish()).unwrap());
        let mut it = block.iter();
        it.seek_forward(&key(3)).unwrap();
        assert_eq!(it.value(), &[3u8; 200][..]);
        it.seek_forward(&key(8)).unwrap();
        assert_eq!(it.key(), key(8));
    }

    #[test]
    fn prev_from_first_invalidates() {
        let block = build(5, 2);
        let mut it = block.iter();
        it.seek_to_first().unwrap();
        it.prev().unwrap();
        assert!(!it.valid());
    }

    #[test]
    fn corrupt_entry_is_an_error() {
        let mut b = BlockBuilder::new(16);
        b.add(b"abc", b"1");
        b.add(b"abd", b"2");
        let mut bytes = b.finish();
        bytes[7] = 50; // second entry claims to share 50 bytes
        let block = Arc::new(Block::from_bytes(bytes).unwrap());
        let mut it = block.iter();
        it.seek_to_first().unwrap();
        let e = it.next().unwrap_err();
        assert!(e.is_corruption());
        assert!(!it.valid());
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), target in proptest::collection::vec(any::<u8>(), 0..12)) {
            if let Ok(block) = Block::from_bytes(bytes) {
                let block = Arc::new(block);
                let mut it = block.iter();
                let mut steps = 0;
                if it.seek_to_first().is_ok() {
                    while it.valid() && steps < 1000 && it.next().is_ok() { steps += 1; }
                }
                if it.seek_to_last().is_ok() {
                    while it.valid() && steps < 2000 && it.prev().is_ok() { steps += 1; }
                }
                let _ = it.seek(&target);
                let _ = it.seek_for_prev(&target);
            }
        }

        #[test]
        fn mutated_blocks_never_panic(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut b = BlockBuilder::new(3);
            for i in 0..20u32 { b.add(&ikey(i), b"value"); }
            let mut bytes = b.finish();
            let p = pos.index(bytes.len());
            bytes[p] = byte;
            if let Ok(block) = Block::from_bytes(bytes) {
                let block = Arc::new(block);
                let mut it = block.iter();
                if it.seek_to_last().is_ok() {
                    while it.valid() && it.prev().is_ok() {}
                }
                let _ = it.seek(&ikey(10));
                let _ = it.seek_for_prev(&ikey(10));
            }
        }
    }
}
