//! [`Transaction`]: snapshot reads, buffered writes, validation at commit.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kvd_base::SeqNo;

use super::options::{Isolation, TxnOptions};
use super::scan_merge::TxnScan;
use super::write_buffer::{Buffered, WriteBuffer};
use crate::{prefix_successor, Db, Error, Precondition, ReadOptions, Result, Snapshot, WriteOptions};

/// What commit validates besides the write set: keys and ranges whose reads must still hold.
#[derive(Debug, Default)]
struct ReadSet {
    keys: BTreeSet<Vec<u8>>,
    ranges: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// An optimistic transaction (see [`Db::transaction`]). Reads see the snapshot taken at
/// begin plus this transaction's own writes; writes are buffered in memory until
/// [`Transaction::commit`] applies them as one atomic, durable batch, or not at all.
/// Dropping it without commit is a rollback. Not `Sync`: one thread uses it at a time.
pub struct Transaction<'db> {
    db: &'db Db,
    snap: Snapshot,
    opts: TxnOptions,
    started: Instant,
    writes: WriteBuffer,
    reads: RefCell<ReadSet>,
}

impl<'db> Transaction<'db> {
    pub(crate) fn begin(db: &'db Db, opts: TxnOptions) -> Self {
        Transaction {
            db,
            snap: db.snapshot(),
            opts,
            started: Instant::now(),
            writes: WriteBuffer::default(),
            reads: RefCell::default(),
        }
    }

    /// The sequence number of the snapshot this transaction reads at.
    pub fn read_seq(&self) -> SeqNo {
        self.snap.seq()
    }

    /// This transaction's options.
    pub fn options(&self) -> &TxnOptions {
        &self.opts
    }

    /// True once the transaction has outlived [`TxnOptions::timeout`]; it can then only be
    /// dropped.
    pub fn is_expired(&self) -> bool {
        self.started.elapsed() > self.opts.timeout
    }

    /// Number of distinct keys written so far.
    pub fn write_count(&self) -> usize {
        self.writes.len()
    }

    fn check_alive(&self) -> Result<()> {
        if self.is_expired() {
            return Err(Error::TransactionExpired(format!(
                "{:?} since begin exceeds its timeout of {:?}; nothing was applied",
                self.started.elapsed(),
                self.opts.timeout
            )));
        }
        Ok(())
    }

    fn serializable(&self) -> bool {
        self.opts.isolation == Isolation::Serializable
    }

    fn read_opts(&self) -> ReadOptions<'_> {
        ReadOptions { snapshot: Some(&self.snap), ..Default::default() }
    }

    /// The value of `key` as this transaction sees it: its own latest write of the key if
    /// any, else the snapshot's value. Under [`Isolation::Serializable`] the key joins the
    /// read set that commit validates (absent keys too, so a later insert conflicts).
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.read(key, self.serializable())
    }

    /// As [`Transaction::get`], and commit fails if `key` changed since the snapshot, at any
    /// isolation level (RocksDB's `GetForUpdate`): use it under snapshot isolation to guard
    /// the particular reads a write depends on against write skew.
    pub fn get_for_update(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.read(key, true)
    }

    /// As [`Transaction::get`], with the expiry of a value read from the snapshot (a value
    /// this transaction wrote reports none).
    pub(crate) fn get_with_expiry(&self, key: &[u8]) -> Result<Option<(Vec<u8>, Option<u64>)>> {
        self.check_alive()?;
        if let Some(w) = self.writes.get(key) {
            return Ok(w.value().map(|v| (v.to_vec(), None)));
        }
        if self.serializable() {
            self.reads.borrow_mut().keys.insert(key.to_vec());
        }
        Ok(self.db.get_versioned(key, Some(self.snap.seq()))?.map(|v| (v.value, v.expires_at_millis)))
    }

    fn read(&self, key: &[u8], track: bool) -> Result<Option<Vec<u8>>> {
        self.check_alive()?;
        if let Some(w) = self.writes.get(key) {
            return Ok(w.value().map(<[u8]>::to_vec));
        }
        if track {
            self.reads.borrow_mut().keys.insert(key.to_vec());
        }
        self.db.get_opt(key, &self.read_opts())
    }

    /// Entries with `lower <= key < upper` (bounds optional), ascending, as this transaction
    /// sees them. Under [`Isolation::Serializable`] the whole range joins the read set: any
    /// write committed into it since the snapshot fails this transaction's commit.
    pub fn scan(&self, lower: Option<&[u8]>, upper: Option<&[u8]>) -> Result<TxnScan<'_>> {
        self.scan_opt(lower, upper, false)
    }

    /// As [`Transaction::scan`], descending when `reverse`.
    pub fn scan_opt(&self, lower: Option<&[u8]>, upper: Option<&[u8]>, reverse: bool) -> Result<TxnScan<'_>> {
        self.check_alive()?;
        if self.serializable() {
            let range = (lower.unwrap_or_default().to_vec(), upper.map(<[u8]>::to_vec));
            self.reads.borrow_mut().ranges.push(range);
        }
        let snapshot = self.db.scan_opt(lower, upper, reverse, Some(&self.snap));
        Ok(TxnScan::new(snapshot, self.writes.range(lower, upper), reverse))
    }

    /// Entries whose key starts with `prefix`, ascending; as [`Transaction::scan`].
    pub fn prefix_scan(&self, prefix: &[u8]) -> Result<TxnScan<'_>> {
        let upper = prefix_successor(prefix);
        self.scan_opt(Some(prefix), upper.as_deref(), false)
    }

    fn write(&mut self, key: &[u8], w: Buffered) -> Result<()> {
        self.check_alive()?;
        if key.is_empty() {
            return Err(Error::InvalidArgument("key must not be empty".into()));
        }
        self.writes.insert(key, w);
        Ok(())
    }

    /// Buffers setting `key` to `value`; visible to this transaction's reads at once and to
    /// others after commit. Size limits are checked at commit.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(key, Buffered::Put(value.to_vec()))
    }

    /// Buffers setting `key` to `value` with a time to live counted from the commit.
    pub fn put_with_ttl(&mut self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        self.write(key, Buffered::PutWithTtl(value.to_vec(), ttl))
    }

    /// Buffers removing `key`.
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.write(key, Buffered::Delete)
    }

    /// Applies every buffered write atomically, as one write-ahead-log batch, if no
    /// conflicting write was committed since the snapshot: to a key this transaction writes
    /// (both levels), or to a key or range it read (serializable, or keys read with
    /// [`Transaction::get_for_update`]). Returns the sequence number of the commit (the
    /// snapshot's for a transaction that wrote nothing, which always commits).
    ///
    /// On [`Error::Conflict`] (lost a race, or expired) nothing was applied; run the
    /// transaction again, as [`crate::txn::retry`] does. The check does not lock the store:
    /// the commit leader validates each transaction of its group against the keys written
    /// since its snapshot, earlier members of the group included.
    pub fn commit(self) -> Result<SeqNo> {
        self.check_alive()?;
        if self.writes.is_empty() {
            return Ok(self.snap.seq());
        }
        let reads = self.reads.into_inner();
        let mut keys = reads.keys;
        keys.extend(self.writes.keys().cloned());
        let pre = Precondition { read_seq: self.snap.seq(), keys: keys.into_iter().collect(), ranges: reads.ranges };
        self.db.write_if(self.writes.to_batch(), pre, WriteOptions { sync: self.opts.sync })
    }

    /// Discards every buffered write (as dropping the transaction does).
    pub fn rollback(self) {}
}

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("read_seq", &self.snap.seq())
            .field("isolation", &self.opts.isolation)
            .field("writes", &self.writes.len())
            .finish()
    }
}
