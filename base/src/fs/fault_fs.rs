//! [`Fs`] wrapper that fails the Nth operation, for testing error paths.
//!
//! Counted operations are the ones that change state: create, append, flush, sync, rename,
//! remove, sync_dir, hard_link, and (when enabled) reads. Once armed with
//! [`FaultFs::fail_after`], the operation after `n` successful ones fails, and so does every
//! later one when the fault is persistent (a dead disk) or only that one when it is not.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::{FileLock, Fs, FsRef, RandomAccessFile, WritableFile};
use crate::{Error, Result};

/// Text carried by every injected error, so tests can tell them from real ones.
pub const INJECTED_FAULT: &str = "injected fault";

#[derive(Debug, Default)]
struct Control {
    ops: AtomicU64,
    /// Operation index (0-based) at which to start failing; u64::MAX when disarmed.
    fail_at: AtomicU64,
    persistent: AtomicBool,
    count_reads: AtomicBool,
    failures: AtomicU64,
}

impl Control {
    fn check(&self, op: &'static str, path: &Path, is_read: bool) -> Result<()> {
        if is_read && !self.count_reads.load(Ordering::Relaxed) {
            return Ok(());
        }
        let n = self.ops.fetch_add(1, Ordering::SeqCst);
        let at = self.fail_at.load(Ordering::SeqCst);
        let fail = if self.persistent.load(Ordering::SeqCst) { n >= at } else { n == at };
        if fail {
            self.failures.fetch_add(1, Ordering::SeqCst);
            return Err(Error::io(op, path, std::io::Error::other(INJECTED_FAULT)));
        }
        Ok(())
    }
}

/// A fault-injecting wrapper over another [`Fs`]. Cloning shares the counters.
#[derive(Debug, Clone)]
pub struct FaultFs {
    inner: FsRef,
    ctl: Arc<Control>,
}

impl FaultFs {
    /// Wraps `inner`, disarmed.
    pub fn new(inner: FsRef) -> Self {
        let ctl = Control { fail_at: AtomicU64::new(u64::MAX), ..Default::default() };
        FaultFs { inner, ctl: Arc::new(ctl) }
    }

    /// Fails the operation after the next `n` successful ones; with `persistent`, every later
    /// operation fails as well.
    pub fn fail_after(&self, n: u64, persistent: bool) {
        self.ctl.persistent.store(persistent, Ordering::SeqCst);
        let now = self.ctl.ops.load(Ordering::SeqCst);
        self.ctl.fail_at.store(now.saturating_add(n), Ordering::SeqCst);
    }

    /// Stops injecting faults.
    pub fn disarm(&self) {
        self.ctl.fail_at.store(u64::MAX, Ordering::SeqCst);
    }

    /// Whether reads count as operations (and so can fail).
    pub fn set_count_reads(&self, on: bool) {
        self.ctl.count_reads.store(on, Ordering::SeqCst);
    }

    /// Operations counted so far.
    pub fn ops(&self) -> u64 {
        self.ctl.ops.load(Ordering::SeqCst)
    }

    /// Faults injected so far.
    pub fn failures(&self) -> u64 {
        self.ctl.failures.load(Ordering::SeqCst)
    }
}

struct FaultWritable {
    inner: Box<dyn WritableFile>,
    path: std::path::PathBuf,
    ctl: Arc<Control>,
}

impl WritableFile for FaultWritable {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        self.ctl.check("append", &self.path, false)?;
        self.inner.append(data)
    }
    fn flush(&mut self) -> Result<()> {
        self.ctl.check("flush", &self.path, false)?;
        self.inner.flush()
    }
    fn sync(&mut self) -> Result<()> {
        self.ctl.check("sync", &self.path, false)?;
        self.inner.sync()
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
    // Not a counted operation: preallocation is an optimisation whose failure callers
    // ignore, so failing it would inject nothing.
    fn preallocate(&mut self, len: u64, how: super::Reserve) -> Result<()> {
        self.inner.preallocate(len, how)
    }
}

struct FaultReadable {
    inner: Arc<dyn RandomAccessFile>,
    path: std::path::PathBuf,
    ctl: Arc<Control>,
}

impl RandomAccessFile for FaultReadable {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.ctl.check("read", &self.path, true)?;
        self.inner.read_exact_at(buf, offset)
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
}

impl Fs for FaultFs {
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        self.ctl.check("create", path, false)?;
        let inner = self.inner.create(path)?;
        Ok(Box::new(FaultWritable { inner, path: path.to_path_buf(), ctl: self.ctl.clone() }))
    }
    fn open(&self, path: &Path) -> Result<Arc<dyn RandomAccessFile>> {
        self.ctl.check("open", path, true)?;
        let inner = self.inner.open(path)?;
        Ok(Arc::new(FaultReadable { inner, path: path.to_path_buf(), ctl: self.ctl.clone() }))
    }
    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.ctl.check("rename", from, false)?;
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> Result<()> {
        self.ctl.check("remove", path, false)?;
        self.inner.remove_file(path)
    }
    fn create_dir_all(&self, path: &Path) -> Result<()> {
        self.ctl.check("mkdir", path, false)?;
        self.inner.create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> Result<Vec<String>> {
        self.ctl.check("list", path, true)?;
        self.inner.list_dir(path)
    }
    fn sync_dir(&self, path: &Path) -> Result<()> {
        self.ctl.check("sync dir", path, false)?;
        self.inner.sync_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn file_size(&self, path: &Path) -> Result<u64> {
        self.inner.file_size(path)
    }
    fn lock(&self, path: &Path) -> Result<Box<dyn FileLock>> {
        self.inner.lock(path)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> Result<()> {
        self.ctl.check("link", from, false)?;
        self.inner.hard_link(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;

    #[test]
    fn fails_the_nth_operation() {
        let fs = FaultFs::new(Arc::new(MemFs::new()));
        fs.fail_after(2, false);
        let mut f = fs.create(Path::new("/a")).unwrap();
        f.append(b"x").unwrap();
        let e = f.sync().unwrap_err();
        assert!(e.is_injected());
        f.sync().unwrap();
        fs.fail_after(0, true);
        assert!(f.append(b"y").is_err());
        assert!(f.append(b"y").is_err());
        fs.disarm();
        f.append(b"y").unwrap();
        assert_eq!(fs.failures(), 3);
    }
}
