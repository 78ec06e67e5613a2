//! Target sizes per level, static or dynamic (RocksDB's `level_compaction_dynamic_level_bytes`).

use kvd_lsm::version::{Version, NUM_LEVELS};

use crate::CompactionConfig;

/// Per-level size targets and the base level L0 compacts into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelTargets {
    /// The level L0 compacts into. Levels between 1 and it are empty in steady state.
    pub base_level: usize,
    /// Target bytes per level (index 0 unused; 0 for levels above `base_level`).
    pub targets: [u64; NUM_LEVELS],
}

impl LevelTargets {
    /// Computes the targets for `version`.
    ///
    /// Dynamic: the last level's target is its actual size (at least the base size); each
    /// level above is a `multiplier`-th of the one below, and the base level is the first
    /// whose target drops to `max_bytes_for_level_base` or below. Static: L1 gets the base
    /// size and each deeper level `multiplier` times more.
    pub fn compute(version: &Version, cfg: &CompactionConfig) -> LevelTargets {
        let mult = cfg.level_size_multiplier.max(2);
        let base = cfg.max_bytes_for_level_base.max(1);
        let mut targets = [0u64; NUM_LEVELS];
        if !cfg.dynamic_level_bytes {
            let mut t = base;
            for target in targets.iter_mut().skip(1) {
                *target = t;
                t = t.saturating_mul(mult);
            }
            return LevelTargets { base_level: 1, targets };
        }
        let last = NUM_LEVELS - 1;
        let max_size = (1..NUM_LEVELS).map(|l| version.level_bytes(l)).max().unwrap_or(0);
        let mut cur = max_size.max(base);
        let mut base_level = last;
        targets[last] = cur;
        while base_level > 1 && cur > base {
            base_level -= 1;
            cur /= mult;
            targets[base_level] = cur.max(1);
        }
        LevelTargets { base_level, targets }
    }
}

/// Bytes compaction still has to rewrite to bring every level within its target (RocksDB's
/// "estimated pending compaction bytes"): L0 when at its trigger, plus each deeper level's
/// excess over target. Writes slow down and stop as this grows.
pub fn pending_compaction_bytes(version: &Version, cfg: &CompactionConfig) -> u64 {
    let targets = LevelTargets::compute(version, cfg);
    let mut pending = 0u64;
    if version.files(0).len() >= cfg.l0_compaction_trigger {
        pending += version.level_bytes(0);
    }
    for level in 1..NUM_LEVELS - 1 {
        let bytes = version.level_bytes(level);
        let target = if level < targets.base_level { 0 } else { targets.targets[level] };
        pending += bytes.saturating_sub(target);
    }
    pending
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_bytes_count_excess_over_targets() {
        use kvd_lsm::base::key::{InternalKey, ValueKind};
        use kvd_lsm::version::{FileMeta, VersionEdit};
        let file = |n: u64, size: u64| FileMeta {
            number: n,
            file_size: size,
            smallest: InternalKey::new(&n.to_be_bytes(), n, ValueKind::Put).into_encoded(),
            largest: InternalKey::new(&n.to_be_bytes(), n, ValueKind::Put).into_encoded(),
            smallest_seqno: n,
            largest_seqno: n,
            num_entries: 1,
            num_deletions: 0,
            earliest_expiry: 0,
        };
        let cfg = CompactionConfig { dynamic_level_bytes: false, max_bytes_for_level_base: 100, ..Default::default() };
        let v = Version::empty()
            .apply(&VersionEdit { new_files: vec![(1, file(1, 150)), (2, file(2, 900))], ..Default::default() });
        assert_eq!(pending_compaction_bytes(&v, &cfg), 50);
        assert_eq!(pending_compaction_bytes(&Version::empty(), &cfg), 0);
    }

    #[test]
    fn empty_db_compacts_into_last_level() {
        let t = LevelTargets::compute(&Version::empty(), &CompactionConfig::default());
        assert_eq!(t.base_level, NUM_LEVELS - 1);
    }

    #[test]
    fn static_targets_grow_by_multiplier() {
        let cfg = CompactionConfig { dynamic_level_bytes: false, max_bytes_for_level_base: 10, ..Default::default() };
        let t = LevelTargets::compute(&Version::empty(), &cfg);
        assert_eq!(t.base_level, 1);
        assert_eq!(&t.targets[1..4], &[10, 100, 1000]);
    }
}
