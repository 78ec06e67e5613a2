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

use kvd_base::compare::compare_bytes;
use kvd_base::key::compare_internal_keys;
use kvd_base::key_head::KeyHead;

/// Number of levels, L0 through L6.
pub const NUM_LEVELS: usize = 7;

/// An immutable set of live files per level.
#[derive(Debug, Clone)]
pub struct Version {
    levels: Vec<Vec<Arc<FileMeta>>>,
    /// Per level, the heads of the files' largest user keys, so a point read's search of a
    /// level reads one dense array instead of two pointers per step. Same lengths as
    /// `levels`.
    largest_heads: Vec<Vec<KeyHead>>,
}

impl Default for Version {
    fn default() -> Self {
        Version::empty()
    }
}

impl Version {
    /// A version with no files.
    pub fn empty() -> Self {
        Version::with_levels(vec![Vec::new(); NUM_LEVELS])
    }

    fn with_levels(levels: Vec<Vec<Arc<FileMeta>>>) -> Self {
        let largest_heads =
            levels.iter().map(|files| files.iter().map(|f| KeyHead::of(f.largest_user_key())).collect()).collect();
        Version { levels, largest_heads }
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
    /// Lazy and allocation-free: a read that stops at the first file holding the key looks no
    /// further, and one that finds nothing (every `readmissing` lookup) pays no `Vec` and no
    /// reference counting.
    pub fn files_for_key<'a>(&'a self, user_key: &'a [u8]) -> FilesForKey<'a> {
        FilesForKey { version: self, user_key, head: KeyHead::of(user_key), level: 0, l0_index: 0 }
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
        Version::with_levels(levels)
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

/// The files a point read of one key consults, in order: see [`Version::files_for_key`].
pub struct FilesForKey<'a> {
    version: &'a Version,
    user_key: &'a [u8],
    head: KeyHead,
    /// The level searched next.
    level: usize,
    /// The next L0 file to check, while `level` is 0.
    l0_index: usize,
}

impl<'a> Iterator for FilesForKey<'a> {
    type Item = &'a Arc<FileMeta>;

    fn next(&mut self) -> Option<&'a Arc<FileMeta>> {
        let key = self.user_key;
        if self.level == 0 {
            let l0 = self.version.files(0);
            while let Some(f) = l0.get(self.l0_index) {
                self.l0_index += 1;
                if f.contains_user_key(key) {
                    return Some(f);
                }
            }
            self.level = 1;
        }
        while self.level < NUM_LEVELS {
            let files = self.version.files(self.level);
            self.level += 1;
            // Files of a level are sorted and disjoint: the first whose largest key is not
            // below `key` is the only candidate.
            let heads = &self.version.largest_heads[self.level - 1];
            let (mut lo, mut hi) = (0, files.len());
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                let below = match heads[mid].cmp(&self.head) {
                    Ordering::Equal => compare_bytes(files[mid].largest_user_key(), key) == Ordering::Less,
                    o => o == Ordering::Less,
                };
                if below {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            let i = lo;
            if let Some(f) = files.get(i) {
                if compare_bytes(f.smallest_user_key(), key) != Ordering::Greater {
                    return Some(f);
                }
            }
        }
        None
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
        let nums: Vec<u64> = v.files_for_key(b"d").map(|f| f.number).collect();
        assert_eq!(nums, vec![2, 1, 3]);
        assert!(v.check_invariants().is_ok());
        let v2 = v.apply(&VersionEdit { deleted_files: vec![(0, 2)], ..Default::default() });
        assert_eq!(v2.files(0).len(), 1);
        assert_eq!(v2.level_bytes(1), 200);
    }

    /// The level search compares 16-byte heads first: keys sharing longer prefixes, keys
    /// ending inside the head and keys in the gaps between files all find the file (or
    /// none) a plain scan of the level finds.
    #[test]
    fn files_for_key_agrees_with_a_scan_when_heads_tie() {
        let p = "tenant/0001/collection/";
        let bounds = [("a", "b"), ("c", "c"), (&*format!("{p}100"), &*format!("{p}199")), (&*format!("{p}3"), "zz")];
        let files: Vec<(usize, FileMeta)> =
            bounds.iter().enumerate().map(|(i, (lo, hi))| (6, meta(i as u64 + 1, lo, hi, 1))).collect();
        let v = Version::empty().apply(&VersionEdit { new_files: files, ..Default::default() });
        assert!(v.check_invariants().is_ok());
        let probes = [
            "",
            "a",
            "aa",
            "b",
            "bb",
            "c",
            "tenant",
            p,
            &format!("{p}0"),
            &format!("{p}100"),
            &format!("{p}150"),
            &format!("{p}199"),
            &format!("{p}1990"),
            &format!("{p}2"),
            &format!("{p}3"),
            &format!("{p}35"),
            "zz",
            "zzz",
        ];
        for key in probes {
            let want: Vec<u64> =
                v.files(6).iter().filter(|f| f.contains_user_key(key.as_bytes())).map(|f| f.number).collect();
            let got: Vec<u64> = v.files_for_key(key.as_bytes()).map(|f| f.number).collect();
            assert_eq!(got, want, "{key:?}");
        }
    }
}
