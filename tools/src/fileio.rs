//! Streaming file reads and copies that hash as they go (xxh3-64), through the `Fs` trait.

use std::path::Path;

use kvd::base::fs::Fs;
use xxhash_rust::xxh3::Xxh3;

use crate::progress::Progress;
use crate::{Error, Result};

/// Bytes read or written per I/O call.
const CHUNK: u64 = 1 << 20;

/// Size and xxh3-64 checksum of a file's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest {
    /// Length in bytes.
    pub size: u64,
    /// xxh3-64 of the bytes.
    pub xxh3: u64,
}

/// The checksum as kvd's tools print and store it: 16 lowercase hex digits.
pub fn checksum_hex(xxh3: u64) -> String {
    format!("{xxh3:016x}")
}

/// Reads `path` once, returning its [`Digest`]; `progress` advances by the bytes read.
pub fn hash_file(fs: &dyn Fs, path: &Path, progress: &Progress) -> Result<Digest> {
    let file = fs.open(path)?;
    let size = file.len();
    let mut h = Xxh3::new();
    let mut pos = 0;
    while pos < size {
        let n = CHUNK.min(size - pos);
        let buf = file.read_at(pos, n as usize)?;
        h.update(&buf);
        pos += n;
        progress.inc(n);
    }
    Ok(Digest { size, xxh3: h.digest() })
}

/// Copies `from` to `to` and syncs it, returning the digest of the bytes copied. When
/// `expected` is given and the bytes do not match it, `to` is removed and a corruption error
/// names `from`. Callers copy to a temporary name and rename once the digest is known good.
pub fn copy_file(fs: &dyn Fs, from: &Path, to: &Path, expected: Option<Digest>, progress: &Progress) -> Result<Digest> {
    let src = fs.open(from)?;
    let size = src.len();
    let mut dst = fs.create(to)?;
    let mut h = Xxh3::new();
    let mut pos = 0;
    let copied = (|| -> Result<()> {
        while pos < size {
            let n = CHUNK.min(size - pos);
            let buf = src.read_at(pos, n as usize)?;
            h.update(&buf);
            dst.append(&buf)?;
            pos += n;
            progress.inc(n);
        }
        dst.sync()?;
        Ok(())
    })();
    drop(dst);
    let digest = Digest { size, xxh3: h.digest() };
    let result = copied.and_then(|()| match expected {
        Some(want) if want != digest => Err(Error::corrupt(
            from.display().to_string(),
            format!(
                "expected {} bytes with xxh3 {}, found {} bytes with xxh3 {}",
                want.size,
                checksum_hex(want.xxh3),
                digest.size,
                checksum_hex(digest.xxh3)
            ),
        )),
        _ => Ok(()),
    });
    if let Err(e) = result {
        let _ = fs.remove_file(to);
        return Err(e);
    }
    Ok(digest)
}

/// The final path component as a string (`"?"` when there is none or it is not UTF-8).
pub fn file_name(path: &Path) -> String {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string()
}

#[cfg(test)]
mod tests {
    use kvd::base::fs::MemFs;

    use super::*;

    #[test]
    fn copy_hashes_and_refuses_a_mismatch() {
        let fs = MemFs::new();
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        fs.write_atomic(&dir.join("a"), &data).unwrap();
        let p = Progress::hidden();
        let d = hash_file(&fs, &dir.join("a"), &p).unwrap();
        assert_eq!(d, Digest { size: data.len() as u64, xxh3: xxhash_rust::xxh3::xxh3_64(&data) });
        let got = copy_file(&fs, &dir.join("a"), &dir.join("b"), Some(d), &p).unwrap();
        assert_eq!(got, d);
        assert_eq!(fs.read_all(&dir.join("b")).unwrap(), data);
        let wrong = Digest { xxh3: d.xxh3 ^ 1, ..d };
        let e = copy_file(&fs, &dir.join("a"), &dir.join("c"), Some(wrong), &p).unwrap_err();
        assert!(e.is_corruption() && e.to_string().contains("/d/a"), "{e}");
        assert!(!fs.exists(&dir.join("c")));
    }
}
