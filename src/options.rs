//! Options for opening a database, reading and writing.

use std::sync::Arc;

use kvd_base::clock::{Clock, SystemClock};
use kvd_base::fs::{FsRef, StdFs};
pub use kvd_compaction::CompactionConfig;
pub use kvd_lsm::sstable::{Compression, TableOptions};
pub use kvd_wal::{RecoveryMode, SyncPolicy};

use crate::Snapshot;

/// How a database is opened and run. `Options::default()` is a sensible embedded setup.
#[derive(Debug, Clone)]
pub struct Options {
    /// Create the database if the directory holds none (default true).
    pub create_if_missing: bool,
    /// Fail if a database already exists (default false).
    pub error_if_exists: bool,
    /// Memtable size at which it becomes immutable and is flushed (default 64 MiB).
    pub write_buffer_size: usize,
    /// Immutable memtables allowed to wait for flush before writes stall (default 2).
    pub max_immutable_memtables: usize,
    /// L0 file count at which each write group is delayed by 1 ms (default 20).
    pub l0_slowdown_writes_trigger: usize,
    /// L0 file count at which writes wait for compaction (default 36).
    pub l0_stop_writes_trigger: usize,
    /// Estimated pending compaction bytes at which each write group is delayed (default 64 GiB).
    pub soft_pending_compaction_bytes_limit: u64,
    /// Estimated pending compaction bytes at which writes wait for compaction (default 256 GiB).
    pub hard_pending_compaction_bytes_limit: u64,
    /// When the write-ahead log is fsynced (default every 100 ms).
    pub sync_policy: SyncPolicy,
    /// Log file space is reserved this many bytes at a time (default 1 MiB; 0 turns it off),
    /// so an fsync after a small write flushes data only, not a file-size change too.
    pub wal_preallocate_bytes: u64,
    /// How damage found in the write-ahead log at open is treated.
    pub recovery_mode: RecoveryMode,
    /// SSTable layout: block size, restart interval, bloom bits, compression.
    pub table: TableOptions,
    /// Levelled compaction settings (L0 trigger, level sizes, target file size).
    pub compaction: CompactionConfig,
    /// Background compaction threads (default 1).
    pub max_background_compactions: usize,
    /// Turn off automatic compaction (manual `compact_range` still works; L0 write stalls are
    /// then not applied, since nothing would end them).
    pub disable_auto_compactions: bool,
    /// How often idle compaction threads wake to look for expired data (default 1 s).
    pub ttl_check_interval: std::time::Duration,
    /// Bytes of decoded blocks cached in memory (default 64 MiB; 0 disables).
    pub block_cache_bytes: u64,
    /// Largest key accepted, in bytes (default 64 KiB; never more than 4 GiB less 8 bytes).
    pub max_key_size: usize,
    /// Largest value accepted, in bytes (default 64 MiB; never more than 4 GiB less 8 bytes).
    pub max_value_size: usize,
    /// The file system (default the operating system's).
    pub fs: FsRef,
    /// The wall clock used for TTL (default the system clock).
    pub clock: Arc<dyn Clock>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            create_if_missing: true,
            error_if_exists: false,
            write_buffer_size: 64 << 20,
            max_immutable_memtables: 2,
            l0_slowdown_writes_trigger: 20,
            l0_stop_writes_trigger: 36,
            soft_pending_compaction_bytes_limit: 64 << 30,
            hard_pending_compaction_bytes_limit: 256 << 30,
            sync_policy: SyncPolicy::default(),
            wal_preallocate_bytes: kvd_wal::DEFAULT_PREALLOCATE_BYTES,
            recovery_mode: RecoveryMode::default(),
            table: TableOptions::default(),
            compaction: CompactionConfig::default(),
            max_background_compactions: 1,
            disable_auto_compactions: false,
            ttl_check_interval: std::time::Duration::from_secs(1),
            block_cache_bytes: 64 << 20,
            max_key_size: 64 << 10,
            max_value_size: 64 << 20,
            fs: Arc::new(StdFs),
            clock: Arc::new(SystemClock),
        }
    }
}

/// Options for one write.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Fsync the log before acknowledging this write, whatever the sync policy.
    pub sync: bool,
}

/// Options for a read or an iterator.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions<'a> {
    /// Read as of this snapshot instead of the latest state.
    pub snapshot: Option<&'a Snapshot>,
    /// Read as of this sequence number (ignored when `snapshot` is set). It must be at or
    /// above the history floor, at a live snapshot, or the latest; otherwise the read fails
    /// with `InvalidArgument`, since compaction may have dropped what it needs.
    pub seqno: Option<u64>,
    /// Iterators see only keys `>= lower_bound`.
    pub lower_bound: Option<Vec<u8>>,
    /// Iterators see only keys `< upper_bound`.
    pub upper_bound: Option<Vec<u8>>,
}
