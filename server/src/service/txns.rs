//! [`TxnRegistry`]: the open interactive transactions, by id.
//!
//! An interactive transaction outlives the request that began it, but the engine's
//! [`Transaction`] borrows the database. Each entry therefore owns an `Arc<Db>` together with
//! a transaction borrowing it ([`OwnedTxn`], a self-referential cell built with `self_cell`),
//! so the engine's own transaction logic (snapshot reads, read-your-own-writes, conflict
//! tracking, commit through `write_if`) serves the gRPC calls unchanged.
//!
//! Calls on one transaction are serialised by its mutex. A transaction lives at most its
//! timeout from Begin: the periodic [`TxnRegistry::sweep`] (and every Begin) drops expired
//! ones, which releases their snapshots, and remembers their ids for [`EXPIRED_MEMORY`] so
//! that a late call gets "expired" rather than "unknown".

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvd::{Db, Transaction, TxnOptions};
use parking_lot::Mutex;
use tonic::Status;

use crate::status::{exhausted, invalid, status, ErrorKind};

/// Timeout granted when Begin asks for none (the engine's default).
pub(crate) const DEFAULT_TIMEOUT_MS: u64 = 60_000;
/// How long the ids of expired transactions are remembered.
pub(crate) const EXPIRED_MEMORY: Duration = Duration::from_secs(600);
/// Most expired ids remembered.
const EXPIRED_MEMORY_MAX: usize = 100_000;

/// The transaction slot of an [`OwnedTxn`]: `None` once committed or rolled back.
pub(crate) type TxnSlot<'db> = Option<Transaction<'db>>;

self_cell::self_cell!(
    /// A database handle and a transaction borrowing it, stored together.
    pub(crate) struct OwnedTxn {
        owner: Arc<Db>,
        #[covariant]
        dependent: TxnSlot,
    }
);

/// One open transaction.
pub(crate) struct OpenTxn {
    /// When it expires (Begin plus its timeout), as the engine's transaction counts it.
    pub deadline: Instant,
    /// Buffered write calls and bytes so far, for the buffer limits.
    pub buffered: Mutex<(usize, usize)>,
    pub cell: Mutex<OwnedTxn>,
}

impl std::fmt::Debug for OpenTxn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenTxn").field("deadline", &self.deadline).field("buffered", &*self.buffered.lock()).finish()
    }
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    open: HashMap<u64, Arc<OpenTxn>>,
    expired: VecDeque<(u64, Instant)>,
    expired_ids: HashSet<u64>,
}

impl Inner {
    fn remember_expired(&mut self, id: u64, now: Instant) {
        self.expired.push_back((id, now));
        self.expired_ids.insert(id);
        while let Some(&(old, at)) = self.expired.front() {
            if now.duration_since(at) < EXPIRED_MEMORY && self.expired.len() <= EXPIRED_MEMORY_MAX {
                break;
            }
            self.expired.pop_front();
            self.expired_ids.remove(&old);
        }
    }

    /// Drops every expired transaction; returns how many.
    fn sweep(&mut self, now: Instant) -> usize {
        let gone: Vec<u64> = self.open.iter().filter(|(_, t)| t.deadline <= now).map(|(id, _)| *id).collect();
        for id in &gone {
            self.open.remove(id);
            self.remember_expired(*id, now);
        }
        gone.len()
    }
}

/// The open interactive transactions.
pub(crate) struct TxnRegistry {
    inner: Mutex<Inner>,
    max: usize,
    max_timeout_ms: u64,
}

impl TxnRegistry {
    pub(crate) fn new(max: usize, max_timeout_ms: u64) -> TxnRegistry {
        TxnRegistry { inner: Mutex::new(Inner { next_id: 1, ..Inner::default() }), max, max_timeout_ms }
    }

    /// The timeout to grant for a request of `timeout_ms` (0: the default).
    pub(crate) fn timeout_for(&self, timeout_ms: u64) -> Result<Duration, Status> {
        if timeout_ms > self.max_timeout_ms {
            return Err(invalid(format!(
                "timeout_ms: {timeout_ms} exceeds max_txn_timeout_ms {}",
                self.max_timeout_ms
            )));
        }
        let ms = if timeout_ms == 0 { DEFAULT_TIMEOUT_MS.min(self.max_timeout_ms) } else { timeout_ms };
        Ok(Duration::from_millis(ms))
    }

    /// Begins a transaction on `db` with `opts` and registers it; returns its id and the
    /// sequence number it reads at.
    pub(crate) fn begin(&self, db: Arc<Db>, opts: TxnOptions) -> Result<(u64, u64), Status> {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        inner.sweep(now);
        if inner.open.len() >= self.max {
            return Err(exhausted(format!(
                "{} transactions are open (max_transactions); commit or roll back some first",
                inner.open.len()
            )));
        }
        let cell = OwnedTxn::new(db, |db| Some(db.transaction_with(opts)));
        let read_seq = cell.borrow_dependent().as_ref().map_or(0, Transaction::read_seq);
        let id = inner.next_id;
        inner.next_id += 1;
        let txn = OpenTxn { deadline: now + opts.timeout, buffered: Mutex::new((0, 0)), cell: Mutex::new(cell) };
        inner.open.insert(id, Arc::new(txn));
        Ok((id, read_seq))
    }

    /// The open transaction `id`: `NOT_FOUND` if unknown or finished, `ABORTED`
    /// (transaction expired) if it outlived its timeout (it is dropped then).
    pub(crate) fn get(&self, id: u64) -> Result<Arc<OpenTxn>, Status> {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        match inner.open.get(&id) {
            Some(t) if t.deadline > now => Ok(t.clone()),
            Some(_) => {
                inner.open.remove(&id);
                inner.remember_expired(id, now);
                Err(expired(id))
            }
            None if inner.expired_ids.contains(&id) => Err(expired(id)),
            None => Err(not_found(id)),
        }
    }

    /// Removes `id` for Commit or Rollback; errors as [`TxnRegistry::get`].
    pub(crate) fn take(&self, id: u64) -> Result<Arc<OpenTxn>, Status> {
        let t = self.get(id)?;
        self.inner.lock().open.remove(&id);
        Ok(t)
    }

    /// Drops every expired transaction; returns how many.
    pub(crate) fn sweep(&self) -> usize {
        self.inner.lock().sweep(Instant::now())
    }

    /// Drops every transaction (at shutdown); none is applied.
    pub(crate) fn clear(&self) {
        self.inner.lock().open.clear();
    }

    /// Transactions open.
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().open.len()
    }
}

/// The status for a call on an expired transaction.
pub(crate) fn expired(id: u64) -> Status {
    status(
        ErrorKind::TransactionExpired,
        format!("transaction {id} outlived its timeout and was discarded; nothing was applied: begin again"),
    )
}

fn not_found(id: u64) -> Status {
    status(
        ErrorKind::NotFound,
        format!("transaction {id} not found (never begun, already committed or rolled back, or expired long ago)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn lifecycle_limits_and_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(kvd::Db::open(dir.path(), kvd::Options::default()).unwrap());
        let reg = TxnRegistry::new(2, 1000);
        assert_eq!(reg.timeout_for(0).unwrap(), Duration::from_millis(1000));
        assert_eq!(reg.timeout_for(1001).unwrap_err().code(), Code::InvalidArgument);
        let long = TxnOptions { timeout: Duration::from_secs(60), ..Default::default() };
        let short = TxnOptions { timeout: Duration::from_millis(1), ..Default::default() };
        let (a, _) = reg.begin(db.clone(), long).unwrap();
        let (b, _) = reg.begin(db.clone(), short).unwrap();
        assert_ne!(a, b);
        assert_eq!(reg.begin(db.clone(), long).unwrap_err().code(), Code::ResourceExhausted);
        std::thread::sleep(Duration::from_millis(5));
        let e = reg.get(b).unwrap_err();
        assert_eq!((e.code(), crate::status::kind_of(&e)), (Code::Aborted, Some(ErrorKind::TransactionExpired)));
        assert_eq!(reg.get(b).unwrap_err().code(), Code::Aborted, "expired ids are remembered");
        assert_eq!(reg.get(999).unwrap_err().code(), Code::NotFound);
        reg.take(a).unwrap();
        assert_eq!(reg.get(a).unwrap_err().code(), Code::NotFound);
        assert_eq!(reg.len(), 0);
        let (_, seq) = reg.begin(db.clone(), short).unwrap();
        assert_eq!(seq, db.latest_seqno());
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(reg.sweep(), 1);
        assert_eq!(db.stats().live_snapshots, 0, "a swept transaction releases its snapshot");
    }
}
