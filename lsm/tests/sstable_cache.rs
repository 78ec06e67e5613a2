//! Tables reading data blocks through a shared `BlockCache`.

mod sstable_common;

use std::sync::Arc;

use kvd_base::fs::MemFs;
use kvd_lsm::cache::BlockCache;
use kvd_lsm::sstable::{TableIterator, TableOptions};
use sstable_common::*;

#[test]
fn second_read_of_a_block_is_a_hit() {
    let entries = gen_entries(1, 2000, 1000);
    let fs = MemFs::new();
    build(&fs, "/c.sst", &entries, TableOptions { block_size: 1024, ..Default::default() });
    let cache = Arc::new(BlockCache::new(16 << 20));
    let t = open(&fs, "/c.sst", 7, Some(Arc::clone(&cache))).unwrap();
    let blocks = t.properties().num_data_blocks;

    let uk = kvd_base::key::user_key(&entries[500].0).to_vec();
    t.get(&uk, u64::MAX).unwrap().expect("present");
    assert_eq!((cache.hits(), cache.misses()), (0, 1));
    t.get(&uk, u64::MAX).unwrap().expect("present");
    assert_eq!((cache.hits(), cache.misses()), (1, 1));

    // A full scan misses on every block but the one already cached, and a second scan hits all.
    let mut it = t.iter();
    assert_eq!(collect_forward(&mut it).unwrap(), entries);
    assert_eq!(cache.misses(), blocks);
    assert_eq!(cache.len() as u64, blocks);
    let hits = cache.hits();
    assert_eq!(collect_backward(&mut it).unwrap(), entries);
    assert_eq!(cache.hits() - hits, blocks);
    assert_eq!(cache.misses(), blocks, "no new misses");

    // verify() reads the disk, not the cache.
    let before = (cache.hits(), cache.misses());
    t.verify().unwrap();
    assert_eq!((cache.hits(), cache.misses()), before);

    cache.erase_file(7);
    assert!(cache.is_empty());
}

#[test]
fn a_scan_without_cache_fill_uses_cached_blocks_and_adds_none() {
    let entries = gen_entries(3, 2000, 1000);
    let fs = MemFs::new();
    build(&fs, "/n.sst", &entries, TableOptions { block_size: 1024, ..Default::default() });
    let cache = Arc::new(BlockCache::new(16 << 20));
    let t = open(&fs, "/n.sst", 9, Some(Arc::clone(&cache))).unwrap();
    let uk = kvd_base::key::user_key(&entries[500].0).to_vec();
    t.get(&uk, u64::MAX).unwrap().expect("present");
    assert_eq!(cache.len(), 1);

    let mut it = TableIterator::without_cache_fill(Arc::clone(&t));
    assert_eq!(collect_forward(&mut it).unwrap(), entries);
    assert_eq!(collect_backward(&mut it).unwrap(), entries);
    assert_eq!(cache.len(), 1, "a compaction-style scan leaves the cache as it was");
    assert!(cache.hits() >= 2, "the block already cached was used, both ways");
}

#[test]
fn capacity_is_respected_and_reads_stay_correct() {
    let entries = gen_entries(2, 5000, 3000);
    let fs = MemFs::new();
    build(&fs, "/a.sst", &entries, TableOptions { block_size: 512, ..Default::default() });
    build(&fs, "/b.sst", &entries, TableOptions { block_size: 4096, ..Default::default() });
    let cache = Arc::new(BlockCache::new(32 * 1024));
    let a = open(&fs, "/a.sst", 1, Some(Arc::clone(&cache))).unwrap();
    let b = open(&fs, "/b.sst", 2, Some(Arc::clone(&cache))).unwrap();
    for t in [&a, &b, &a] {
        check_against_model(t, &entries, 3, 200, 3000);
        assert!(cache.used_bytes() <= cache.capacity(), "{} > {}", cache.used_bytes(), cache.capacity());
    }
    assert!(!cache.is_empty());
    assert!(cache.hits() > 0);
}

#[test]
fn zero_capacity_cache_still_reads() {
    let entries = gen_entries(3, 500, 300);
    let fs = MemFs::new();
    build(&fs, "/z.sst", &entries, TableOptions::default());
    let cache = Arc::new(BlockCache::new(0));
    let t = open(&fs, "/z.sst", 1, Some(Arc::clone(&cache))).unwrap();
    assert_eq!(collect_forward(&mut t.iter()).unwrap(), entries);
    assert_eq!(cache.hits(), 0);
    assert!(cache.is_empty());
}

#[test]
fn iterators_and_tables_cross_threads() {
    let entries = gen_entries(4, 3000, 2000);
    let fs = MemFs::new();
    build(&fs, "/t.sst", &entries, TableOptions { block_size: 256, ..Default::default() });
    let cache = Arc::new(BlockCache::new(64 * 1024));
    let t = open(&fs, "/t.sst", 1, Some(cache)).unwrap();
    let entries = Arc::new(entries);
    let handles: Vec<_> = (0..4u64)
        .map(|i| {
            let (t, e) = (Arc::clone(&t), Arc::clone(&entries));
            std::thread::spawn(move || check_against_model(&t, &e, i, 200, 2000))
        })
        .collect();
    for h in handles {
        h.join().expect("reader thread");
    }
}
