//! The engine: open and recovery, the write path, flush, reads, iterators and snapshots.
//!
//! This module must never import `crate::model` or `crate::txn`: they build on it.

mod checkpoint;
mod compact;
mod flush;
mod iter;
mod multi_get;
mod open;
mod read;
mod snapshot;
mod stats;
mod super_version;
mod table_cache;
mod ttl;
mod write;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use kvd_base::fs::{FileLock, FsRef};
use kvd_base::SeqNo;
use kvd_lsm::manifest::{ManifestState, ManifestWriter};
use kvd_wal::Wal;
use parking_lot::{Condvar, Mutex};

pub(crate) use iter::ExpiringScan;
pub use iter::{DbIterator, Scan};
pub use snapshot::Snapshot;
pub use stats::{LevelStats, Stats};
pub use ttl::VersionedValue;
pub use write::Precondition;

use crate::batch::WriteBatch;
use crate::options::{Options, ReadOptions, WriteOptions};
use crate::{Error, Result};
use snapshot::SnapshotList;
use stats::Counters;
use super_version::SuperVersion;
use table_cache::TableCache;
use write::WriteQueue;

/// The manifest and the state it describes; its mutex also serialises every change of the
/// [`SuperVersion`], so a memtable switch and a flush never overwrite each other's swap.
pub(crate) struct VersionSet {
    pub manifest: ManifestWriter,
    pub state: ManifestState,
}

#[derive(Default)]
pub(crate) struct BgState {
    pub shutdown: bool,
}

pub(crate) struct DbInner {
    pub dir: PathBuf,
    pub opts: Options,
    pub fs: FsRef,
    pub lock: Mutex<Option<Box<dyn FileLock>>>,
    pub sv: ArcSwap<SuperVersion>,
    pub vs: Mutex<VersionSet>,
    pub next_file_number: AtomicU64,
    /// Last sequence number handed out (only the commit leader advances it).
    pub last_seq: AtomicU64,
    /// Every write with a sequence number up to this one is in a table (under `vs`).
    pub flushed_seq: AtomicU64,
    /// Last sequence number readers may see; advanced after the memtable holds the entries.
    pub visible_seq: AtomicU64,
    pub wal: Wal,
    pub writers: WriteQueue,
    pub tables: TableCache,
    pub snapshots: Arc<SnapshotList>,
    pub bg: Mutex<BgState>,
    pub bg_cv: Condvar,
    pub poison: Mutex<Option<String>>,
    /// Mirrors `poison.is_some()` so the write path checks it without a lock.
    pub poisoned: AtomicBool,
    pub closed: AtomicBool,
    /// Set at close: long-running background work stops early.
    pub shutting_down: AtomicBool,
    pub counters: Counters,
    pub compaction: Mutex<compact::CompactionState>,
    pub levels: compact::LevelCounters,
    /// Table files replaced in the manifest, deleted once no version in use references them.
    pub obsolete: Mutex<Vec<Arc<kvd_lsm::version::FileMeta>>>,
}

impl DbInner {
    /// Refuses writes once poisoned or closed.
    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            if let Some(reason) = self.poison.lock().as_ref() {
                return Err(Error::Poisoned(reason.clone()));
            }
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Records a failure after which acknowledged state may be in doubt; writes stop.
    pub(crate) fn set_poison(&self, what: &str, e: &Error) -> Error {
        let reason = format!("{what}: {e}");
        tracing::error!(%reason, "database poisoned");
        self.poison.lock().get_or_insert(reason.clone());
        self.poisoned.store(true, Ordering::Release);
        self.bg_cv.notify_all();
        Error::Poisoned(reason)
    }

    fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    pub(crate) fn now_millis(&self) -> u64 {
        self.opts.clock.now_millis()
    }
}

/// An open kvd database. Cheap to share across threads behind an `Arc` (every method takes
/// `&self`); dropping the last handle closes it as [`Db::close`] does.
///
/// ```
/// use kvd::{Db, Options};
/// let dir = tempfile::tempdir().unwrap();
/// let db = Db::open(dir.path(), Options::default()).unwrap();
/// db.put(b"hello", b"world").unwrap();
/// assert_eq!(db.get(b"hello").unwrap().as_deref(), Some(&b"world"[..]));
/// db.close().unwrap();
/// ```
pub struct Db {
    inner: Arc<DbInner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Db {
    /// Opens (or creates, per [`Options::create_if_missing`]) the database in `path`,
    /// replaying its manifest and every live write-ahead log. Fails with [`Error::Locked`] if
    /// another handle, in this process or another, has it open.
    pub fn open(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let inner = Arc::new(open::open(path.as_ref(), opts)?);
        let mut threads = vec![flush::spawn(inner.clone())];
        for i in 0..inner.opts.max_background_compactions.max(1) {
            threads.push(compact::spawn(inner.clone(), i));
        }
        Ok(Db { inner, threads: Mutex::new(threads) })
    }

    /// Sets `key` to `value`.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        self.write(b).map(|_| ())
    }

    /// Sets `key` to `value`, expiring `ttl` from now.
    pub fn put_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put_with_ttl(key, value, ttl);
        self.write(b).map(|_| ())
    }

    /// Removes `key` (a no-op if absent).
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete(key);
        self.write(b).map(|_| ())
    }

    /// Applies `batch` atomically with default write options; returns the sequence number of
    /// its last entry.
    pub fn write(&self, batch: WriteBatch) -> Result<SeqNo> {
        self.write_opt(batch, WriteOptions::default())
    }

    /// Applies `batch` atomically: once this returns `Ok` the whole batch is visible, and
    /// durable as the sync policy (or `opts.sync`) promises; on error none of it is visible.
    pub fn write_opt(&self, batch: WriteBatch, opts: WriteOptions) -> Result<SeqNo> {
        write::write(&self.inner, batch, opts, None)
    }

    /// Applies `batch` atomically only if `pre` still holds at commit: no key in `pre.keys`
    /// and nothing in `pre.ranges` was written after `pre.read_seq`. Otherwise nothing is
    /// applied and [`Error::Conflict`] is returned. The check and the commit are one atomic
    /// step, without a lock over the store: the commit leader checks each writer of its group
    /// in turn. This is the primitive optimistic transactions and atomic read-modify-write
    /// operations are built on.
    pub fn write_if(&self, batch: WriteBatch, pre: Precondition, opts: WriteOptions) -> Result<SeqNo> {
        write::write(&self.inner, batch, opts, Some(pre))
    }

    /// The value of `key`, or `None` if it is absent, deleted or expired.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_opt(key, &ReadOptions::default())
    }

    /// The value of `key` as of `opts.snapshot` (or now).
    pub fn get_opt(&self, key: &[u8], opts: &ReadOptions<'_>) -> Result<Option<Vec<u8>>> {
        let seq = self.read_seq(opts)?;
        read::get(&self.inner, key, seq)
    }

    /// A cursor over the keys in `opts`' bounds, as of `opts.snapshot` (or now). It pins the
    /// memtables and files it reads, so concurrent flushes never disturb it.
    pub fn iter(&self, opts: &ReadOptions<'_>) -> DbIterator {
        let (seq, err) = match self.read_seq(opts) {
            Ok(s) => (s, None),
            Err(e) => (0, Some(e)),
        };
        let mut it = DbIterator::new(&self.inner, seq, opts.lower_bound.clone(), opts.upper_bound.clone());
        if let Some(e) = err {
            it.set_error(e);
        }
        it
    }

    /// Entries with `lower <= key < upper` in ascending order (bounds optional).
    pub fn scan(&self, lower: Option<&[u8]>, upper: Option<&[u8]>) -> Scan {
        self.scan_opt(lower, upper, false, None)
    }

    /// Entries with `lower <= key < upper`, descending when `reverse`, as of `snapshot`.
    pub fn scan_opt(
        &self,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        reverse: bool,
        snapshot: Option<&Snapshot>,
    ) -> Scan {
        let opts = ReadOptions {
            snapshot,
            seqno: None,
            lower_bound: lower.map(<[u8]>::to_vec),
            upper_bound: upper.map(<[u8]>::to_vec),
        };
        Scan::new(self.iter(&opts), reverse)
    }

    /// The TTL clock's time (ms since the epoch).
    pub(crate) fn now_millis(&self) -> u64 {
        self.inner.now_millis()
    }

    /// Entries with `lower <= key < upper` as of sequence number `seq`, which a live
    /// snapshot must hold (for readers that keep the snapshot elsewhere).
    pub(crate) fn scan_at(&self, lower: Option<&[u8]>, upper: Option<&[u8]>, reverse: bool, seq: SeqNo) -> Scan {
        let opts = ReadOptions {
            snapshot: None,
            seqno: Some(seq),
            lower_bound: lower.map(<[u8]>::to_vec),
            upper_bound: upper.map(<[u8]>::to_vec),
        };
        Scan::new(self.iter(&opts), reverse)
    }

    /// Entries whose key starts with `prefix`, ascending.
    pub fn prefix_scan(&self, prefix: &[u8]) -> Scan {
        let upper = prefix_successor(prefix);
        self.scan(Some(prefix), upper.as_deref())
    }

    /// A snapshot of the current state.
    pub fn snapshot(&self) -> Snapshot {
        self.inner.snapshots.register(self.inner.visible_seq.load(Ordering::Acquire))
    }

    /// The latest visible sequence number.
    pub fn latest_seqno(&self) -> SeqNo {
        self.inner.visible_seq.load(Ordering::Acquire)
    }

    /// Flushes the active memtable to an L0 table and waits until every immutable memtable
    /// is flushed.
    pub fn flush(&self) -> Result<()> {
        flush::flush_and_wait(&self.inner)
    }

    /// Compacts every key in `[begin, end]` (either bound open when `None`) down to the last
    /// level: afterwards deleted and expired data in the range is gone unless a snapshot or
    /// the history floor still needs it. Flushes the memtable first; blocks until done.
    pub fn compact_range(&self, begin: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        compact::compact_range(&self.inner, begin, end)
    }

    /// Waits until background work has caught up: no memtable waits for flush, no
    /// compaction runs, and no level is over its size target or L0 over its file trigger
    /// (RocksDB's `WaitForCompact`). Compactions that only drop expired data are not waited
    /// for. With automatic compactions off, it waits for flushes and running compactions only.
    /// Fails if the database is poisoned or closed meanwhile.
    pub fn wait_for_compactions(&self) -> Result<()> {
        compact::wait_for_compactions(&self.inner)
    }

    /// Fsyncs the write-ahead log: every write acknowledged so far becomes durable.
    pub fn sync_wal(&self) -> Result<()> {
        self.inner.wal.sync().map_err(|e| self.inner.set_poison("wal sync", &e.into()))
    }

    /// Counters and shape of the engine.
    pub fn stats(&self) -> Stats {
        read::stats(&self.inner)
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// Closes cleanly: refuses new writes, waits for in-flight ones, syncs the log, stops the
    /// background thread and releases the directory lock. Idempotent.
    pub fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.inner.writers.wait_idle();
        let synced = if self.inner.is_poisoned() { Ok(()) } else { self.inner.wal.close().map_err(Error::from) };
        self.inner.shutting_down.store(true, Ordering::Release);
        self.inner.bg.lock().shutdown = true;
        self.inner.bg_cv.notify_all();
        for h in self.threads.lock().drain(..) {
            let _ = h.join();
        }
        self.inner.lock.lock().take();
        synced
    }

    fn read_seq(&self, opts: &ReadOptions<'_>) -> Result<SeqNo> {
        match (opts.snapshot, opts.seqno) {
            (Some(s), _) => Ok(s.seq()),
            (None, Some(seq)) => self.check_read_seq(seq).map(|()| seq),
            (None, None) => Ok(self.inner.visible_seq.load(Ordering::Acquire)),
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::warn!(error = %e, "error closing database on drop");
        }
    }
}

/// The smallest key greater than every key starting with `prefix`, or `None` if there is
/// none (the prefix is empty or all `0xff`).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut p = prefix.to_vec();
    while let Some(last) = p.pop() {
        if last < 0xff {
            p.push(last + 1);
            return Some(p);
        }
    }
    None
}

#[cfg(test)]
mod tests;
