//! The block cache: decoded (verified, decompressed) data blocks shared by every table.
//!
//! Keyed by `(file number, block offset)`, weighted by each block's decoded size, and bounded
//! by a byte capacity. `quick_cache` provides the concurrent, sharded, scan-resistant
//! (CLOCK-Pro style) eviction; this wrapper adds hit/miss counters, which the crate only offers
//! behind a feature flag, and a zero-capacity mode that caches nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;

use crate::sstable::Block;

/// Bytes charged per entry on top of the block's contents: the `Arc`, the `Block` header and
/// the cache slot, so that many tiny blocks cannot overshoot the capacity in real memory.
const ENTRY_OVERHEAD: u64 = 96;

/// Typical block size, used only to size the cache's initial hash tables.
const TYPICAL_BLOCK: u64 = 4096;

#[derive(Clone)]
struct BlockWeighter;

impl Weighter<(u64, u64), Arc<Block>> for BlockWeighter {
    fn weight(&self, _key: &(u64, u64), block: &Arc<Block>) -> u64 {
        allocation_size(block.allocated_bytes() as u64) + ENTRY_OVERHEAD
    }
}

/// The memory an allocation of `n` bytes really takes: allocators serve small and medium
/// sizes from size classes, four per power of two (mimalloc, jemalloc; glibc's bins are
/// finer), so a 4,105-byte block takes 5,120 bytes. Charging that keeps the cache's real
/// footprint within its capacity.
fn allocation_size(n: u64) -> u64 {
    if n <= 64 {
        return n.next_multiple_of(16);
    }
    let step = 1u64 << ((n - 1).ilog2() - 2);
    n.next_multiple_of(step)
}

/// A thread-safe cache of decoded blocks, shared (`Arc<BlockCache>`) by all open tables.
///
/// Contract: keys are `(file_number, block_offset)`, so file numbers must be unique among the
/// tables using one cache, and never reused for different contents while cached blocks of the
/// old file may remain (call [`BlockCache::erase_file`] when a file is deleted, or rely on
/// file numbers never being reused, as in an LSM engine). The total weight of cached blocks
/// (contents plus a fixed per-entry overhead) stays within the capacity, except that a single
/// block larger than the capacity is simply not cached.
pub struct BlockCache {
    cache: Option<Cache<(u64, u64), Arc<Block>, BlockWeighter>>,
    capacity: u64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("capacity", &self.capacity)
            .field("used", &self.used_bytes())
            .field("hits", &self.hits())
            .field("misses", &self.misses())
            .finish()
    }
}

impl BlockCache {
    /// A cache holding up to `capacity_bytes` of blocks; 0 caches nothing (every lookup misses).
    pub fn new(capacity_bytes: u64) -> Self {
        let cache = (capacity_bytes > 0).then(|| {
            let items = (capacity_bytes / TYPICAL_BLOCK).clamp(16, 1 << 20) as usize;
            Cache::with_weighter(items, capacity_bytes, BlockWeighter)
        });
        BlockCache { cache, capacity: capacity_bytes, hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    /// The cached block at `offset` of file `file_number`, counting a hit or a miss.
    pub fn get(&self, file_number: u64, offset: u64) -> Option<Arc<Block>> {
        let found = self.cache.as_ref().and_then(|c| c.get(&(file_number, offset)));
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// As [`BlockCache::get`], but an absent block is not counted as a miss: for a lookup
    /// that will read the block the ordinary way when it is absent (which counts the miss).
    pub fn get_if_present(&self, file_number: u64, offset: u64) -> Option<Arc<Block>> {
        let found = self.cache.as_ref().and_then(|c| c.get(&(file_number, offset)));
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Caches `block` as the block at `offset` of file `file_number`, possibly evicting others.
    pub fn insert(&self, file_number: u64, offset: u64, block: Arc<Block>) {
        if let Some(c) = &self.cache {
            c.insert((file_number, offset), block);
        }
    }

    /// Drops every cached block of `file_number` (call when the file is deleted). Walks the
    /// whole cache, so it is meant for the rare file deletion, not for hot paths.
    pub fn erase_file(&self, file_number: u64) {
        if let Some(c) = &self.cache {
            c.retain(|k, _| k.0 != file_number);
        }
    }

    /// Lookups that found their block.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that did not.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// The configured capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Weight currently cached, in bytes (contents plus per-entry overhead).
    pub fn used_bytes(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| c.weight())
    }

    /// Number of cached blocks.
    pub fn len(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.len())
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sstable::BlockBuilder;

    #[test]
    fn charges_follow_allocator_size_classes() {
        assert_eq!(allocation_size(1), 16);
        assert_eq!(allocation_size(64), 64);
        assert_eq!(allocation_size(65), 80);
        assert_eq!(allocation_size(4096), 4096);
        assert_eq!(allocation_size(4097), 5120);
        assert_eq!(allocation_size(4105), 5120);
        assert_eq!(allocation_size(5121), 6144);
        assert_eq!(allocation_size(1 << 20), 1 << 20);
        for n in 1..20_000u64 {
            let a = allocation_size(n);
            assert!(a >= n && a < n + n / 4 + 16, "{n} -> {a}");
        }
    }

    fn block(n: usize) -> Arc<Block> {
        let mut b = BlockBuilder::new(16);
        b.add(b"k", &vec![0u8; n]);
        Arc::new(Block::from_bytes(b.finish()).unwrap())
    }

    #[test]
    fn hit_after_insert_and_counters() {
        let c = BlockCache::new(1 << 20);
        assert!(c.get(1, 0).is_none());
        c.insert(1, 0, block(100));
        assert!(c.get(1, 0).is_some());
        assert!(c.get(2, 0).is_none());
        assert_eq!((c.hits(), c.misses()), (1, 2));
        c.erase_file(1);
        assert!(c.get(1, 0).is_none());
    }

    #[test]
    fn capacity_is_respected() {
        let c = BlockCache::new(64 * 1024);
        for i in 0..200 {
            c.insert(7, i * 1000, block(1000));
            assert!(c.used_bytes() <= 64 * 1024);
        }
        assert!(c.len() < 200 && c.len() > 10, "{}", c.len());
    }

    #[test]
    fn zero_capacity_caches_nothing() {
        let c = BlockCache::new(0);
        c.insert(1, 0, block(10));
        assert!(c.get(1, 0).is_none());
        assert!(c.is_empty());
        assert_eq!(c.misses(), 1);
    }
}
