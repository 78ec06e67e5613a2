//! TTL inspection and changes, reads with their version, and the history floor.

use std::sync::atomic::Ordering;
use std::time::Duration;

use kvd_base::key::{decode_expiring_value, ValueKind, MAX_SEQNO};
use kvd_base::SeqNo;
use kvd_lsm::version::VersionEdit;

use super::read::{lookup, lookup_in_memory, visible_value, Entry};
use super::{Db, Precondition};
use crate::batch::{BatchOp, WriteBatch};
use crate::options::WriteOptions;
use crate::{Error, Result};

/// How many times a read-modify-write retries after losing a race before giving up.
const MAX_RETRIES: usize = 1000;

/// The live value of a key with its metadata, as of one sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedValue {
    /// The user's value.
    pub value: Vec<u8>,
    /// Sequence number of the write that set it (its "version").
    pub seqno: SeqNo,
    /// Absolute expiry in ms since the epoch, if it has one.
    pub expires_at_millis: Option<u64>,
}

impl Db {
    /// The live value of `key` with the sequence number that wrote it and its expiry, read at
    /// `seq` (`None` for the latest state).
    pub fn get_versioned(&self, key: &[u8], seq: Option<SeqNo>) -> Result<Option<VersionedValue>> {
        let read_seq = seq.unwrap_or_else(|| self.latest_seqno());
        let Some(entry) = lookup(&self.inner, key, read_seq)? else { return Ok(None) };
        self.versioned(entry)
    }

    /// As [`Db::get_versioned`], but only if memtables and the block cache can answer it:
    /// `None` when answering would read a file (RocksDB's `kBlockCacheTier`). Never blocks on
    /// I/O, so a caller on an async executor can try it there first and move the read to a
    /// thread that may block only when it returns `None`.
    pub fn get_versioned_if_cached(&self, key: &[u8], seq: Option<SeqNo>) -> Result<Option<Option<VersionedValue>>> {
        let read_seq = seq.unwrap_or_else(|| self.latest_seqno());
        match lookup_in_memory(&self.inner, key, read_seq)? {
            None => Ok(None),
            Some(None) => Ok(Some(None)),
            Some(Some(entry)) => self.versioned(entry).map(Some),
        }
    }

    fn versioned(&self, entry: Entry) -> Result<Option<VersionedValue>> {
        let inner = &self.inner;
        let (seqno, kind) = (entry.seq, entry.kind);
        let expires_at_millis = match kind {
            ValueKind::PutWithExpiry => {
                Some(decode_expiring_value(&entry.value).map_err(|e| Error::from(e.in_file("value", 0)))?.0)
            }
            _ => None,
        };
        Ok(visible_value(entry, inner.now_millis())?.map(|value| VersionedValue { value, seqno, expires_at_millis }))
    }

    /// Remaining time to live of `key`: `Ok(None)` for a key without expiry,
    /// [`Error::NotFound`] for a missing or expired key.
    pub fn ttl(&self, key: &[u8]) -> Result<Option<Duration>> {
        let v = self.get_versioned(key, None)?.ok_or_else(|| Error::NotFound(format!("key {:?}", show(key))))?;
        let now = self.inner.now_millis();
        Ok(v.expires_at_millis.map(|at| Duration::from_millis(at.saturating_sub(now))))
    }

    /// Sets `key` to expire `ttl` from now, keeping its value. Returns false if the key is
    /// missing or expired. Atomic with respect to concurrent writes of the key.
    pub fn expire(&self, key: &[u8], ttl: Duration) -> Result<bool> {
        self.rewrite_value(key, |value| BatchOp::PutWithTtl { key: key.to_vec(), value, ttl })
    }

    /// Removes `key`'s expiry, keeping its value. Returns false if the key is missing or
    /// expired. Atomic with respect to concurrent writes of the key.
    pub fn persist(&self, key: &[u8]) -> Result<bool> {
        self.rewrite_value(key, |value| BatchOp::Put { key: key.to_vec(), value })
    }

    fn rewrite_value(&self, key: &[u8], op: impl Fn(Vec<u8>) -> BatchOp) -> Result<bool> {
        for _ in 0..MAX_RETRIES {
            let read_seq = self.latest_seqno();
            let Some(v) = self.get_versioned(key, Some(read_seq))? else { return Ok(false) };
            let mut batch = WriteBatch::new();
            batch.push(op(v.value));
            let pre = Precondition { read_seq, keys: vec![key.to_vec()], ranges: Vec::new() };
            match self.write_if(batch, pre, WriteOptions::default()) {
                Ok(_) => return Ok(true),
                Err(Error::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(format!("key {} kept changing; gave up after {MAX_RETRIES} tries", show(key))))
    }

    /// Keeps every version newer than `seqno` from compaction (like etcd's compact revision),
    /// so reads at any sequence number from `seqno` up keep working until the floor moves.
    /// The floor only advances; it may be set no lower than the current floor (or, when no
    /// history was kept, the current sequence number) and no higher than the latest.
    pub fn set_history_floor(&self, seqno: SeqNo) -> Result<()> {
        let inner = &self.inner;
        let mut vs = inner.vs.lock();
        let latest = inner.visible_seq.load(Ordering::Acquire);
        let lowest = if vs.state.history_floor == MAX_SEQNO { latest } else { vs.state.history_floor };
        if seqno < lowest || seqno > latest {
            return Err(Error::InvalidArgument(format!(
                "history floor {seqno} must be between {lowest} and the latest seqno {latest}"
            )));
        }
        let edit = VersionEdit { history_floor: Some(seqno), ..Default::default() };
        vs.manifest.append(&edit)?;
        vs.state.apply(&edit);
        Ok(())
    }

    /// Stops keeping history: compaction again keeps only what live snapshots need.
    pub fn clear_history_floor(&self) -> Result<()> {
        let mut vs = self.inner.vs.lock();
        let edit = VersionEdit { history_floor: Some(MAX_SEQNO), ..Default::default() };
        vs.manifest.append(&edit)?;
        vs.state.apply(&edit);
        Ok(())
    }

    /// The history floor, if history is kept.
    pub fn history_floor(&self) -> Option<SeqNo> {
        let f = self.inner.vs.lock().state.history_floor;
        (f != MAX_SEQNO).then_some(f)
    }

    /// Checks that a read at `seq` can be served exactly: at or above the history floor (or
    /// at a live snapshot) and not above the latest sequence number.
    pub(crate) fn check_read_seq(&self, seq: SeqNo) -> Result<()> {
        let latest = self.latest_seqno();
        if seq > latest {
            return Err(Error::InvalidArgument(format!("seqno {seq} is newer than the latest seqno {latest}")));
        }
        if seq == latest || self.history_floor().is_some_and(|f| seq >= f) || self.inner.snapshots.contains(seq) {
            return Ok(());
        }
        Err(Error::InvalidArgument(format!(
            "seqno {seq} may have been compacted: it is below the history floor ({:?}) and held by no snapshot",
            self.history_floor()
        )))
    }
}

fn show(key: &[u8]) -> String {
    String::from_utf8_lossy(key).chars().take(64).collect()
}
