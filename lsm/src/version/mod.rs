//! Versions: immutable snapshots of which table files are live at which level.
//!
//! A [`Version`] never changes; applying a [`VersionEdit`] produces a new one. Readers hold an
//! `Arc<Version>` for as long as they read, which is what keeps its files from being deleted.
//!
//! Invariants: level 0 files may overlap and are ordered newest first (by largest sequence
//! number, then file number); every other level is ordered by smallest key and its files'
//! user-key ranges do not overlap.

mod edit;
mod file_meta;

use std::cmp::Ordering;
use std::sync::Arc;

pub use edit::VersionEdit;
pub use file_meta::FileMeta;

use kvd_base::key::compare_internal_keys;

/// Number of levels, L0 through L6.
pub const NUM_LEVELS: usize = 7;

/// An immutable set of live files per level.
#[derive(Debug, Clone, Default)]
pub struct Version {
    levels: Vec<Vec<Arc<FileMeta>>>,
}

impl Version {
    /// A version with no files.
    pub fn empty() -> Self {
        Version { levels: vec![Vec::new(); NUM_LEVELS] }
    }

    /// The files of `level`, in the level's order (see the module invariants).
    pub fn files(&self, level: usize) -> &[Arc<FileMeta>] {
        self.levels.get(level).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every live file with its level.
    pub fn all_files(&self) -> impl Iterator<Item = (usize, &Arc<FileMeta>)> {
        self.levels.iter().enumerate().flat_map(|(l, fs)| fs.iter().map(move |f| (l, f)))
    }

    /// Total bytes of the files in `level`.
    pub fn level_bytes(&self, level: usize) -> u64 {
        self.files(level).iter().map(|f| f.file_size).sum()
    }

    /// Total number of live files.
    pub fn num_files(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }

    /// Files that may hold `user_key`, in the order a point read must consult them (newest
    /// data first): overlapping L0 files newest first, then at most one file per deeper level.
    pub fn files_for_key(&self, user_key: &[u8]) -> Vec<Arc<FileMeta>> {
        let mut out: Vec<Arc<FileMeta>> =
            self.files(0).iter().filter(|f| f.contains_user_key(user_key)).cloned().collect();
        for level in 1..NUM_LEVELS {
            let files = self.files(level);
            let i = files.partition_point(|f| f.largest_user_key() < user_key);
            if let Some(f) = files.get(i) {
                if f.smallest_user_key() <= user_key {
                    out.push(f.clone());
                }
            }
        }
        out
    }

    /// Files of `level` whose user-key ranges intersect `[lo, hi]` (open where `None`).
    pub fn overlapping(&self, level: usize, lo: Option<&[u8]>, hi: Option<&[u8]>) -> Vec<Arc<FileMeta>> {
        self.files(level).iter().filter(|f| f.overlaps(lo, hi)).cloned().collect()
    }

    /// A new version with `edit`'s deletions and additions applied.
    pub fn apply(&self, edit: &VersionEdit) -> Version {
        let mut levels = if self.levels.is_empty() { Version::empty().levels } else { self.levels.clone() };
        for (level, number) in &edit.deleted_files {
            if let Some(files) = levels.get_mut(*level) {
                files.retain(|f| f.number != *number);
            }
        }
        for (level, f) in &edit.new_files {
            if let Some(files) = levels.get_mut(*level) {
                files.push(Arc::new(f.clone()));
            }
        }
        for (level, files) in levels.iter_mut().enumerate() {
            if level == 0 {
                files.sort_by(|a, b| b.largest_seqno.cmp(&a.largest_seqno).then(b.number.cmp(&a.number)));
            } else {
                files.sort_by(|a, b| match compare_internal_keys(&a.smallest, &b.smallest) {
                    Ordering::Equal => a.number.cmp(&b.number),
                    o => o,
                });
            }
        }
        Version { levels }
    }

    /// An edit that recreates this version from nothing (written at the start of a manifest).
    pub fn snapshot_edit(&self) -> VersionEdit {
        VersionEdit { new_files: self.all_files().map(|(l, f)| (l, (**f).clone())).collect(), ..Default::default() }
    }

    /// Checks the level invariants; returns a description of the first violation.
    pub fn check_invariants(&self) -> Result<(), String> {
        for level in 1..NUM_LEVELS {
            for w in self.files(level).windows(2) {
                if w[0].largest_user_key() >= w[1].smallest_user_key() {
                    return Err(format!("level {level}: files {} and {} overlap", w[0].number, w[1].number));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use kvd_base::key::{InternalKey, ValueKind};

    use super::*;

    fn meta(number: u64, lo: &str, hi: &str, seq: u64) -> FileMeta {
        FileMeta {
            number,
            file_size: 100,
            smallest: InternalKey::new(lo.as_bytes(), seq, ValueKind::Put).into_encoded(),
            largest: InternalKey::new(hi.as_bytes(), seq, ValueKind::Put).into_encoded(),
            smallest_seqno: seq,
            largest_seqno: seq,
            num_entries: 1,
            num_deletions: 0,
            earliest_expiry: 0,
        }
    }

    #[test]
    fn apply_orders_levels_and_finds_files() {
        let v = Version::empty().apply(&VersionEdit {
            new_files: vec![
                (0, meta(1, "a", "m", 10)),
                (0, meta(2, "c", "z", 20)),
                (1, meta(4, "n", "z", 5)),
                (1, meta(3, "a", "f", 5)),
            ],
            ..Default::default()
        });
        assert_eq!(v.files(0)[0].number, 2);
        assert_eq!(v.files(1)[0].number, 3);
        let nums: Vec<u64> = v.files_for_key(b"d").iter().map(|f| f.number).collect();
        assert_eq!(nums, vec![2, 1, 3]);
        assert!(v.check_invariants().is_ok());
        let v2 = v.apply(&VersionEdit { deleted_files: vec![(0, 2)], ..Default::default() });
        assert_eq!(v2.files(0).len(), 1);
        assert_eq!(v2.level_bytes(1), 200);
    }
}
