//! [`CompactionTask`]: the plain description a pick returns; it becomes work only when run.

use std::sync::Arc;

use kvd_lsm::version::{FileMeta, VersionEdit};

/// Why a task was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactionReason {
    /// L0 reached its file-count trigger.
    L0FileCount,
    /// A level exceeded its target size.
    LevelSize,
    /// A file holds entries whose TTL has passed.
    Ttl,
    /// A user asked (`compact_range`).
    Manual,
}

/// What to compact: inputs from `level` and the overlapping files of `output_level`.
#[derive(Debug, Clone)]
pub struct CompactionTask {
    /// The level the compaction starts from.
    pub level: usize,
    /// Files of `level` to compact.
    pub inputs: Vec<Arc<FileMeta>>,
    /// The level outputs go to (`level + 1`, or `level` itself for a bottommost rewrite).
    pub output_level: usize,
    /// Files of `output_level` overlapping the inputs (empty when it equals `level`).
    pub output_inputs: Vec<Arc<FileMeta>>,
    /// Files of the level below the output overlapping the key range; outputs are cut so
    /// none of them overlaps too much of it (bounding the next compaction's size).
    pub grandparents: Vec<Arc<FileMeta>>,
    /// A single input with nothing to merge, moved to `output_level` by a manifest edit alone.
    pub trivial_move: bool,
    /// Why.
    pub reason: CompactionReason,
}

impl CompactionTask {
    /// Every input file with its level.
    pub fn all_inputs(&self) -> impl Iterator<Item = (usize, &Arc<FileMeta>)> {
        self.inputs
            .iter()
            .map(move |f| (self.level, f))
            .chain(self.output_inputs.iter().map(move |f| (self.output_level, f)))
    }

    /// Total bytes of the inputs.
    pub fn input_bytes(&self) -> u64 {
        self.all_inputs().map(|(_, f)| f.file_size).sum()
    }

    /// The edit for a trivial move (meaningful only when `trivial_move`).
    pub fn trivial_move_edit(&self) -> VersionEdit {
        VersionEdit {
            deleted_files: self.inputs.iter().map(|f| (self.level, f.number)).collect(),
            new_files: self.inputs.iter().map(|f| (self.output_level, (**f).clone())).collect(),
            ..Default::default()
        }
    }

    /// The edit that replaces the inputs with `outputs` at `output_level`.
    pub fn result_edit(&self, outputs: &[FileMeta]) -> VersionEdit {
        VersionEdit {
            deleted_files: self.all_inputs().map(|(l, f)| (l, f.number)).collect(),
            new_files: outputs.iter().map(|f| (self.output_level, f.clone())).collect(),
            ..Default::default()
        }
    }
}
