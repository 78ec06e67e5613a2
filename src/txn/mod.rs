//! Optimistic transactions over the engine: snapshot reads, buffered writes with
//! read-your-own-writes (point reads and range scans), and validation at commit.
//!
//! A transaction takes a [`Snapshot`](crate::Snapshot) at begin (so compaction keeps what it
//! reads), buffers its writes in an ordered map, and commits them with
//! [`Db::write_if`](crate::Db::write_if): one write-ahead-log batch, applied only if no key in
//! its conflict set (and, for [`Isolation::Serializable`], no key in the ranges it scanned) was
//! written after its snapshot. The commit leader checks that per writer, against the store and
//! against earlier writers of its own commit group (an oracle of recent commits, as in Badger
//! or TiKV's percolator-free mode), so there is no lock over the store and readers outside
//! transactions never wait. A batch is one log record: after a crash the transaction is there
//! whole or not at all.
//!
//! Conflicts are reported as [`Error::Conflict`](crate::Error::Conflict) with nothing
//! applied; [`retry`] and [`Db::run_transaction`](crate::Db::run_transaction) re-run a closure
//! until it commits.

mod options;
mod retry;
mod scan_merge;
mod transaction;
mod write_buffer;

pub use options::{Isolation, RetryOptions, TxnOptions};
pub use retry::retry;
pub(crate) use retry::Backoff;
pub use scan_merge::TxnScan;
pub use transaction::Transaction;

use crate::{Db, Result};

impl Db {
    /// Begins an optimistic transaction with snapshot isolation and the default timeout
    /// (60 s); see [`Db::transaction_with`].
    ///
    /// ```
    /// use kvd::{Db, Error, Options};
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path(), Options::default()).unwrap();
    /// db.put(b"alice", b"10").unwrap();
    ///
    /// let mut txn = db.transaction();
    /// txn.put(b"alice", b"7").unwrap();
    /// txn.put(b"bob", b"3").unwrap();
    /// assert_eq!(txn.get(b"bob").unwrap().as_deref(), Some(&b"3"[..])); // its own write
    /// assert_eq!(db.get(b"bob").unwrap(), None); // not visible outside before commit
    ///
    /// // A conflicting commit in between makes this one fail, with nothing applied.
    /// db.put(b"alice", b"11").unwrap();
    /// assert!(matches!(txn.commit(), Err(Error::Conflict(_))));
    /// assert_eq!(db.get(b"bob").unwrap(), None);
    /// ```
    pub fn transaction(&self) -> Transaction<'_> {
        self.transaction_with(TxnOptions::default())
    }

    /// Begins an optimistic transaction: it reads at a snapshot taken now, buffers its writes,
    /// and [`Transaction::commit`] applies them atomically unless a conflicting write
    /// committed since (per `opts.isolation`). Cheap: it takes a snapshot and nothing else.
    pub fn transaction_with(&self, opts: TxnOptions) -> Transaction<'_> {
        Transaction::begin(self, opts)
    }

    /// Runs `f` in a snapshot-isolation transaction and commits it, re-running on conflict
    /// with backoff ([`retry`] with default [`RetryOptions`]).
    pub fn run_transaction<T>(&self, f: impl FnMut(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
        retry(self, RetryOptions::default(), f)
    }
}
