//! Names of the files in a database directory, and parsing them back.
//!
//! `NNNNNN.log` write-ahead logs, `NNNNNN.sst` tables, `MANIFEST-NNNNNN`, `CURRENT` (names the
//! live manifest), `LOCK` (held by the opener) and `*.tmp` files being written.

use std::path::{Path, PathBuf};

/// Name of the file that names the live manifest.
pub const CURRENT: &str = "CURRENT";
/// Name of the lock file.
pub const LOCK: &str = "LOCK";

/// The kind of a file found in a database directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A write-ahead log with its file number.
    Wal(u64),
    /// An SSTable with its file number.
    Table(u64),
    /// A manifest with its file number.
    Manifest(u64),
    /// The `CURRENT` pointer.
    Current,
    /// The `LOCK` file.
    Lock,
    /// A temporary file (safe to delete at open).
    Temp,
}

/// Path of write-ahead log `number` in `dir`.
pub fn wal_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:06}.log"))
}

/// Path of SSTable `number` in `dir`.
pub fn table_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:06}.sst"))
}

/// Path of manifest `number` in `dir`.
pub fn manifest_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("MANIFEST-{number:06}"))
}

/// Parses a file name (not a path) of a database directory.
pub fn parse_file_name(name: &str) -> Option<FileKind> {
    match name {
        CURRENT => return Some(FileKind::Current),
        LOCK => return Some(FileKind::Lock),
        _ => {}
    }
    if name.ends_with(".tmp") {
        return Some(FileKind::Temp);
    }
    if let Some(n) = name.strip_prefix("MANIFEST-") {
        return n.parse().ok().map(FileKind::Manifest);
    }
    if let Some(n) = name.strip_suffix(".log") {
        return n.parse().ok().map(FileKind::Wal);
    }
    if let Some(n) = name.strip_suffix(".sst") {
        return n.parse().ok().map(FileKind::Table);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip() {
        let d = Path::new("/x");
        let name = |p: PathBuf| p.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(parse_file_name(&name(wal_path(d, 7))), Some(FileKind::Wal(7)));
        assert_eq!(parse_file_name(&name(table_path(d, 1234567))), Some(FileKind::Table(1234567)));
        assert_eq!(parse_file_name(&name(manifest_path(d, 3))), Some(FileKind::Manifest(3)));
        assert_eq!(parse_file_name("CURRENT"), Some(FileKind::Current));
        assert_eq!(parse_file_name("CURRENT.tmp"), Some(FileKind::Temp));
        assert_eq!(parse_file_name("notes.txt"), None);
    }
}
