//! The file-system seam. Every byte kvd reads or writes goes through [`Fs`], so tests can run
//! on [`MemFs`] (which simulates power loss by dropping whatever was not fsynced) and
//! [`FaultFs`] (which fails the Nth operation).
//!
//! Durability contract, which every implementation models: bytes appended to a file survive a
//! power loss only after [`WritableFile::sync`]; a created, renamed or removed directory entry
//! survives only after [`Fs::sync_dir`] on its directory.

mod fault_fs;
mod mem_fs;
mod std_fs;

use std::path::Path;
use std::sync::Arc;

use crate::Result;

pub use fault_fs::{FaultFs, INJECTED_FAULT};
pub use mem_fs::MemFs;
pub use std_fs::StdFs;

/// How [`WritableFile::preallocate`] reserves space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserve {
    /// Allocate blocks only (`fallocate`): cheap, but the first write into each block still
    /// changes metadata.
    Allocate,
    /// Allocate and write zeroes: costs the write, saves every later sync a metadata change.
    WriteZeroes,
}

/// A file opened for appending. Not shared between threads without external locking.
pub trait WritableFile: Send + Sync {
    /// Appends `data` (possibly only to a user-space buffer).
    fn append(&mut self, data: &[u8]) -> Result<()>;
    /// Hands buffered bytes to the operating system: they then survive a process crash
    /// (kill -9) but not a power loss.
    fn flush(&mut self) -> Result<()>;
    /// Flushes and makes every appended byte durable (fdatasync).
    fn sync(&mut self) -> Result<()>;
    /// Bytes appended so far.
    fn len(&self) -> u64;
    /// Reserves disk space so the file is at least `len` bytes long, reading as zeroes past
    /// what was appended, without moving where the next append lands. Appends inside the
    /// reserved space then leave the file size alone, so their `sync` writes data only and
    /// not a file-size change as well (one journal commit fewer per fsync on ext4/xfs).
    /// The new size is durable after the next `sync`.
    ///
    /// With [`Reserve::WriteZeroes`] the zeroes are also written (not synced), so that once
    /// synced, later appends into the space are pure overwrites: on ext4 the first write into
    /// merely allocated ("unwritten") space changes extent metadata, whose journal commit
    /// queues behind any other I/O on the disk.
    ///
    /// An optimisation: file systems that cannot reserve space may do nothing (the default).
    fn preallocate(&mut self, _len: u64, _how: Reserve) -> Result<()> {
        Ok(())
    }
    /// True when nothing was appended.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A file opened for positioned reads; safe to share between threads.
pub trait RandomAccessFile: Send + Sync {
    /// Reads exactly `buf.len()` bytes at `offset`; a short file is an error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()>;
    /// The file's size when it was opened.
    fn len(&self) -> u64;
    /// True for an empty file.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Reads `len` bytes at `offset` into a new buffer.
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }
}

/// An exclusive lock on a file; released when dropped.
pub trait FileLock: Send + Sync {}

/// The operations kvd needs from a file system. Implementations are thread-safe.
pub trait Fs: Send + Sync + std::fmt::Debug {
    /// Creates (or truncates) `path` for appending.
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>>;
    /// Opens `path` for positioned reads.
    fn open(&self, path: &Path) -> Result<Arc<dyn RandomAccessFile>>;
    /// Atomically replaces `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> Result<()>;
    /// Creates a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> Result<()>;
    /// Names (not paths) of the entries in directory `path`.
    fn list_dir(&self, path: &Path) -> Result<Vec<String>>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, path: &Path) -> Result<()>;
    /// True if `path` exists.
    fn exists(&self, path: &Path) -> bool;
    /// Size of the file at `path`.
    fn file_size(&self, path: &Path) -> Result<u64>;
    /// Takes an exclusive lock on `path` (created if missing), failing with
    /// [`crate::Error::Locked`] if another holder has it.
    fn lock(&self, path: &Path) -> Result<Box<dyn FileLock>>;
    /// Makes `to` a second name for `from` (or a copy where links are impossible).
    fn hard_link(&self, from: &Path, to: &Path) -> Result<()>;

    /// Reads a whole file.
    fn read_all(&self, path: &Path) -> Result<Vec<u8>> {
        let f = self.open(path)?;
        f.read_at(0, f.len() as usize)
    }

    /// Writes `data` to `path` durably and atomically: a temporary file is written and
    /// synced, renamed over `path`, and the directory synced.
    fn write_atomic(&self, path: &Path, data: &[u8]) -> Result<()> {
        let tmp = path.with_extension("tmp");
        let mut f = self.create(&tmp)?;
        f.append(data)?;
        f.sync()?;
        drop(f);
        self.rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            self.sync_dir(dir)?;
        }
        Ok(())
    }
}

/// A shared file system handle.
pub type FsRef = Arc<dyn Fs>;
