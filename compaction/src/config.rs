//! Knobs of levelled compaction, with RocksDB's defaults.

/// Settings of the levelled compaction policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionConfig {
    /// Number of L0 files that triggers an L0 compaction (default 4).
    pub l0_compaction_trigger: usize,
    /// Target size of the base level, the level L0 compacts into (default 256 MiB).
    pub max_bytes_for_level_base: u64,
    /// Size ratio between adjacent levels (default 10).
    pub level_size_multiplier: u64,
    /// Size at which compaction outputs are split (default 64 MiB).
    pub target_file_size: u64,
    /// Derive level targets from the last level's size, as RocksDB's
    /// `level_compaction_dynamic_level_bytes` (default true): small databases compact L0
    /// straight into the last level and write amplification stays near `multiplier` per level.
    pub dynamic_level_bytes: bool,
    /// Compact files whose earliest expiry has passed even when no level is over target.
    pub ttl_compaction: bool,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            l0_compaction_trigger: 4,
            max_bytes_for_level_base: 256 << 20,
            level_size_multiplier: 10,
            target_file_size: 64 << 20,
            dynamic_level_bytes: true,
            ttl_compaction: true,
        }
    }
}
