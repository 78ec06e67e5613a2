//! `kvd-admin backup`: incremental, consistent point-in-time backups.
//!
//! A backup is taken with [`kvd::Db::checkpoint`] into the store's `tmp/checkpoint` (hard
//! links, so it costs a memtable flush and no copying when the store shares a file system
//! with the database; a full copy otherwise), while writers keep going. Each table of the
//! checkpoint is then looked up in the store by name, size and xxh3-64: only tables the store
//! lacks are copied (hashed as they are copied, and synced); the rest are reused. The backup
//! exists once its JSON manifest is written, last and atomically.
//!
//! The database and the store must be on the same [`Fs`](kvd::base::fs::Fs): the checkpoint
//! is written through the database's and read through the store's.

use std::path::{Path, PathBuf};

use kvd::base::file_names::CURRENT;
use kvd::{Db, Options};
use serde::Serialize;

use super::manifest_log::{parse_current, ManifestLog};
use super::store::{now_ms, BackupMeta, BackupStore, ManifestCopy, StoredFile, STORE_FORMAT};
use crate::bytes::hex;
use crate::fileio::{checksum_hex, copy_file, hash_file};
use crate::progress::Progress;
use crate::{Error, Result};

/// What a backup did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BackupReport {
    /// The new backup's id.
    pub id: u64,
    /// It holds exactly the writes with sequence numbers up to this one.
    pub seqno: u64,
    /// Tables in the backup.
    pub tables: u64,
    /// Tables copied into the store (it did not hold them).
    pub tables_copied: u64,
    /// Tables the store already held.
    pub tables_reused: u64,
    /// Bytes of the database backed up (tables and manifest).
    pub bytes_total: u64,
    /// Bytes copied into the store.
    pub bytes_copied: u64,
}

/// Where a backup comes from, as the command line names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A database directory, opened by the tool.
    Dir(PathBuf),
    /// A running server's address (`http://host:port` or `host:port`).
    Server(String),
}

impl Source {
    /// An existing path is a directory; otherwise `scheme://...` or `host:port` is a server.
    pub fn parse(s: &str) -> Source {
        let p = Path::new(s);
        let looks_like_address = s.contains("://")
            || s.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if p.exists() || !looks_like_address {
            Source::Dir(p.to_path_buf())
        } else {
            Source::Server(s.to_string())
        }
    }
}

/// Backs up the open database `db` into `store`.
pub fn backup_db(db: &Db, store: &BackupStore, progress: &Progress) -> Result<BackupReport> {
    let _lock = store.lock()?;
    store.clean_tmp()?;
    let id = store.list()?.last().map_or(1, |m| m.id + 1);
    let ckpt = store.tmp_dir().join("checkpoint");
    let seqno = db.checkpoint(&ckpt)?;
    tracing::info!(id, seqno, checkpoint = %ckpt.display(), "checkpoint taken");
    let source = db.path().display().to_string();
    let result = store_checkpoint(store, &ckpt, id, seqno, source, progress);
    progress.finish();
    if let Err(e) = store.clean_tmp() {
        tracing::warn!(error = %e, "could not remove the checkpoint after the backup");
    }
    result
}

/// Backs up a running kvd at `addr` through its `Checkpoint` RPC: the server writes a
/// checkpoint into this store's temporary directory, then the tables the store lacks are
/// copied as for a local backup. The server and the store must therefore share a file
/// system (the tool runs on the server's host, or the store is on a shared mount).
pub fn backup_server(addr: &str, store: &BackupStore, progress: &Progress) -> Result<BackupReport> {
    let _lock = store.lock()?;
    store.clean_tmp()?;
    let id = store.list()?.last().map_or(1, |m| m.id + 1);
    let ckpt = std::path::absolute(store.tmp_dir().join("checkpoint"))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let seqno = runtime
        .block_on(async {
            let client = kvd_server::client::KvdClient::connect(addr).await?;
            client.checkpoint(ckpt.to_string_lossy().into_owned()).await
        })
        .map_err(|e| Error::Usage(format!("checkpoint through the server at {addr} failed: {e}")))?
        .header
        .map_or(0, |h| h.seqno);
    tracing::info!(id, seqno, checkpoint = %ckpt.display(), "server checkpoint taken");
    let result = store_checkpoint(store, &ckpt, id, seqno, addr.to_string(), progress);
    progress.finish();
    if let Err(e) = store.clean_tmp() {
        tracing::warn!(error = %e, "could not remove the checkpoint after the backup");
    }
    result
}

/// Opens the database in `dir` (it must exist and not be open elsewhere), backs it up into
/// `store` and closes it.
pub fn backup_dir(dir: &Path, store: &BackupStore, progress: &Progress) -> Result<BackupReport> {
    let opts = Options {
        create_if_missing: false,
        disable_auto_compactions: true,
        fs: store.fs().clone(),
        ..Options::default()
    };
    let db = Db::open(dir, opts).map_err(|e| match e {
        kvd::Error::Locked(m) => Error::Usage(format!(
            "{m}: the database is open (a running kvd?). Back it up through the server instead \
             (kvd-admin backup <server address> ...), or stop it first"
        )),
        e => e.into(),
    })?;
    let r = backup_db(&db, store, progress);
    db.close()?;
    r
}

/// Copies what the store lacks of the checkpoint in `ckpt`, then writes the backup's JSON.
fn store_checkpoint(
    store: &BackupStore,
    ckpt: &Path,
    id: u64,
    seqno: u64,
    source: String,
    progress: &Progress,
) -> Result<BackupReport> {
    let fs = &**store.fs();
    let current = fs.read_all(&ckpt.join(CURRENT))?;
    let (manifest_name, _) = parse_current(&current)?;
    let manifest = fs.read_all(&ckpt.join(&manifest_name))?;
    let state = ManifestLog::decode(&manifest, &manifest_name)?.state();
    let mut live: Vec<u64> = state.version.all_files().map(|(_, f)| f.number).collect();
    live.sort_unstable();

    let stored = store.stored_tables()?;
    let paths: Vec<PathBuf> = live.iter().map(|n| kvd::base::file_names::table_path(ckpt, *n)).collect();
    let sizes = paths.iter().map(|p| fs.file_size(p)).collect::<std::result::Result<Vec<u64>, _>>()?;
    let mut r = BackupReport { id, seqno, tables: live.len() as u64, ..Default::default() };
    progress.start("backup", sizes.iter().sum());
    let mut tables = Vec::with_capacity(live.len());
    for (path, size) in paths.iter().zip(sizes) {
        let name = crate::fileio::file_name(path);
        let stem = name.trim_end_matches(".sst");
        let prefix = format!("{stem}-{size}-");
        let tmp = store.tmp_dir().join(format!("{name}.copy"));
        let (file, copied) = if stored.iter().any(|s| s.starts_with(&prefix)) {
            // Same name and size: hash to decide, and copy only a different file.
            let d = hash_file(fs, path, progress)?;
            let f = StoredFile::new(&name, d);
            let have = stored.contains(&f.store_name());
            if !have {
                copy_file(fs, path, &tmp, Some(d), &Progress::hidden())?;
            }
            (f, !have)
        } else {
            let d = copy_file(fs, path, &tmp, None, progress)?;
            (StoredFile::new(&name, d), true)
        };
        if copied {
            fs.rename(&tmp, &store.table_path(&file))?;
            r.tables_copied += 1;
            r.bytes_copied += file.size;
            tracing::info!(table = %name, bytes = file.size, "copied into the store");
        } else {
            r.tables_reused += 1;
        }
        tables.push(file);
    }
    fs.sync_dir(&store.root().join("tables"))?;

    let meta = BackupMeta {
        format: STORE_FORMAT,
        id,
        created_at_ms: now_ms(),
        seqno,
        source,
        current: String::from_utf8_lossy(&current).into_owned(),
        manifest: ManifestCopy {
            name: manifest_name,
            size: manifest.len() as u64,
            xxh3: checksum_hex(kvd::base::checksum::checksum64(&manifest)),
            data_hex: hex(&manifest),
        },
        tables,
        bytes_copied: r.bytes_copied,
    };
    r.bytes_total = meta.total_bytes();
    store.write_meta(&meta)?;
    tracing::info!(id, seqno, copied = r.bytes_copied, total = r.bytes_total, "backup written");
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert_eq!(Source::parse("http://127.0.0.1:50051"), Source::Server("http://127.0.0.1:50051".into()));
        assert_eq!(Source::parse("db.example:50051"), Source::Server("db.example:50051".into()));
        assert_eq!(Source::parse("./data"), Source::Dir("./data".into()));
    }
}
