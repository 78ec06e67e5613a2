//! Snapshots: a pinned sequence number, registered so compaction keeps what it can see.

use std::collections::BTreeMap;
use std::sync::Arc;

use kvd_base::SeqNo;
use parking_lot::Mutex;

/// The set of live snapshots, as a multiset of sequence numbers.
#[derive(Debug, Default)]
pub(crate) struct SnapshotList {
    live: Mutex<BTreeMap<SeqNo, usize>>,
}

impl SnapshotList {
    pub(crate) fn register(self: &Arc<Self>, seq: SeqNo) -> Snapshot {
        *self.live.lock().entry(seq).or_insert(0) += 1;
        Snapshot { seq, list: self.clone() }
    }

    /// Every live snapshot's sequence number, ascending, without duplicates.
    pub(crate) fn sequences(&self) -> Vec<SeqNo> {
        self.live.lock().keys().copied().collect()
    }

    /// True if a snapshot at exactly `seq` is live.
    pub(crate) fn contains(&self, seq: SeqNo) -> bool {
        self.live.lock().contains_key(&seq)
    }

    pub(crate) fn count(&self) -> usize {
        self.live.lock().values().sum()
    }
}

/// A consistent, read-only view of the database as of one sequence number. Reads through it
/// see exactly the writes committed before it was taken, even across flushes and compactions.
/// Dropping it releases what it pins.
#[derive(Debug)]
pub struct Snapshot {
    seq: SeqNo,
    list: Arc<SnapshotList>,
}

impl Snapshot {
    /// The sequence number this snapshot reads at.
    pub fn seq(&self) -> SeqNo {
        self.seq
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let mut live = self.list.live.lock();
        if let Some(n) = live.get_mut(&self.seq) {
            *n -= 1;
            if *n == 0 {
                live.remove(&self.seq);
            }
        }
    }
}
