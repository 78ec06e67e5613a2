//! `kvd-admin restore` and `verify-backup`: check every checksum of a backup, and rebuild a
//! database directory from it.
//!
//! A restore verifies the whole backup before it writes anything: a damaged or missing file
//! fails the restore with the target untouched. It then copies each table (checking its
//! checksum again as it copies, so bytes that changed since are caught), writes the
//! MANIFEST, and writes `CURRENT` last: until then the directory holds no database.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use kvd::base::checksum::checksum64;
use kvd::base::file_names::{parse_file_name, FileKind, CURRENT, LOCK};
use kvd::base::fs::Fs;
use serde::Serialize;

use super::manifest_log::{parse_current, ManifestLog};
use super::store::{BackupMeta, BackupStore, StoredFile};
use super::verify::Problem;
use crate::bytes::parse_hex;
use crate::fileio::{checksum_hex, copy_file, hash_file, Digest};
use crate::progress::Progress;
use crate::{Error, Result};

/// What checking one backup found.
#[derive(Debug, Clone, Serialize)]
pub struct BackupCheck {
    /// The backup.
    pub id: u64,
    /// Its sequence number.
    pub seqno: u64,
    /// Files whose checksums were verified (tables and manifest).
    pub files_checked: u64,
    /// Bytes read.
    pub bytes_checked: u64,
    /// Everything wrong; empty when the backup is intact.
    pub problems: Vec<Problem>,
}

impl BackupCheck {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Digests of store files already read, so a table shared by several backups is read once.
type Seen = HashMap<String, std::result::Result<Digest, String>>;

/// Checks backup `meta`: each table is in the store with its recorded size and xxh3; the
/// manifest's bytes match their checksum, decode, and name exactly the backup's tables with
/// their sizes; `CURRENT` names the manifest.
fn check_backup(store: &BackupStore, meta: &BackupMeta, progress: &Progress, seen: &mut Seen) -> BackupCheck {
    let fs = &**store.fs();
    let mut c =
        BackupCheck { id: meta.id, seqno: meta.seqno, files_checked: 0, bytes_checked: 0, problems: Vec::new() };
    for t in &meta.tables {
        let path = store.table_path(t);
        let file = path.display().to_string();
        let got = seen.entry(file.clone()).or_insert_with(|| {
            if !fs.exists(&path) {
                progress.inc(t.size);
                return Err("missing from the backup store".to_string());
            }
            hash_file(fs, &path, progress).map_err(|e| e.to_string())
        });
        c.files_checked += 1;
        c.bytes_checked += t.size;
        let problem = match (got, t.digest()) {
            (Err(e), _) => Some(e.clone()),
            (_, Err(e)) => Some(e.to_string()),
            (Ok(have), Ok(want)) if *have != want => Some(format!(
                "{}: expected {} bytes with xxh3 {}, found {} bytes with xxh3 {}",
                t.name,
                want.size,
                t.xxh3,
                have.size,
                checksum_hex(have.xxh3)
            )),
            _ => None,
        };
        if let Some(what) = problem {
            c.problems.push(Problem { file, offset: None, what });
        }
    }
    if let Err(what) = check_manifest(meta) {
        c.problems.push(Problem { file: format!("backup {} {}", meta.id, meta.manifest.name), offset: None, what });
    }
    c.files_checked += 1;
    c.bytes_checked += meta.manifest.size;
    c
}

/// The manifest bytes of `meta`, checked against its size, checksum, tables and `CURRENT`.
fn check_manifest(meta: &BackupMeta) -> std::result::Result<Vec<u8>, String> {
    let m = &meta.manifest;
    let bytes = parse_hex(&m.data_hex).map_err(|e| format!("manifest bytes do not decode: {e}"))?;
    let sum = checksum_hex(checksum64(&bytes));
    if bytes.len() as u64 != m.size || sum != m.xxh3 {
        return Err(format!(
            "expected {} bytes with xxh3 {}, found {} bytes with xxh3 {sum}",
            m.size,
            m.xxh3,
            bytes.len()
        ));
    }
    let (current, _) = parse_current(meta.current.as_bytes()).map_err(|e| e.to_string())?;
    if current != m.name {
        return Err(format!("CURRENT names {current}, the backup holds {}", m.name));
    }
    let state = ManifestLog::decode(&bytes, &m.name).map_err(|e| e.to_string())?.state();
    let named: HashSet<(String, u64)> =
        state.version.all_files().map(|(_, f)| (format!("{:06}.sst", f.number), f.file_size)).collect();
    let listed: HashSet<(String, u64)> = meta.tables.iter().map(|t| (t.name.clone(), t.size)).collect();
    if named != listed {
        let missing: Vec<&String> = named.difference(&listed).map(|(n, _)| n).collect();
        return Err(format!("the manifest's tables differ from the backup's (not in the backup: {missing:?})"));
    }
    Ok(bytes)
}

/// Verifies backup `id` (every backup when `None`), reading each store file once.
pub fn verify_backups(store: &BackupStore, id: Option<u64>, progress: &Progress) -> Result<Vec<BackupCheck>> {
    let metas = match id {
        Some(_) => vec![store.get(id)?],
        None => store.list()?,
    };
    let mut unique: HashMap<String, u64> = HashMap::new();
    for m in &metas {
        for t in &m.tables {
            unique.insert(t.store_name(), t.size);
        }
    }
    progress.start("verify", unique.values().sum());
    let mut seen = Seen::new();
    let checks = metas.iter().map(|m| check_backup(store, m, progress, &mut seen)).collect();
    progress.finish();
    Ok(checks)
}

/// How to restore.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestoreOptions {
    /// The backup to restore; the latest when `None`.
    pub backup: Option<u64>,
    /// Restore into a non-empty directory, first deleting every kvd file in it (logs, tables,
    /// manifests, `CURRENT`, temporary files); other files are left alone.
    pub force: bool,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The backup restored.
    pub id: u64,
    /// The restored database holds exactly the writes up to this sequence number.
    pub seqno: u64,
    /// The new database directory.
    pub target: String,
    /// Tables written.
    pub tables: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Restores a backup into `target` (missing or empty, unless `opts.force`). Verifies the
/// whole backup first and writes nothing into `target` if that fails.
pub fn restore(store: &BackupStore, target: &Path, opts: RestoreOptions, progress: &Progress) -> Result<RestoreReport> {
    let fs = &**store.fs();
    let meta = store.get(opts.backup)?;
    if fs.exists(target) && !fs.list_dir(target)?.is_empty() && !opts.force {
        return Err(Error::Usage(format!(
            "{} is not empty; restore into a new directory, or pass --force to replace the database in it",
            target.display()
        )));
    }
    progress.start("verify", meta.tables.iter().map(|t| t.size).sum());
    let check = check_backup(store, &meta, progress, &mut Seen::new());
    if let Some(p) = check.problems.first() {
        progress.finish();
        let more = check.problems.len() - 1;
        let extra = if more > 0 { format!(" (and {more} more problems)") } else { String::new() };
        return Err(Error::corrupt(
            p.file.clone(),
            format!("backup {} fails verification, nothing was restored: {}{extra}", meta.id, p.what),
        ));
    }
    let manifest = check_manifest(&meta).map_err(|what| Error::corrupt(&meta.manifest.name, what))?;

    fs.create_dir_all(target)?;
    let _lock = fs.lock(&target.join(LOCK)).map_err(|e| match e {
        kvd::base::Error::Locked { .. } => Error::Usage(format!("{} is open by a running database", target.display())),
        e => e.into(),
    })?;
    if opts.force {
        purge(fs, target)?;
    }
    progress.start("restore", meta.total_bytes());
    let mut written = Vec::new();
    let result = write_files(store, &meta, &manifest, target, progress, &mut written);
    progress.finish();
    if let Err(e) = result {
        for p in written {
            let _ = fs.remove_file(&p);
        }
        return Err(e);
    }
    tracing::info!(id = meta.id, seqno = meta.seqno, target = %target.display(), "restored");
    Ok(RestoreReport {
        id: meta.id,
        seqno: meta.seqno,
        target: target.display().to_string(),
        tables: meta.tables.len() as u64,
        bytes: meta.total_bytes(),
    })
}

/// Deletes every kvd database file in `dir` except `LOCK`.
fn purge(fs: &dyn Fs, dir: &Path) -> Result<()> {
    for name in fs.list_dir(dir)? {
        if matches!(parse_file_name(&name), Some(k) if k != FileKind::Lock) {
            fs.remove_file(&dir.join(&name))?;
        }
    }
    fs.sync_dir(dir)?;
    Ok(())
}

/// Copies the tables, then the manifest, then `CURRENT`; records each path it creates.
fn write_files(
    store: &BackupStore,
    meta: &BackupMeta,
    manifest: &[u8],
    target: &Path,
    progress: &Progress,
    written: &mut Vec<std::path::PathBuf>,
) -> Result<()> {
    let fs = &**store.fs();
    for t in &meta.tables {
        let tmp = target.join(format!("{}.tmp", t.name));
        written.push(tmp.clone());
        copy_file(fs, &store.table_path(t), &tmp, Some(StoredFile::digest(t)?), progress)?;
        let to = target.join(&t.name);
        written.push(to.clone());
        fs.rename(&tmp, &to)?;
    }
    let mpath = target.join(&meta.manifest.name);
    written.push(mpath.clone());
    fs.write_atomic(&mpath, manifest)?;
    progress.inc(meta.manifest.size);
    fs.sync_dir(target)?;
    written.push(target.join(CURRENT));
    fs.write_atomic(&target.join(CURRENT), meta.current.as_bytes())?;
    Ok(())
}
