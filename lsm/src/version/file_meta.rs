//! Metadata the manifest keeps about each live SSTable.

use std::cmp::Ordering;

use kvd_base::compare::compare_bytes;
use kvd_base::key::user_key;

/// What a version knows about one table file, without opening it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// File number (`NNNNNN.sst`).
    pub number: u64,
    /// Size in bytes.
    pub file_size: u64,
    /// Smallest internal key in the file.
    pub smallest: Vec<u8>,
    /// Largest internal key in the file.
    pub largest: Vec<u8>,
    /// Smallest sequence number in the file.
    pub smallest_seqno: u64,
    /// Largest sequence number in the file.
    pub largest_seqno: u64,
    /// Number of entries.
    pub num_entries: u64,
    /// Number of tombstones.
    pub num_deletions: u64,
    /// Earliest expiry (ms since the epoch) of any entry, 0 if none expires.
    pub earliest_expiry: u64,
}

impl FileMeta {
    /// The metadata of table `number`, from the properties its builder returned.
    pub fn from_properties(number: u64, p: &crate::sstable::TableProperties) -> FileMeta {
        FileMeta {
            number,
            file_size: p.file_size,
            smallest: p.smallest_key.clone(),
            largest: p.largest_key.clone(),
            smallest_seqno: p.smallest_seqno,
            largest_seqno: p.largest_seqno,
            num_entries: p.num_entries,
            num_deletions: p.num_deletions,
            earliest_expiry: p.earliest_expiry.unwrap_or(0),
        }
    }

    /// The smallest user key.
    pub fn smallest_user_key(&self) -> &[u8] {
        user_key(&self.smallest)
    }

    /// The largest user key.
    pub fn largest_user_key(&self) -> &[u8] {
        user_key(&self.largest)
    }

    /// True if `key` lies within the file's user-key range.
    pub fn contains_user_key(&self, key: &[u8]) -> bool {
        compare_bytes(self.smallest_user_key(), key) != Ordering::Greater
            && compare_bytes(key, self.largest_user_key()) != Ordering::Greater
    }

    /// True if the file's user-key range intersects `[lo, hi]` (either bound may be open).
    pub fn overlaps(&self, lo: Option<&[u8]>, hi: Option<&[u8]>) -> bool {
        let below = hi.is_some_and(|hi| self.smallest_user_key() > hi);
        let above = lo.is_some_and(|lo| self.largest_user_key() < lo);
        !(below || above)
    }
}
