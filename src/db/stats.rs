//! Counters the engine keeps, and the [`Stats`] snapshot `Db::stats()` returns.

use std::sync::atomic::{AtomicU64, Ordering};

/// Engine counters, updated with relaxed atomics on the hot paths.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub writes: AtomicU64,
    pub write_groups: AtomicU64,
    pub flushes: AtomicU64,
    pub flush_bytes: AtomicU64,
    pub slowdowns: AtomicU64,
    pub stops: AtomicU64,
    pub stall_micros: AtomicU64,
    pub gets: AtomicU64,
}

impl Counters {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// Files and bytes at one level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LevelStats {
    /// Number of table files.
    pub files: usize,
    /// Total bytes of those files.
    pub bytes: u64,
    /// Bytes compactions read from this level.
    pub read_bytes: u64,
    /// Bytes compactions wrote into this level (flushes count for L0).
    pub written_bytes: u64,
}

/// A point-in-time report of the engine's state and counters.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// The latest visible sequence number.
    pub sequence: u64,
    /// Bytes in the active memtable.
    pub memtable_bytes: u64,
    /// Immutable memtables waiting to be flushed.
    pub immutable_memtables: usize,
    /// Bytes in the immutable memtables (flushing or waiting to).
    pub immutable_memtable_bytes: u64,
    /// Bytes of blocks in the block cache (its charge, entry overhead included).
    pub block_cache_bytes: u64,
    /// Memory held by open table readers outside the cache (indexes and filters).
    pub table_reader_bytes: u64,
    /// Per level, L0 first.
    pub levels: Vec<LevelStats>,
    /// Write batches committed.
    pub writes: u64,
    /// Commit groups (one log append each); `writes / write_groups` is the group-commit factor.
    pub write_groups: u64,
    /// Bytes appended to the write-ahead log.
    pub wal_bytes: u64,
    /// Write-ahead log fsyncs.
    pub wal_syncs: u64,
    /// Memtables flushed to L0.
    pub flushes: u64,
    /// Bytes written by flushes.
    pub flush_bytes: u64,
    /// Compactions run (trivial moves excluded).
    pub compactions: u64,
    /// Files moved to the next level by a manifest edit alone.
    pub trivial_moves: u64,
    /// Bytes written by flushes and compactions divided by bytes flushed: how many times each
    /// byte the user wrote was written to tables (0 before the first flush).
    pub write_amplification: f64,
    /// Estimated bytes compaction must still rewrite to bring levels within target.
    pub pending_compaction_bytes: u64,
    /// Write groups delayed because L0 had too many files.
    pub stall_slowdowns: u64,
    /// Times writes had to wait for a flush or compaction.
    pub stall_stops: u64,
    /// Total microseconds writers spent stalled.
    pub stall_micros: u64,
    /// Point reads served.
    pub gets: u64,
    /// Block cache hits.
    pub block_cache_hits: u64,
    /// Block cache misses.
    pub block_cache_misses: u64,
    /// Snapshots currently held.
    pub live_snapshots: usize,
}
