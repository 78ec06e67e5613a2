//! The backup directory: a content store of tables shared by every backup, plus one JSON
//! manifest per backup.
//!
//! ```text
//! <root>/KVD-BACKUPS                  marker naming the store format
//! <root>/LOCK                         held while a backup or a delete changes the store
//! <root>/tables/NNNNNN-SIZE-XXH3.sst  each distinct table once (name, size, xxh3-64)
//! <root>/backups/backup-NNNNNN.json   one per backup: a backup exists iff its JSON does
//! <root>/tmp/                         checkpoints and copies in progress
//! ```
//!
//! A table file is identified by its name, size and xxh3-64 checksum together, so the same
//! file number from two databases (or from a database restored and written to again) never
//! collides. A backup's JSON is written atomically after every table it names is in the
//! store: a crash mid-backup leaves at most unreferenced tables, which the next delete or
//! backup garbage-collects.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use kvd::base::file_names::{parse_file_name, FileKind};
use kvd::base::fs::{FileLock, FsRef};
use serde::{Deserialize, Serialize};

use crate::fileio::{checksum_hex, Digest};
use crate::{Error, Result};

/// The format of the store layout and of backup JSON files.
pub const STORE_FORMAT: u32 = 1;
const MARKER: &str = "KVD-BACKUPS";
const TABLES: &str = "tables";
const BACKUPS: &str = "backups";
const TMP: &str = "tmp";

/// A file of a backup: its name in the database, size and xxh3-64 (16 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoredFile {
    /// Name in the database directory, such as `000012.sst`.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// xxh3-64 of the contents, 16 lowercase hex digits.
    pub xxh3: String,
}

impl StoredFile {
    /// A table file entry from its name and digest.
    pub fn new(name: &str, d: Digest) -> Self {
        StoredFile { name: name.to_string(), size: d.size, xxh3: checksum_hex(d.xxh3) }
    }

    /// The digest this entry records.
    pub fn digest(&self) -> Result<Digest> {
        let xxh3 = u64::from_str_radix(&self.xxh3, 16)
            .ok()
            .filter(|_| self.xxh3.len() == 16)
            .ok_or_else(|| Error::corrupt(&self.name, format!("bad checksum {:?} in backup manifest", self.xxh3)))?;
        Ok(Digest { size: self.size, xxh3 })
    }

    /// The file's name in the content store: `NNNNNN-SIZE-XXH3.sst`.
    pub fn store_name(&self) -> String {
        let stem = self.name.strip_suffix(".sst").unwrap_or(&self.name);
        format!("{stem}-{}-{}.sst", self.size, self.xxh3)
    }

    fn validate(&self) -> Result<()> {
        if !matches!(parse_file_name(&self.name), Some(FileKind::Table(_))) {
            return Err(Error::corrupt(&self.name, "backup manifest names a file that is not a table"));
        }
        self.digest().map(|_| ())
    }
}

/// The database's MANIFEST as the backup holds it (bytes inline, hex-encoded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestCopy {
    /// Its name, `MANIFEST-NNNNNN`.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// xxh3-64 of the bytes, 16 lowercase hex digits.
    pub xxh3: String,
    /// The bytes, hex.
    pub data_hex: String,
}

/// One backup: everything needed to restore it, given the store's tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupMeta {
    /// [`STORE_FORMAT`] when written.
    pub format: u32,
    /// Backup id, increasing from 1.
    pub id: u64,
    /// When the backup was taken, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// The backup holds exactly the writes with sequence numbers up to this one.
    pub seqno: u64,
    /// What was backed up (a directory).
    pub source: String,
    /// Contents of `CURRENT`.
    pub current: String,
    /// The MANIFEST.
    pub manifest: ManifestCopy,
    /// Every table, by name.
    pub tables: Vec<StoredFile>,
    /// Bytes this backup added to the store (its tables the store did not hold yet).
    pub bytes_copied: u64,
}

impl BackupMeta {
    /// Bytes of the database this backup restores (tables and manifest).
    pub fn total_bytes(&self) -> u64 {
        self.tables.iter().map(|t| t.size).sum::<u64>() + self.manifest.size
    }
}

/// What a delete or garbage collection removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GcReport {
    /// The backup deleted, if any.
    pub deleted_backup: Option<u64>,
    /// Store files removed because no backup needs them any more.
    pub files_removed: u64,
    /// Their bytes.
    pub bytes_freed: u64,
}

/// An open backup directory.
pub struct BackupStore {
    fs: FsRef,
    root: PathBuf,
}

impl BackupStore {
    /// Opens the store at `root`, creating it if `root` is missing or an empty directory. A
    /// non-empty directory that is not a store is refused.
    pub fn create(fs: FsRef, root: &Path) -> Result<Self> {
        let marker = root.join(MARKER);
        if !fs.exists(&marker) {
            if fs.exists(root) && !fs.list_dir(root)?.is_empty() {
                return Err(Error::Usage(format!("{} is not empty and is not a kvd backup directory", root.display())));
            }
            for d in [TABLES, BACKUPS, TMP] {
                fs.create_dir_all(&root.join(d))?;
            }
            fs.write_atomic(&marker, format!("kvd backup store, format {STORE_FORMAT}\n").as_bytes())?;
        }
        Self::open(fs, root)
    }

    /// Opens an existing store.
    pub fn open(fs: FsRef, root: &Path) -> Result<Self> {
        if !fs.exists(&root.join(MARKER)) {
            return Err(Error::Usage(format!("{} is not a kvd backup directory (no {MARKER})", root.display())));
        }
        for d in [TABLES, BACKUPS, TMP] {
            fs.create_dir_all(&root.join(d))?;
        }
        Ok(BackupStore { fs, root: root.to_path_buf() })
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file system it lives on.
    pub fn fs(&self) -> &FsRef {
        &self.fs
    }

    /// Where the store keeps table `f`.
    pub fn table_path(&self, f: &StoredFile) -> PathBuf {
        self.root.join(TABLES).join(f.store_name())
    }

    /// The directory for work in progress.
    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join(TMP)
    }

    fn meta_path(&self, id: u64) -> PathBuf {
        self.root.join(BACKUPS).join(format!("backup-{id:06}.json"))
    }

    /// Takes the store's lock: one writer (backup, delete) at a time.
    pub(crate) fn lock(&self) -> Result<Box<dyn FileLock>> {
        self.fs.lock(&self.root.join("LOCK")).map_err(|e| match e {
            kvd::base::Error::Locked { .. } => {
                Error::Usage(format!("{} is in use by another backup or delete", self.root.display()))
            }
            e => e.into(),
        })
    }

    /// Every backup, by id ascending. A JSON file that does not parse is an error (so that
    /// garbage collection never deletes what an unreadable backup may need).
    pub fn list(&self) -> Result<Vec<BackupMeta>> {
        let mut out = Vec::new();
        for name in self.fs.list_dir(&self.root.join(BACKUPS))? {
            if !(name.starts_with("backup-") && name.ends_with(".json")) {
                continue;
            }
            let path = self.root.join(BACKUPS).join(&name);
            let bytes = self.fs.read_all(&path)?;
            let meta: BackupMeta =
                serde_json::from_slice(&bytes).map_err(|source| Error::Json { path: path.clone(), source })?;
            if meta.format != STORE_FORMAT {
                return Err(Error::Usage(format!("{}: unsupported backup format {}", path.display(), meta.format)));
            }
            meta.tables.iter().try_for_each(StoredFile::validate)?;
            out.push(meta);
        }
        out.sort_by_key(|m| m.id);
        Ok(out)
    }

    /// Backup `id`, or the latest when `None`.
    pub fn get(&self, id: Option<u64>) -> Result<BackupMeta> {
        let all = self.list()?;
        let found = match id {
            Some(id) => all.into_iter().find(|m| m.id == id),
            None => all.into_iter().last(),
        };
        found.ok_or_else(|| match id {
            Some(id) => Error::Usage(format!("no backup {id} in {}", self.root.display())),
            None => Error::Usage(format!("no backups in {}", self.root.display())),
        })
    }

    /// Names of the table files the store holds.
    pub(crate) fn stored_tables(&self) -> Result<HashSet<String>> {
        Ok(self.fs.list_dir(&self.root.join(TABLES))?.into_iter().filter(|n| n.ends_with(".sst")).collect())
    }

    /// Writes a backup's JSON atomically: from then on the backup exists.
    pub(crate) fn write_meta(&self, meta: &BackupMeta) -> Result<()> {
        let json = serde_json::to_vec_pretty(meta).map_err(|e| Error::Usage(format!("encoding backup: {e}")))?;
        self.fs.write_atomic(&self.meta_path(meta.id), &json)?;
        Ok(())
    }

    /// Deletes backup `id`, then every store file no remaining backup references.
    pub fn delete(&self, id: u64) -> Result<GcReport> {
        let _lock = self.lock()?;
        let path = self.meta_path(id);
        if !self.fs.exists(&path) {
            return Err(Error::Usage(format!("no backup {id} in {}", self.root.display())));
        }
        self.fs.remove_file(&path)?;
        self.fs.sync_dir(&self.root.join(BACKUPS))?;
        let mut r = self.gc_locked()?;
        r.deleted_backup = Some(id);
        Ok(r)
    }

    /// Removes store files no backup references, and leftovers of interrupted work.
    pub fn gc(&self) -> Result<GcReport> {
        let _lock = self.lock()?;
        self.gc_locked()
    }

    /// [`gc`](Self::gc) with the lock already held.
    pub(crate) fn gc_locked(&self) -> Result<GcReport> {
        let needed: HashSet<String> =
            self.list()?.iter().flat_map(|m| m.tables.iter().map(|t| t.store_name())).collect();
        let mut r = GcReport::default();
        for name in self.fs.list_dir(&self.root.join(TABLES))? {
            if needed.contains(&name) {
                continue;
            }
            let path = self.root.join(TABLES).join(&name);
            r.bytes_freed += self.fs.file_size(&path).unwrap_or(0);
            self.fs.remove_file(&path)?;
            r.files_removed += 1;
            tracing::info!(file = %name, "removed unreferenced table from the backup store");
        }
        self.clean_tmp()?;
        self.fs.sync_dir(&self.root.join(TABLES))?;
        Ok(r)
    }

    /// Removes the files of interrupted work under `tmp/` (its directories stay, empty).
    pub(crate) fn clean_tmp(&self) -> Result<()> {
        let tmp = self.tmp_dir();
        for name in self.fs.list_dir(&tmp)? {
            let path = tmp.join(&name);
            if path.is_dir() {
                for inner in self.fs.list_dir(&path)? {
                    self.fs.remove_file(&path.join(inner))?;
                }
            } else {
                self.fs.remove_file(&path)?;
            }
        }
        Ok(())
    }
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `ms` since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm), valid for every date after 1970.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_700_000_000_123), "2023-11-14 22:13:20 UTC");
    }

    #[test]
    fn stored_file_names_are_checked() {
        let ok = StoredFile { name: "000012.sst".into(), size: 5, xxh3: "00000000000000ff".into() };
        assert_eq!(ok.store_name(), "000012-5-00000000000000ff.sst");
        assert!(ok.validate().is_ok());
        let bad = StoredFile { name: "../../etc/passwd".into(), ..ok.clone() };
        assert!(bad.validate().is_err());
        let bad_sum = StoredFile { xxh3: "xyz".into(), ..ok };
        assert!(bad_sum.validate().is_err());
    }
}
