//! [`Fs`] over the operating system's file system.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fs2::FileExt as _;

use super::{FileLock, Fs, RandomAccessFile, Reserve, WritableFile};
use crate::{Error, Result};

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

struct StdWritable {
    path: PathBuf,
    out: BufWriter<File>,
    len: u64,
}

impl WritableFile for StdWritable {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        self.out.write_all(data).map_err(|e| Error::io("append", &self.path, e))?;
        self.len += data.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io("flush", &self.path, e))
    }

    fn sync(&mut self) -> Result<()> {
        self.flush()?;
        self.out.get_ref().sync_data().map_err(|e| Error::io("sync", &self.path, e))
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn preallocate(&mut self, len: u64, how: Reserve) -> Result<()> {
        let file = self.out.get_ref();
        let from = file.metadata().map_err(|e| Error::io("stat", &self.path, e))?.len().max(self.len);
        // fallocate(2) mode 0: allocates and extends the size; the write position of the
        // handle (the end of what was appended) does not move.
        fs2::FileExt::allocate(file, len).map_err(|e| Error::io("preallocate", &self.path, e))?;
        if how == Reserve::WriteZeroes {
            // Positioned writes past everything appended (buffered bytes included), so the
            // append position is untouched.
            static ZEROES: [u8; 64 * 1024] = [0; 64 * 1024];
            let mut at = from;
            while at < len {
                let n = (len - at).min(ZEROES.len() as u64) as usize;
                file.write_all_at(&ZEROES[..n], at).map_err(|e| Error::io("preallocate", &self.path, e))?;
                at += n as u64;
            }
        }
        Ok(())
    }
}

struct StdReadable {
    path: PathBuf,
    file: File,
    len: u64,
}

impl RandomAccessFile for StdReadable {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.file.read_exact_at(buf, offset).map_err(|e| Error::io("read", &self.path, e))
    }

    fn len(&self) -> u64 {
        self.len
    }
}

struct StdLock {
    file: File,
}

impl FileLock for StdLock {}

impl Drop for StdLock {
    fn drop(&mut self) {
        let _ = fs2::FileExt::unlock(&self.file);
    }
}

impl Fs for StdFs {
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let f = File::create(path).map_err(|e| Error::io("create", path, e))?;
        Ok(Box::new(StdWritable { path: path.to_path_buf(), out: BufWriter::with_capacity(64 * 1024, f), len: 0 }))
    }

    fn open(&self, path: &Path) -> Result<Arc<dyn RandomAccessFile>> {
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let len = file.metadata().map_err(|e| Error::io("stat", path, e))?.len();
        Ok(Arc::new(StdReadable { path: path.to_path_buf(), file, len }))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        std::fs::rename(from, to).map_err(|e| Error::io("rename", from, e))
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        std::fs::remove_file(path).map_err(|e| Error::io("remove", path, e))
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        std::fs::create_dir_all(path).map_err(|e| Error::io("mkdir", path, e))
    }

    fn list_dir(&self, path: &Path) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| Error::io("list", path, e))? {
            let entry = entry.map_err(|e| Error::io("list", path, e))?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    fn sync_dir(&self, path: &Path) -> Result<()> {
        let d = File::open(path).map_err(|e| Error::io("open dir", path, e))?;
        d.sync_all().map_err(|e| Error::io("sync dir", path, e))
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn file_size(&self, path: &Path) -> Result<u64> {
        Ok(std::fs::metadata(path).map_err(|e| Error::io("stat", path, e))?.len())
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn FileLock>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::io("open lock", path, e))?;
        match file.try_lock_exclusive() {
            Ok(()) => Ok(Box::new(StdLock { file })),
            Err(_) => Err(Error::Locked { path: path.to_path_buf() }),
        }
    }

    fn hard_link(&self, from: &Path, to: &Path) -> Result<()> {
        if std::fs::hard_link(from, to).is_ok() {
            return Ok(());
        }
        std::fs::copy(from, to).map_err(|e| Error::io("copy", from, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_rename_lock() {
        let dir = tempfile::tempdir().unwrap();
        let fs = StdFs;
        let p = dir.path().join("a");
        let mut f = fs.create(&p).unwrap();
        f.append(b"hello world").unwrap();
        f.sync().unwrap();
        assert_eq!(fs.open(&p).unwrap().read_at(6, 5).unwrap(), b"world");
        fs.write_atomic(&dir.path().join("CURRENT"), b"x").unwrap();
        assert_eq!(fs.read_all(&dir.path().join("CURRENT")).unwrap(), b"x");
        let l = fs.lock(&dir.path().join("LOCK")).unwrap();
        assert!(matches!(fs.lock(&dir.path().join("LOCK")), Err(Error::Locked { .. })));
        drop(l);
        fs.lock(&dir.path().join("LOCK")).unwrap();
        assert!(fs.open(&p).unwrap().read_at(8, 10).is_err());
    }

    #[test]
    fn preallocate_extends_the_file_without_moving_appends() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let mut f = StdFs.create(&p).unwrap();
        f.append(b"abc").unwrap();
        f.flush().unwrap();
        f.preallocate(4096, Reserve::Allocate).unwrap();
        f.append(b"def").unwrap();
        f.preallocate(200_000, Reserve::WriteZeroes).unwrap();
        f.append(b"ghi").unwrap();
        f.sync().unwrap();
        assert_eq!(f.len(), 9);
        let data = StdFs.read_all(&p).unwrap();
        assert_eq!(data.len(), 200_000);
        assert_eq!(&data[..9], b"abcdefghi");
        assert!(data[9..].iter().all(|&b| b == 0));
    }
}
