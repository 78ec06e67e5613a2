//! [`Fs`] in memory, with simulated power loss.
//!
//! Each file keeps how many of its bytes were synced; each directory keeps the set of entries
//! as of its last `sync_dir`. [`MemFs::power_loss`] rolls both back, exactly the promise of the
//! [`Fs`] contract: unsynced bytes vanish, and so do unsynced creations, renames and removals.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{FileLock, Fs, RandomAccessFile, Reserve, WritableFile};
use crate::{Error, Result};

#[derive(Default, Clone)]
struct Inode {
    /// Bytes written, in order.
    data: Vec<u8>,
    synced_len: usize,
    /// Size reserved by `preallocate`; the file reads as zeroes from `data.len()` up to it.
    allocated: usize,
    /// `allocated` as of the last sync: what a power loss leaves reserved.
    synced_allocated: usize,
}

impl Inode {
    /// The file's size as a reader sees it: written bytes, or more when space was reserved.
    fn size(&self) -> usize {
        self.data.len().max(self.allocated)
    }
}

type InodeRef = Arc<Mutex<Inode>>;

#[derive(Default)]
struct State {
    /// The namespace as the running process sees it.
    live: BTreeMap<PathBuf, InodeRef>,
    /// The namespace as it would be found after a power loss.
    durable: BTreeMap<PathBuf, InodeRef>,
    dirs: HashSet<PathBuf>,
    locks: HashSet<PathBuf>,
}

/// An in-memory file system for tests. Cloning shares the same files.
#[derive(Clone, Default)]
pub struct MemFs {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for MemFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemFs").field("files", &self.state.lock().live.len()).finish()
    }
}

fn not_found(op: &'static str, path: &Path) -> Error {
    Error::io(op, path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
}

impl MemFs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates a power loss: every directory entry not made durable by `sync_dir` and every
    /// byte not made durable by `sync` is lost. Handles opened before keep working on
    /// detached copies and affect nothing afterwards. Locks are released, as by a reboot.
    pub fn power_loss(&self) {
        let mut st = self.state.lock();
        let mut fresh = BTreeMap::new();
        for (path, inode) in &st.durable {
            let old = inode.lock();
            let data = old.data[..old.synced_len].to_vec();
            let len = data.len();
            let allocated = old.synced_allocated;
            let survivor = Inode { data, synced_len: len, allocated, synced_allocated: allocated };
            fresh.insert(path.clone(), Arc::new(Mutex::new(survivor)));
        }
        st.live = fresh.clone();
        st.durable = fresh;
        st.locks.clear();
    }

    /// An independent copy of this file system (files, durability state and directories),
    /// for running many experiments from one starting state. Locks are not copied.
    pub fn deep_clone(&self) -> MemFs {
        let st = self.state.lock();
        let mut copies: std::collections::HashMap<*const Mutex<Inode>, InodeRef> = Default::default();
        let mut copy = |i: &InodeRef| {
            copies.entry(Arc::as_ptr(i)).or_insert_with(|| Arc::new(Mutex::new(i.lock().clone()))).clone()
        };
        let live = st.live.iter().map(|(p, i)| (p.clone(), copy(i))).collect();
        let durable = st.durable.iter().map(|(p, i)| (p.clone(), copy(i))).collect();
        let state = State { live, durable, dirs: st.dirs.clone(), locks: Default::default() };
        MemFs { state: Arc::new(Mutex::new(state)) }
    }

    /// Overwrites the byte at `offset` of `path` with `f(old)`, durably; for corruption tests.
    pub fn mutate_byte(&self, path: &Path, offset: usize, f: impl FnOnce(u8) -> u8) -> Result<()> {
        let st = self.state.lock();
        let inode = st.live.get(path).ok_or_else(|| not_found("mutate", path))?;
        let mut i = inode.lock();
        if offset >= i.data.len() && offset < i.size() {
            // Reserved space: materialise its zeroes so the byte can change.
            let size = i.size();
            i.data.resize(size, 0);
            i.synced_len = size;
        }
        let b = i.data.get_mut(offset).ok_or_else(|| not_found("mutate", path))?;
        *b = f(*b);
        Ok(())
    }

    /// Truncates `path` to `len` bytes, durably; for torn-tail tests.
    pub fn truncate(&self, path: &Path, len: usize) -> Result<()> {
        let st = self.state.lock();
        let inode = st.live.get(path).ok_or_else(|| not_found("truncate", path))?;
        let mut i = inode.lock();
        i.data.truncate(len);
        i.synced_len = i.synced_len.min(len);
        i.allocated = i.allocated.min(len);
        i.synced_allocated = i.synced_allocated.min(len);
        Ok(())
    }

    fn inode(&self, op: &'static str, path: &Path) -> Result<InodeRef> {
        self.state.lock().live.get(path).cloned().ok_or_else(|| not_found(op, path))
    }
}

struct MemWritable {
    inode: InodeRef,
    len: u64,
}

impl WritableFile for MemWritable {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        self.inode.lock().data.extend_from_slice(data);
        self.len += data.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        let mut i = self.inode.lock();
        i.synced_len = i.data.len();
        i.synced_allocated = i.allocated;
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn preallocate(&mut self, len: u64, _how: Reserve) -> Result<()> {
        let mut i = self.inode.lock();
        i.allocated = i.allocated.max(usize::try_from(len).unwrap_or(usize::MAX));
        Ok(())
    }
}

struct MemReadable {
    path: PathBuf,
    inode: InodeRef,
    len: u64,
}

impl RandomAccessFile for MemReadable {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let i = self.inode.lock();
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        match start.checked_add(buf.len()).filter(|&end| end <= i.size()) {
            Some(_) => {
                // Written bytes first; reserved space past them reads as zeroes.
                let written = i.data.get(start..).unwrap_or_default();
                let n = written.len().min(buf.len());
                buf[..n].copy_from_slice(&written[..n]);
                buf[n..].fill(0);
                Ok(())
            }
            None => Err(Error::io(
                "read",
                &self.path,
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "read past end of file"),
            )),
        }
    }

    fn len(&self) -> u64 {
        self.len
    }
}

struct MemLock {
    path: PathBuf,
    state: Arc<Mutex<State>>,
}

impl FileLock for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        self.state.lock().locks.remove(&self.path);
    }
}

impl Fs for MemFs {
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let inode = InodeRef::default();
        self.state.lock().live.insert(path.to_path_buf(), inode.clone());
        Ok(Box::new(MemWritable { inode, len: 0 }))
    }

    fn open(&self, path: &Path) -> Result<Arc<dyn RandomAccessFile>> {
        let inode = self.inode("open", path)?;
        let len = inode.lock().size() as u64;
        Ok(Arc::new(MemReadable { path: path.to_path_buf(), inode, len }))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut st = self.state.lock();
        let inode = st.live.remove(from).ok_or_else(|| not_found("rename", from))?;
        st.live.insert(to.to_path_buf(), inode);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        self.state.lock().live.remove(path).map(|_| ()).ok_or_else(|| not_found("remove", path))
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        let mut st = self.state.lock();
        for a in path.ancestors() {
            st.dirs.insert(a.to_path_buf());
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> Result<Vec<String>> {
        let st = self.state.lock();
        if !st.dirs.contains(path) {
            return Err(not_found("list", path));
        }
        Ok(st
            .live
            .keys()
            .filter(|p| p.parent() == Some(path))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect())
    }

    fn sync_dir(&self, path: &Path) -> Result<()> {
        let mut st = self.state.lock();
        st.durable.retain(|p, _| p.parent() != Some(path));
        let entries: Vec<_> =
            st.live.iter().filter(|(p, _)| p.parent() == Some(path)).map(|(p, i)| (p.clone(), i.clone())).collect();
        st.durable.extend(entries);
        Ok(())
    }

    fn exists(&self, path: &Path) -> bool {
        let st = self.state.lock();
        st.live.contains_key(path) || st.dirs.contains(path)
    }

    fn file_size(&self, path: &Path) -> Result<u64> {
        Ok(self.inode("stat", path)?.lock().size() as u64)
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn FileLock>> {
        let mut st = self.state.lock();
        if !st.locks.insert(path.to_path_buf()) {
            return Err(Error::Locked { path: path.to_path_buf() });
        }
        Ok(Box::new(MemLock { path: path.to_path_buf(), state: self.state.clone() }))
    }

    fn hard_link(&self, from: &Path, to: &Path) -> Result<()> {
        let mut st = self.state.lock();
        let inode = st.live.get(from).cloned().ok_or_else(|| not_found("link", from))?;
        st.live.insert(to.to_path_buf(), inode);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_loss_drops_unsynced_bytes_and_entries() {
        let fs = MemFs::new();
        let d = Path::new("/db");
        fs.create_dir_all(d).unwrap();
        let mut a = fs.create(&d.join("a")).unwrap();
        a.append(b"durable").unwrap();
        a.sync().unwrap();
        a.append(b"-lost").unwrap();
        fs.sync_dir(d).unwrap();
        let mut b = fs.create(&d.join("b")).unwrap();
        b.append(b"synced but entry not").unwrap();
        b.sync().unwrap();
        fs.power_loss();
        assert_eq!(fs.read_all(&d.join("a")).unwrap(), b"durable");
        assert!(!fs.exists(&d.join("b")));
        // Writes through a stale handle do not leak into the new world.
        a.append(b"zombie").unwrap();
        assert_eq!(fs.read_all(&d.join("a")).unwrap(), b"durable");
    }

    #[test]
    fn preallocated_space_reads_as_zeroes_and_survives_power_loss_once_synced() {
        let fs = MemFs::new();
        let d = Path::new("/db");
        fs.create_dir_all(d).unwrap();
        let p = d.join("log");
        let mut f = fs.create(&p).unwrap();
        f.append(b"head").unwrap();
        f.preallocate(16, Reserve::Allocate).unwrap();
        f.append(b"-more").unwrap();
        assert_eq!(f.len(), 9, "appends land after what was appended, not after the reservation");
        assert_eq!(fs.read_all(&p).unwrap(), b"head-more\0\0\0\0\0\0\0");
        fs.sync_dir(d).unwrap();
        fs.power_loss();
        assert!(fs.read_all(&p).unwrap().is_empty(), "neither bytes nor reservation were synced");

        let mut f = fs.create(&p).unwrap();
        f.preallocate(8, Reserve::WriteZeroes).unwrap();
        f.append(b"ab").unwrap();
        f.sync().unwrap();
        f.append(b"cd").unwrap();
        fs.sync_dir(d).unwrap();
        fs.power_loss();
        assert_eq!(fs.read_all(&p).unwrap(), b"ab\0\0\0\0\0\0", "unsynced bytes in reserved space read as zeroes");
        fs.mutate_byte(&p, 6, |_| 7).unwrap();
        assert_eq!(fs.read_all(&p).unwrap(), b"ab\0\0\0\0\x07\0");
    }

    #[test]
    fn unsynced_rename_is_undone() {
        let fs = MemFs::new();
        let d = Path::new("/db");
        fs.create_dir_all(d).unwrap();
        fs.write_atomic(&d.join("CURRENT"), b"one").unwrap();
        let mut t = fs.create(&d.join("CURRENT.tmp")).unwrap();
        t.append(b"two").unwrap();
        t.sync().unwrap();
        fs.rename(&d.join("CURRENT.tmp"), &d.join("CURRENT")).unwrap();
        fs.power_loss();
        assert_eq!(fs.read_all(&d.join("CURRENT")).unwrap(), b"one");
    }

    #[test]
    fn lock_is_exclusive() {
        let fs = MemFs::new();
        let l = fs.lock(Path::new("/LOCK")).unwrap();
        assert!(matches!(fs.lock(Path::new("/LOCK")), Err(Error::Locked { .. })));
        drop(l);
        assert!(fs.lock(Path::new("/LOCK")).is_ok());
    }
}
