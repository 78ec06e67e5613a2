//! [`Wal`]: the thread-safe write-ahead log handle the engine writes through.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use kvd_base::file_names::wal_path;
use kvd_base::fs::{Fs, FsRef, Reserve};
use parking_lot::{Mutex, MutexGuard};

use crate::syncer::Syncer;
use crate::{Error, LogWriter, Result, SyncPolicy};

/// How much log file space [`Wal::create`] reserves at a time: 1 MiB, so one synced append in
/// several thousand pays for a size change, while an idle database's log stays small.
pub const DEFAULT_PREALLOCATE_BYTES: u64 = 1 << 20;

/// The write-ahead log of a database: the current [`LogWriter`], its [`SyncPolicy`], rotation
/// to a new file when the memtable is switched, and the background sync thread.
///
/// Thread-safe: share it in an `Arc`. Appends are serialised by an internal mutex; the engine
/// is expected to group-commit above it (one [`append`](Self::append) per group with the
/// group's batches concatenated, and at most one sync).
///
/// Poisoning: after any failed append, flush or sync, the bytes on disk are unknown and a
/// failed fsync must never be retried as if it were fine, so every later `append`, `sync` and
/// `rotate` returns [`Error::Poisoned`]. The database must be reopened, which recovers what
/// really reached the disk.
///
/// Dropping a `Wal` closes it as [`close`](Self::close) does, ignoring errors.
pub struct Wal {
    shared: Arc<Shared>,
    syncer: Mutex<Option<Syncer>>,
}

/// What the handle and the sync thread share.
struct Shared {
    fs: FsRef,
    dir: PathBuf,
    policy: SyncPolicy,
    /// Log file space is reserved this many bytes at a time (0: never).
    preallocate: u64,
    inner: Mutex<Inner>,
    poisoned: AtomicBool,
    current_log_number: AtomicU64,
    bytes_written: AtomicU64,
    syncs: AtomicU64,
}

struct Inner {
    /// `None` once closed.
    writer: Option<LogWriter>,
    /// Something was appended since the last sync.
    dirty: bool,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.shared.dir)
            .field("policy", &self.shared.policy)
            .field("current_log_number", &self.current_log_number())
            .field("poisoned", &self.is_poisoned())
            .finish()
    }
}

impl Wal {
    /// Creates log `log_number` (`wal_path(dir, log_number)`) on `fs` and makes both its
    /// header and its directory entry durable, so a crash can never leave the engine
    /// believing in a log that recovery will not find.
    ///
    /// REQUIRES: `dir` exists and no live log has this number (the file is truncated).
    ///
    /// Log files reserve space [`DEFAULT_PREALLOCATE_BYTES`] at a time; see
    /// [`create_with_preallocation`](Self::create_with_preallocation).
    pub fn create(fs: FsRef, dir: &Path, log_number: u64, policy: SyncPolicy) -> Result<Wal> {
        Self::create_with_preallocation(fs, dir, log_number, policy, DEFAULT_PREALLOCATE_BYTES)
    }

    /// As [`create`](Self::create), reserving log file space `preallocate` bytes at a time
    /// (0: never), for this log and every one [`rotate`](Self::rotate) starts. See
    /// [`LogWriter::with_preallocation`] for why.
    pub fn create_with_preallocation(
        fs: FsRef,
        dir: &Path,
        log_number: u64,
        policy: SyncPolicy,
        preallocate: u64,
    ) -> Result<Wal> {
        let writer = new_log(&*fs, dir, log_number, preallocate, policy)?;
        let shared = Arc::new(Shared {
            fs,
            dir: dir.to_path_buf(),
            policy,
            preallocate,
            poisoned: AtomicBool::new(false),
            current_log_number: AtomicU64::new(log_number),
            bytes_written: AtomicU64::new(writer.size()),
            syncs: AtomicU64::new(1),
            inner: Mutex::new(Inner { writer: Some(writer), dirty: false }),
        });
        let syncer = match policy.interval() {
            Some(period) => {
                let weak = Arc::downgrade(&shared);
                let s = Syncer::spawn("kvd-wal-sync".into(), period, move || background_sync(&weak))
                    .map_err(|e| kvd_base::Error::io("spawn wal sync thread", dir, e))?;
                Some(s)
            }
            None => None,
        };
        Ok(Wal { shared, syncer: Mutex::new(syncer) })
    }

    /// Appends `payload` as one record and flushes it to the operating system (it survives a
    /// process crash when this returns). It is also fsynced before returning when `sync` is
    /// true or the policy is [`SyncPolicy::Always`]; otherwise no fsync happens here.
    ///
    /// Errors: [`Error::Poisoned`] after an earlier failure, [`Error::Closed`] after close;
    /// an I/O error (which poisons the log) if the write fails.
    pub fn append(&self, payload: &[u8], sync: bool) -> Result<()> {
        let sh = &*self.shared;
        let mut inner = sh.lock_live()?;
        let writer = inner.writer.as_mut().ok_or(Error::Closed)?;
        let before = writer.size();
        let r = writer.add_record(payload).and_then(|()| writer.flush());
        let appended = writer.size().saturating_sub(before);
        sh.bytes_written.fetch_add(appended, Ordering::Relaxed);
        r.map_err(|e| sh.poison(e))?;
        inner.dirty = true;
        if sync || sh.policy.syncs_every_append() {
            sh.sync_locked(&mut inner)?;
        }
        Ok(())
    }

    /// Makes every record appended so far durable. A no-op when nothing was appended since
    /// the last sync. Errors as [`append`](Self::append).
    pub fn sync(&self) -> Result<()> {
        let mut inner = self.shared.lock_live()?;
        self.shared.sync_locked(&mut inner)
    }

    /// Switches to a new log file, for a new memtable: syncs the current log (so every record
    /// in it is durable before any record of the new one can be), creates log
    /// `new_log_number` with its directory entry synced, closes the old file and returns the
    /// old log number.
    ///
    /// REQUIRES: `new_log_number` is greater than the current one (recovery replays logs in
    /// number order), else [`Error::LogNumberNotIncreasing`]. An I/O failure poisons the log:
    /// the caller has already switched memtables and has no log to go on with.
    pub fn rotate(&self, new_log_number: u64) -> Result<u64> {
        let sh = &*self.shared;
        let mut inner = sh.lock_live()?;
        let current = sh.current_log_number.load(Ordering::Acquire);
        if new_log_number <= current {
            return Err(Error::LogNumberNotIncreasing { current, requested: new_log_number });
        }
        sh.sync_locked(&mut inner)?;
        let writer = new_log(&*sh.fs, &sh.dir, new_log_number, sh.preallocate, sh.policy).map_err(|e| sh.poison(e))?;
        sh.bytes_written.fetch_add(writer.size(), Ordering::Relaxed);
        sh.syncs.fetch_add(1, Ordering::Relaxed);
        // Dropping the old writer closes its file.
        inner.writer = Some(writer);
        inner.dirty = false;
        sh.current_log_number.store(new_log_number, Ordering::Release);
        Ok(current)
    }

    /// Stops the sync thread, syncs what was appended and closes the file. Later appends
    /// return [`Error::Closed`]. Idempotent; returns [`Error::Poisoned`] when the log was
    /// poisoned (its records may not be durable).
    pub fn close(&self) -> Result<()> {
        // Stop the thread first, without holding `inner`, which its tick takes.
        if let Some(s) = self.syncer.lock().take() {
            s.stop();
        }
        let sh = &*self.shared;
        let mut inner = sh.inner.lock();
        if sh.is_poisoned() {
            inner.writer = None;
            return Err(Error::Poisoned);
        }
        if inner.writer.is_some() {
            sh.sync_locked(&mut inner)?;
            inner.writer = None;
        }
        Ok(())
    }

    /// The number of the log file being appended to.
    pub fn current_log_number(&self) -> u64 {
        self.shared.current_log_number.load(Ordering::Acquire)
    }

    /// Bytes written to log files by this handle, file headers and framing included.
    pub fn bytes_written(&self) -> u64 {
        self.shared.bytes_written.load(Ordering::Relaxed)
    }

    /// Log file fsyncs completed by this handle (creation, appends, background, rotation).
    pub fn syncs(&self) -> u64 {
        self.shared.syncs.load(Ordering::Relaxed)
    }

    /// True once an I/O failure has poisoned the log.
    pub fn is_poisoned(&self) -> bool {
        self.shared.is_poisoned()
    }

    /// The sync policy given at creation.
    pub fn policy(&self) -> SyncPolicy {
        self.shared.policy
    }

    /// The directory holding the log files.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        match self.close() {
            Ok(()) | Err(Error::Poisoned) => {}
            Err(e) => tracing::warn!(error = %e, "closing the write-ahead log on drop failed"),
        }
    }
}

impl Shared {
    fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// Records `e` as the failure that poisons the log, and returns it for the caller.
    fn poison(&self, e: Error) -> Error {
        if !self.poisoned.swap(true, Ordering::AcqRel) {
            tracing::error!(error = %e, dir = %self.dir.display(), "write-ahead log poisoned");
        }
        e
    }

    /// Locks the writer state, refusing if poisoned or closed.
    fn lock_live(&self) -> Result<MutexGuard<'_, Inner>> {
        let inner = self.inner.lock();
        // Checked under the lock, so a failure by the previous holder is always seen.
        if self.is_poisoned() {
            return Err(Error::Poisoned);
        }
        if inner.writer.is_none() {
            return Err(Error::Closed);
        }
        Ok(inner)
    }

    /// Fsyncs the current log if anything was appended since the last sync.
    fn sync_locked(&self, inner: &mut Inner) -> Result<()> {
        let Some(writer) = inner.writer.as_mut() else {
            return Err(Error::Closed);
        };
        if !inner.dirty {
            return Ok(());
        }
        writer.sync().map_err(|e| self.poison(e))?;
        inner.dirty = false;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Creates log `number` in `dir`: header appended and synced, then the directory synced.
/// Syncing the header first means a durable directory entry never names a headerless file.
///
/// Under [`SyncPolicy::Always`] reserved space is also zero-filled: the one extra write per
/// step spares every synced append an extent-metadata journal commit, which otherwise waits
/// behind the flushes and compactions writing on the same disk (p99 of a synced 200-byte
/// append: 0.2 ms into written zeroes, 4 ms into merely allocated space, measured here with
/// a build running). Other policies sync rarely and would only pay the write.
fn new_log(fs: &dyn Fs, dir: &Path, number: u64, preallocate: u64, policy: SyncPolicy) -> Result<LogWriter> {
    let reserve = if policy.syncs_every_append() { Reserve::WriteZeroes } else { Reserve::Allocate };
    let mut writer = LogWriter::with_preallocation(fs.create(&wal_path(dir, number))?, number, preallocate, reserve)?;
    writer.sync()?;
    fs.sync_dir(dir)?;
    Ok(writer)
}

/// One tick of the interval sync thread; false ends the thread (closed, poisoned, dropped).
fn background_sync(shared: &Weak<Shared>) -> bool {
    let Some(sh) = shared.upgrade() else {
        return false;
    };
    // A panic in here must not leave writers acknowledging records nobody will sync.
    let guard = PoisonOnPanic(&sh);
    let keep_going = match sh.lock_live() {
        Ok(mut inner) => sh.sync_locked(&mut inner).is_ok(),
        Err(_) => false,
    };
    drop(guard);
    keep_going
}

/// Poisons the log if dropped during a panic.
struct PoisonOnPanic<'a>(&'a Shared);

impl Drop for PoisonOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poisoned.store(true, Ordering::Release);
            tracing::error!("write-ahead log sync thread panicked; log poisoned");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_shareable_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Wal>();
        assert_send_sync::<crate::LogReader>();
    }
}
