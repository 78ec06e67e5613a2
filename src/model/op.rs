//! The atomic read-modify-write step every typed mutation is built from.
//!
//! An operation reads at a private snapshot, records every key its outcome depends on
//! ("watched" keys: the plain key and the metadata key always, element keys whose presence
//! it relied on), builds one [`WriteBatch`], and commits it with [`Db::write_if`] on the
//! watched keys. A conflict means another writer got in between: the step runs again on a
//! fresh snapshot. So every typed operation behaves as if it ran alone at its commit point,
//! with respect to other typed operations, transactions and plain writes alike.
//!
//! Single-key operations first take an in-process stripe lock on their key, so that threads
//! hammering one key queue up instead of burning retries; the lock is an optimisation only
//! (correctness comes from the precondition) and never covers more than one key.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use kvd_base::SeqNo;
use parking_lot::{const_mutex, Mutex, MutexGuard};

use super::doc_index::{reindex, DocChange};
use super::keys::{check_user_key, element_key, meta_key};
use super::meta::{Kind, Meta};
use crate::txn::Backoff;
use crate::{BatchOp, Db, Error, Precondition, ReadOptions, Result, Scan, Snapshot, VersionedValue, WriteBatch};
use crate::{ValueType, WriteOptions};

/// Attempts before a typed operation gives up with [`Error::Conflict`].
const MAX_ATTEMPTS: u32 = 10_000;

const STRIPES: usize = 256;
static LOCKS: [Mutex<()>; STRIPES] = [const { const_mutex(()) }; STRIPES];

fn stripe(db: &Db, key: &[u8]) -> MutexGuard<'static, ()> {
    let mut h = DefaultHasher::new();
    (db as *const Db as usize).hash(&mut h);
    key.hash(&mut h);
    LOCKS[(h.finish() as usize) % STRIPES].lock()
}

/// Low bits of a version taken by a per-process counter.
const VERSION_COUNTER_BITS: u32 = 12;
static VERSION_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A version (generation) for a new collection created by an operation reading at
/// `snapshot_seq`: `snapshot_seq << 12 | counter`. Versions under one key never repeat:
/// every earlier collection was created by an operation that read below its own commit,
/// which this snapshot sees, so its high bits were smaller; operations reading at the same
/// sequence number in this process differ in the counter (fewer than 4096 of them can
/// create a collection before some commit moves the sequence number on). The counter makes
/// this hold even when compaction has erased every trace of a collection created and
/// deleted after the snapshot (a conflict the metadata precondition could then miss).
/// Holds for sequence numbers below 2^52.
pub(crate) fn new_version(snapshot_seq: SeqNo) -> u64 {
    let counter = VERSION_COUNTER.fetch_add(1, Ordering::Relaxed) & ((1 << VERSION_COUNTER_BITS) - 1);
    (snapshot_seq << VERSION_COUNTER_BITS) | counter
}

/// One attempt of a typed operation: its snapshot, watched keys and pending writes.
pub(crate) struct Op<'db> {
    pub db: &'db Db,
    snap: Snapshot,
    watched: Vec<Vec<u8>>,
    watched_ranges: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    batch: WriteBatch,
}

/// What a key holds, as one typed operation sees it.
pub(crate) enum Found {
    /// Nothing (absent, deleted or expired).
    Nothing,
    /// A plain value (a string, or an integer as its decimal string).
    Plain(VersionedValue),
    /// A collection.
    Collection(Meta),
}

impl<'db> Op<'db> {
    fn new(db: &'db Db) -> Self {
        Op { db, snap: db.snapshot(), watched: Vec::new(), watched_ranges: Vec::new(), batch: WriteBatch::new() }
    }

    /// The sequence number this attempt reads at.
    pub fn seq(&self) -> SeqNo {
        self.snap.seq()
    }

    fn read_opts(&self) -> ReadOptions<'_> {
        ReadOptions { snapshot: Some(&self.snap), ..Default::default() }
    }

    /// Reads `key` at the snapshot and watches it.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.watched.push(key.to_vec());
        self.db.get_opt(key, &self.read_opts())
    }

    /// Reads `key` at the snapshot without watching it (its state is implied by a watched key).
    pub fn peek(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.get_opt(key, &self.read_opts())
    }

    /// Scans `[lower, upper)` at the snapshot, unwatched: callers scan only elements whose
    /// set is governed by the watched metadata key.
    pub fn scan(&self, lower: &[u8], upper: &[u8], reverse: bool) -> Scan {
        self.db.scan_opt(Some(lower), Some(upper), reverse, Some(&self.snap))
    }

    /// Watches `[lower, upper)`: the operation re-runs if anything in it changes before its
    /// commit.
    pub fn watch_range(&mut self, range: (Vec<u8>, Option<Vec<u8>>)) {
        self.watched_ranges.push(range);
    }

    /// What `key` holds, watching its plain and metadata keys. A plain value shadows a
    /// collection under the same key (it can only get there through the plain API).
    pub fn find(&mut self, key: &[u8]) -> Result<Found> {
        check_user_key(key)?;
        self.watched.push(key.to_vec());
        if let Some(v) = self.db.get_versioned(key, Some(self.seq()))? {
            return Ok(Found::Plain(v));
        }
        let mk = meta_key(key);
        let meta = self.db.get_versioned(&mk, Some(self.seq()))?;
        self.watched.push(mk);
        match meta {
            Some(v) => Ok(Found::Collection(Meta::decode(key, &v.value, v.expires_at_millis)?)),
            None => Ok(Found::Nothing),
        }
    }

    /// The collection of type `kind` under `key`, `None` if the key is empty, or
    /// [`Error::WrongType`] if it holds anything else.
    pub fn collection(&mut self, key: &[u8], kind: Kind) -> Result<Option<Meta>> {
        match self.find(key)? {
            Found::Nothing => Ok(None),
            Found::Collection(m) if m.kind == kind => Ok(Some(m)),
            Found::Collection(m) => Err(wrong_type(key, m.kind.value_type(), kind.value_type())),
            Found::Plain(_) => Err(wrong_type(key, ValueType::String, kind.value_type())),
        }
    }

    /// The existing collection (and true), or a new empty one (and false) with a fresh
    /// version from [`new_version`].
    pub fn collection_or_new(&mut self, key: &[u8], kind: Kind) -> Result<(Meta, bool)> {
        Ok(match self.collection(key, kind)? {
            Some(m) => (m, true),
            None => (Meta::new(kind, new_version(self.seq())), false),
        })
    }

    /// Stores `meta` for `key`, keeping its expiry; a collection left empty is deleted.
    pub fn write_meta(&mut self, key: &[u8], meta: &Meta) {
        let mk = meta_key(key);
        if meta.count == 0 {
            self.batch.delete(mk);
            return;
        }
        let value = meta.encode();
        match meta.expires_at_millis {
            Some(at) => self.batch.push(BatchOp::PutWithExpiry { key: mk, value, expires_at_millis: at }),
            None => self.batch.put(mk, value),
        };
    }

    /// Queues a write.
    pub fn push(&mut self, op: BatchOp) {
        self.batch.push(op);
    }

    /// Queues a put.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.batch.put(key, value);
    }

    /// Queues a delete.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.batch.delete(key);
    }
}

/// The error for an operation of type `wanted` on a key holding `found`.
pub(crate) fn wrong_type(key: &[u8], found: ValueType, wanted: ValueType) -> Error {
    Error::WrongType(format!(
        "key {:?} holds a {found:?} value; this operation needs a {wanted:?}",
        String::from_utf8_lossy(&key[..key.len().min(64)])
    ))
}

/// Atomically removes the elements named `names` from the collection `key` of `kind` (hash
/// fields, set members); returns how many existed. A missing collection removes nothing.
pub(crate) fn remove_elements(db: &Db, key: &[u8], kind: Kind, names: &BTreeSet<&[u8]>) -> Result<u64> {
    atomic(db, Some(key), |op| {
        let Some(mut meta) = op.collection(key, kind)? else { return Ok(0) };
        let before = meta;
        let mut removed = Vec::new();
        for name in names {
            let ek = element_key(key, meta.version, name);
            if op.get(&ek)?.is_some() {
                op.delete(ek);
                removed.push(*name);
            }
        }
        if removed.is_empty() {
            return Ok(0);
        }
        meta.count -= removed.len() as u64;
        if kind == Kind::Hash {
            reindex(op, key, DocChange::fields(Some(&before), &[], &removed, meta.count > 0))?;
        }
        op.write_meta(key, &meta);
        Ok(removed.len() as u64)
    })
}

/// Runs `f` as one atomic operation: retried on a fresh snapshot until its writes commit
/// with every watched key unchanged. `lock` names the key whose stripe lock to hold (for
/// single-key operations). Errors of `f` (wrong type, bad argument) end it with nothing
/// written; an attempt that queues no write returns at once, consistent at its snapshot.
pub(crate) fn atomic<T>(db: &Db, lock: Option<&[u8]>, mut f: impl FnMut(&mut Op<'_>) -> Result<T>) -> Result<T> {
    let _guard = lock.map(|k| stripe(db, k));
    let mut backoff = Backoff::new();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut op = Op::new(db);
        let out = f(&mut op)?;
        if op.batch.is_empty() {
            return Ok(out);
        }
        let pre = Precondition {
            read_seq: op.seq(),
            keys: std::mem::take(&mut op.watched),
            ranges: std::mem::take(&mut op.watched_ranges),
        };
        match db.write_if(std::mem::take(&mut op.batch), pre, WriteOptions::default()) {
            Ok(_) => return Ok(out),
            Err(Error::Conflict(m)) if attempt >= MAX_ATTEMPTS => {
                return Err(Error::Conflict(format!("typed operation gave up after {attempt} attempts: {m}")))
            }
            Err(Error::Conflict(_)) => backoff.wait(),
            Err(e) => return Err(e),
        }
    }
}

/// Runs a read-only `f` at one snapshot.
pub(crate) fn read<T>(db: &Db, f: impl FnOnce(&mut Op<'_>) -> Result<T>) -> Result<T> {
    f(&mut Op::new(db))
}
