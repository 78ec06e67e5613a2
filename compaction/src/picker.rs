//! The levelled picker: a pure function from a version to the most urgent compaction.
//!
//! Scores: L0 = file count / trigger; a deeper level = bytes / target (levels above the base
//! level that still hold files score as "must empty"). The highest score at or above 1 wins.
//! Within a level the file whose overlap with the next level is smallest relative to its own
//! size is chosen (RocksDB's `kMinOverlappingRatio`), which minimises write amplification.
//! With no level over target, a file whose earliest expiry has passed is compacted so expired
//! data does not linger.

use std::collections::HashSet;
use std::sync::Arc;

use kvd_lsm::version::{FileMeta, Version, NUM_LEVELS};

use crate::level_targets::LevelTargets;
use crate::task::{CompactionReason, CompactionTask};
use crate::CompactionConfig;

/// What the picker needs besides the version.
#[derive(Debug, Clone, Default)]
pub struct PickContext<'a> {
    /// Wall-clock time, for TTL compactions.
    pub now_millis: u64,
    /// Files already being compacted: never picked again, and never overlapped.
    pub busy: Option<&'a HashSet<u64>>,
}

impl PickContext<'_> {
    fn is_busy(&self, f: &FileMeta) -> bool {
        self.busy.is_some_and(|b| b.contains(&f.number))
    }
}

fn key_range(files: &[Arc<FileMeta>]) -> Option<(Vec<u8>, Vec<u8>)> {
    let lo = files.iter().map(|f| f.smallest_user_key()).min()?.to_vec();
    let hi = files.iter().map(|f| f.largest_user_key()).max()?.to_vec();
    Some((lo, hi))
}

/// Builds the task compacting `inputs` of `level` into `output_level`, or `None` if a file it
/// would touch is busy.
pub(crate) fn make_task(
    version: &Version,
    level: usize,
    inputs: Vec<Arc<FileMeta>>,
    output_level: usize,
    reason: CompactionReason,
    ctx: &PickContext<'_>,
) -> Option<CompactionTask> {
    let (lo, hi) = key_range(&inputs)?;
    if inputs.iter().any(|f| ctx.is_busy(f)) {
        return None;
    }
    let output_inputs =
        if output_level == level { Vec::new() } else { version.overlapping(output_level, Some(&lo), Some(&hi)) };
    if output_inputs.iter().any(|f| ctx.is_busy(f)) {
        return None;
    }
    // Over the whole output range: output-level files reaching past the inputs' range also
    // end up in the outputs, and the cutter aligns those too (RocksDB's `GetGrandparents`).
    let (out_lo, out_hi) = match key_range(&output_inputs) {
        Some((l, h)) => (l.min(lo.clone()), h.max(hi.clone())),
        None => (lo.clone(), hi.clone()),
    };
    let grandparents = if output_level + 1 < NUM_LEVELS {
        version.overlapping(output_level + 1, Some(&out_lo), Some(&out_hi))
    } else {
        Vec::new()
    };
    let trivial_move = output_level != level
        && inputs.len() == 1
        && output_inputs.is_empty()
        && reason != CompactionReason::Ttl
        && reason != CompactionReason::Manual;
    Some(CompactionTask { level, inputs, output_level, output_inputs, grandparents, trivial_move, reason })
}

/// The most urgent compaction for `version`, or `None` if the tree is in shape.
pub fn pick(version: &Version, cfg: &CompactionConfig, ctx: &PickContext<'_>) -> Option<CompactionTask> {
    let targets = LevelTargets::compute(version, cfg);
    let mut scored: Vec<(f64, usize)> = Vec::new();
    let l0 = version.files(0).len();
    if l0 > 0 {
        scored.push((l0 as f64 / cfg.l0_compaction_trigger.max(1) as f64, 0));
    }
    for level in 1..NUM_LEVELS - 1 {
        let bytes = version.level_bytes(level);
        if bytes == 0 {
            continue;
        }
        let score = if level < targets.base_level {
            f64::INFINITY
        } else {
            bytes as f64 / targets.targets[level].max(1) as f64
        };
        scored.push((score, level));
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (score, level) in scored {
        if score < 1.0 {
            break;
        }
        if let Some(task) = pick_level(version, level, &targets, cfg, ctx) {
            return Some(task);
        }
    }
    if cfg.ttl_compaction {
        return pick_expired(version, &targets, cfg, ctx);
    }
    None
}

fn pick_level(
    version: &Version,
    level: usize,
    targets: &LevelTargets,
    cfg: &CompactionConfig,
    ctx: &PickContext<'_>,
) -> Option<CompactionTask> {
    if level == 0 {
        // L0 files overlap one another: take them all so the output level stays sorted.
        let inputs = version.files(0).to_vec();
        let reason = CompactionReason::L0FileCount;
        return make_task(version, 0, inputs, targets.base_level.max(1), reason, ctx);
    }
    let output_level = level + 1;
    let mut best: Option<(f64, Arc<FileMeta>)> = None;
    for f in version.files(level) {
        if ctx.is_busy(f) {
            continue;
        }
        let overlap: u64 = version
            .overlapping(output_level, Some(f.smallest_user_key()), Some(f.largest_user_key()))
            .iter()
            .map(|o| o.file_size)
            .sum();
        let ratio = overlap as f64 / f.file_size.max(1) as f64;
        if best.as_ref().is_none_or(|(r, _)| ratio < *r) {
            best = Some((ratio, f.clone()));
        }
    }
    let (_, file) = best?;
    let max_bytes = max_compaction_bytes(cfg);
    let inputs = expand_inputs(version, level, vec![file], output_level, max_bytes, ctx);
    make_task(version, level, inputs, output_level, CompactionReason::LevelSize, ctx)
}

/// Most bytes (inputs of both levels) one compaction may take: RocksDB's default
/// `max_compaction_bytes`, 25 target file sizes. Bounds input expansion here and, through
/// output cuts, the later compactions of what a compaction writes.
pub fn max_compaction_bytes(cfg: &CompactionConfig) -> u64 {
    cfg.target_file_size.saturating_mul(25)
}

/// LevelDB's input expansion: adds every file of `level` that lies inside the key range the
/// compaction already rewrites in `output_level`, provided that pulls in no further output
/// file and the whole stays within `max_bytes`.
///
/// Why: each such file would otherwise need a compaction of its own that rewrites the same
/// output files again. It matters where input files are narrow beside the output files they
/// overlap (skewed or sequential keys, or a level of small files above one of large ones); in
/// a uniform random fill a level's files partition the key space and it rarely applies.
fn expand_inputs(
    version: &Version,
    level: usize,
    inputs: Vec<Arc<FileMeta>>,
    output_level: usize,
    max_bytes: u64,
    ctx: &PickContext<'_>,
) -> Vec<Arc<FileMeta>> {
    let Some((lo, hi)) = key_range(&inputs) else { return inputs };
    let outputs = version.overlapping(output_level, Some(&lo), Some(&hi));
    if outputs.is_empty() {
        // Nothing below to rewrite: a single file may move down as it is.
        return inputs;
    }
    let all: Vec<Arc<FileMeta>> = inputs.iter().chain(&outputs).cloned().collect();
    let Some((all_lo, all_hi)) = key_range(&all) else { return inputs };
    let expanded = version.overlapping(level, Some(&all_lo), Some(&all_hi));
    if expanded.len() <= inputs.len() || expanded.iter().any(|f| ctx.is_busy(f)) {
        return inputs;
    }
    let Some((new_lo, new_hi)) = key_range(&expanded) else { return inputs };
    let new_outputs = version.overlapping(output_level, Some(&new_lo), Some(&new_hi));
    let bytes: u64 = expanded.iter().chain(&new_outputs).map(|f| f.file_size).sum();
    if new_outputs.len() == outputs.len() && bytes <= max_bytes {
        expanded
    } else {
        inputs
    }
}

fn pick_expired(
    version: &Version,
    targets: &LevelTargets,
    cfg: &CompactionConfig,
    ctx: &PickContext<'_>,
) -> Option<CompactionTask> {
    for level in 0..NUM_LEVELS {
        for f in version.files(level) {
            if f.earliest_expiry == 0 || f.earliest_expiry > ctx.now_millis || ctx.is_busy(f) {
                continue;
            }
            if level == 0 {
                return pick_level(version, 0, targets, cfg, ctx)
                    .map(|t| CompactionTask { reason: CompactionReason::Ttl, ..t });
            }
            // Rewriting in place at the last level; otherwise push down, merging as usual.
            let out = if level == NUM_LEVELS - 1 { level } else { level + 1 };
            return make_task(version, level, vec![f.clone()], out, CompactionReason::Ttl, ctx);
        }
    }
    None
}

/// The task `compact_range` runs at `level` for `[lo, hi]`: every overlapping file there,
/// merged into the next level (or rewritten in place at the last level).
pub fn pick_manual(
    version: &Version,
    level: usize,
    lo: Option<&[u8]>,
    hi: Option<&[u8]>,
    ctx: &PickContext<'_>,
) -> Option<CompactionTask> {
    let inputs = if level == 0 { version.files(0).to_vec() } else { version.overlapping(level, lo, hi) };
    if inputs.is_empty() {
        return None;
    }
    let out = if level == NUM_LEVELS - 1 { level } else { level + 1 };
    make_task(version, level, inputs, out, CompactionReason::Manual, ctx)
}

#[cfg(test)]
mod tests {
    use kvd_lsm::base::key::{InternalKey, ValueKind};
    use kvd_lsm::version::VersionEdit;

    use super::*;

    fn meta(number: u64, lo: &str, hi: &str, size: u64) -> FileMeta {
        FileMeta {
            number,
            file_size: size,
            smallest: InternalKey::new(lo.as_bytes(), number, ValueKind::Put).into_encoded(),
            largest: InternalKey::new(hi.as_bytes(), number, ValueKind::Put).into_encoded(),
            smallest_seqno: number,
            largest_seqno: number,
            num_entries: 1,
            num_deletions: 0,
            earliest_expiry: 0,
        }
    }

    fn version(files: Vec<(usize, FileMeta)>) -> Version {
        Version::empty().apply(&VersionEdit { new_files: files, ..Default::default() })
    }

    #[test]
    fn nothing_to_do_below_trigger() {
        let v = version(vec![(0, meta(1, "a", "b", 10)), (0, meta(2, "a", "b", 10))]);
        assert!(pick(&v, &CompactionConfig::default(), &PickContext::default()).is_none());
    }

    #[test]
    fn l0_trigger_compacts_all_l0_into_base_level() {
        let files = (1..=4).map(|i| (0, meta(i, "a", "m", 10))).chain([(6, meta(9, "c", "d", 50))]).collect();
        let v = version(files);
        let t = pick(&v, &CompactionConfig::default(), &PickContext::default()).unwrap();
        assert_eq!(t.level, 0);
        assert_eq!(t.output_level, 6);
        assert_eq!(t.inputs.len(), 4);
        assert_eq!(t.output_inputs.len(), 1);
        assert!(!t.trivial_move);
    }

    #[test]
    fn single_non_overlapping_file_is_moved() {
        let cfg = CompactionConfig { l0_compaction_trigger: 1, ..Default::default() };
        let v = version(vec![(0, meta(1, "a", "b", 10)), (6, meta(2, "c", "d", 10))]);
        let t = pick(&v, &cfg, &PickContext::default()).unwrap();
        assert!(t.trivial_move);
        let v2 = v.apply(&t.trivial_move_edit());
        assert_eq!(v2.files(6).len(), 2);
        assert!(v2.check_invariants().is_ok());
    }

    #[test]
    fn oversized_level_picks_least_overlapping_file() {
        let cfg = CompactionConfig { max_bytes_for_level_base: 100, dynamic_level_bytes: false, ..Default::default() };
        let v = version(vec![
            (1, meta(1, "a", "c", 80)),
            (1, meta(2, "d", "f", 80)),
            (2, meta(3, "a", "c", 500)),
            (2, meta(4, "d", "f", 10)),
        ]);
        let t = pick(&v, &cfg, &PickContext::default()).unwrap();
        assert_eq!(t.level, 1);
        assert_eq!(t.inputs[0].number, 2);
        assert_eq!(t.output_inputs.len(), 1);
        assert_eq!(t.output_inputs[0].number, 4);
    }

    /// LevelDB's expansion: files of the input level inside the output range already being
    /// rewritten join the compaction, unless they would pull in another output file.
    #[test]
    fn inputs_expand_within_the_rewritten_output_range() {
        let cfg = CompactionConfig { max_bytes_for_level_base: 100, dynamic_level_bytes: false, ..Default::default() };
        let v = version(vec![
            (1, meta(1, "b", "c", 60)),
            (1, meta(2, "d", "e", 60)),
            (1, meta(3, "h", "i", 60)),
            (2, meta(4, "a", "f", 10)),
            (2, meta(5, "g", "z", 500)),
        ]);
        let t = pick(&v, &cfg, &PickContext::default()).unwrap();
        let numbers: Vec<u64> = t.inputs.iter().map(|f| f.number).collect();
        assert_eq!(numbers, vec![1, 2], "file 3 would add output file 5");
        assert_eq!(t.output_inputs.iter().map(|f| f.number).collect::<Vec<_>>(), vec![4]);

        // Nor beyond the byte limit, nor over a busy file.
        let small = CompactionConfig { target_file_size: 4, ..cfg.clone() };
        assert_eq!(pick(&v, &small, &PickContext::default()).unwrap().inputs.len(), 1);
        let busy: HashSet<u64> = [2].into_iter().collect();
        let t = pick(&v, &cfg, &PickContext { busy: Some(&busy), ..Default::default() }).unwrap();
        assert_eq!(t.inputs.iter().map(|f| f.number).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn busy_files_are_skipped() {
        let files = (1..=4).map(|i| (0, meta(i, "a", "m", 10))).collect();
        let v = version(files);
        let busy: HashSet<u64> = [2].into_iter().collect();
        let ctx = PickContext { busy: Some(&busy), ..Default::default() };
        assert!(pick(&v, &CompactionConfig::default(), &ctx).is_none());
    }

    #[test]
    fn expired_files_are_compacted_in_place_at_the_last_level() {
        let mut m = meta(1, "a", "b", 10);
        m.earliest_expiry = 500;
        let v = version(vec![(6, m)]);
        assert!(pick(&v, &CompactionConfig::default(), &PickContext { now_millis: 499, busy: None }).is_none());
        let t = pick(&v, &CompactionConfig::default(), &PickContext { now_millis: 500, busy: None }).unwrap();
        assert_eq!((t.level, t.output_level, t.reason), (6, 6, CompactionReason::Ttl));
    }
}
