//! [`SnapshotRegistry`]: server-side snapshots that reads name by id.
//!
//! Reading "at sequence number N" is only sound while something pins N: without a pin,
//! compaction may drop the versions N sees. So the server hands out ids for snapshots it
//! holds, each with a lease that every read through it renews. Expired snapshots are
//! released by a periodic sweep (see `server.rs`) and at every create, so an abandoned one
//! stops pinning old versions after at most its lease plus one sweep period.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvd::Snapshot;
use parking_lot::Mutex;
use tonic::Status;

use crate::status::{exhausted, invalid, status, ErrorKind};

/// Lease granted when the client asks for none.
pub(crate) const DEFAULT_LEASE_MS: u64 = 60_000;

#[derive(Debug)]
struct Entry {
    snapshot: Arc<Snapshot>,
    lease: Duration,
    expires: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    live: HashMap<u64, Entry>,
}

/// The live server-side snapshots.
#[derive(Debug)]
pub(crate) struct SnapshotRegistry {
    inner: Mutex<Inner>,
    max: usize,
    max_lease_ms: u64,
}

impl SnapshotRegistry {
    pub(crate) fn new(max: usize, max_lease_ms: u64) -> SnapshotRegistry {
        SnapshotRegistry { inner: Mutex::new(Inner { next_id: 1, live: HashMap::new() }), max, max_lease_ms }
    }

    /// The lease to grant for a request of `lease_ms` (0: the default).
    pub(crate) fn lease_for(&self, lease_ms: u64) -> Result<Duration, Status> {
        if lease_ms > self.max_lease_ms {
            return Err(invalid(format!("lease_ms: {lease_ms} exceeds max_snapshot_lease_ms {}", self.max_lease_ms)));
        }
        let ms = if lease_ms == 0 { DEFAULT_LEASE_MS.min(self.max_lease_ms) } else { lease_ms };
        Ok(Duration::from_millis(ms))
    }

    /// Registers `snapshot` under a new id.
    pub(crate) fn insert(&self, snapshot: Snapshot, lease: Duration) -> Result<u64, Status> {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        inner.live.retain(|_, e| e.expires > now);
        if inner.live.len() >= self.max {
            return Err(exhausted(format!(
                "{} server-side snapshots are live (max_snapshots); release some first",
                inner.live.len()
            )));
        }
        let id = inner.next_id;
        inner.next_id += 1;
        inner.live.insert(id, Entry { snapshot: Arc::new(snapshot), lease, expires: now + lease });
        Ok(id)
    }

    /// The snapshot `id`, renewing its lease; `NOT_FOUND` if unknown, released or expired.
    pub(crate) fn get(&self, id: u64) -> Result<Arc<Snapshot>, Status> {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        match inner.live.get_mut(&id) {
            Some(e) if e.expires > now => {
                e.expires = now + e.lease;
                Ok(e.snapshot.clone())
            }
            Some(_) => {
                inner.live.remove(&id);
                Err(not_found(id))
            }
            None => Err(not_found(id)),
        }
    }

    /// Releases `id`; `NOT_FOUND` if it is not live.
    pub(crate) fn release(&self, id: u64) -> Result<(), Status> {
        let now = Instant::now();
        match self.inner.lock().live.remove(&id) {
            Some(e) if e.expires > now => Ok(()),
            _ => Err(not_found(id)),
        }
    }

    /// True when a live snapshot reads at exactly `seq`.
    pub(crate) fn holds_seq(&self, seq: u64) -> bool {
        let now = Instant::now();
        self.inner.lock().live.values().any(|e| e.expires > now && e.snapshot.seq() == seq)
    }

    /// Releases every expired snapshot; returns how many.
    pub(crate) fn sweep(&self) -> usize {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        let before = inner.live.len();
        inner.live.retain(|_, e| e.expires > now);
        before - inner.live.len()
    }

    /// Releases every snapshot (at shutdown).
    pub(crate) fn clear(&self) {
        self.inner.lock().live.clear();
    }

    /// Snapshots held.
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().live.len()
    }
}

fn not_found(id: u64) -> Status {
    status(ErrorKind::NotFound, format!("snapshot {id} not found (never created, released, or its lease expired)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn lifecycle_limits_and_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let db = kvd::Db::open(dir.path(), kvd::Options::default()).unwrap();
        let reg = SnapshotRegistry::new(2, 1000);
        assert_eq!(reg.lease_for(0).unwrap(), Duration::from_millis(1000));
        assert!(reg.lease_for(1001).is_err());
        let a = reg.insert(db.snapshot(), Duration::from_secs(60)).unwrap();
        let b = reg.insert(db.snapshot(), Duration::from_millis(1)).unwrap();
        assert_ne!(a, b);
        assert_eq!(reg.insert(db.snapshot(), Duration::from_secs(1)).unwrap_err().code(), Code::ResourceExhausted);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(reg.get(b).unwrap_err().code(), Code::NotFound);
        reg.get(a).unwrap();
        reg.release(a).unwrap();
        assert_eq!(reg.release(a).unwrap_err().code(), Code::NotFound);
        assert_eq!(reg.len(), 0);
        assert_eq!(reg.sweep(), 0);
    }
}
