//! [`SuperVersion`]: everything a reader needs, swapped atomically as one unit.

use std::sync::Arc;

use kvd_compaction::CompactionConfig;
use kvd_lsm::memtable::MemTable;
use kvd_lsm::version::Version;

/// The active memtable, the immutable memtables awaiting flush (newest first) and the
/// current table version. Readers load one through `arc-swap` without locking and hold it for
/// the length of their read: that pins every memtable and table file they can reach.
#[derive(Clone)]
pub(crate) struct SuperVersion {
    pub mem: Arc<MemTable>,
    pub imms: Vec<Arc<MemTable>>,
    pub version: Arc<Version>,
    /// Estimated compaction debt of `version`, computed once here rather than per write.
    pub pending_compaction_bytes: u64,
}

impl SuperVersion {
    pub(crate) fn new(
        mem: Arc<MemTable>,
        imms: Vec<Arc<MemTable>>,
        version: Arc<Version>,
        cfg: &CompactionConfig,
    ) -> Self {
        let pending_compaction_bytes = kvd_compaction::pending_compaction_bytes(&version, cfg);
        SuperVersion { mem, imms, version, pending_compaction_bytes }
    }
}
