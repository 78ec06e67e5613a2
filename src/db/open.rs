//! Opening a database: lock, manifest replay, log replay, and a fresh manifest and log.
//!
//! Recovery ends in a clean state: replayed log entries are written to L0 tables, a new
//! manifest records them together with the new log number, and only then are the old logs,
//! manifests and any orphaned tables (from a flush that crashed before its manifest edit)
//! deleted. A crash at any step leaves either the old state or the new one.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use arc_swap::ArcSwap;
use kvd_base::file_names::{parse_file_name, wal_path, FileKind, LOCK};
use kvd_base::fs::Fs;
use kvd_lsm::cache::BlockCache;
use kvd_lsm::manifest::{recover, ManifestState, ManifestWriter};
use kvd_lsm::memtable::MemTable;
use kvd_lsm::version::VersionEdit;
use kvd_wal::{LogReader, Wal};
use parking_lot::{Condvar, Mutex};

use super::flush::write_table;
use super::snapshot::SnapshotList;
use super::super_version::SuperVersion;
use super::table_cache::TableCache;
use super::write::WriteQueue;
use super::{DbInner, VersionSet};
use crate::batch::decode_record;
use crate::options::Options;
use crate::{Error, Result};

pub(crate) fn open(dir: &Path, opts: Options) -> Result<DbInner> {
    let fs = opts.fs.clone();
    if opts.write_buffer_size == 0 || opts.max_immutable_memtables == 0 {
        return Err(Error::InvalidArgument("write_buffer_size and max_immutable_memtables must be positive".into()));
    }
    if !fs.exists(dir) {
        if !opts.create_if_missing {
            return Err(Error::InvalidArgument(format!("{} does not exist", dir.display())));
        }
        fs.create_dir_all(dir)?;
    }
    let lock = fs.lock(&dir.join(LOCK)).map_err(|e| match e {
        kvd_base::Error::Locked { path } => Error::Locked(format!("{} is held by another opener", path.display())),
        other => Error::Base(other),
    })?;

    let mut state = match recover(&*fs, dir)? {
        Some((_, state)) => {
            if opts.error_if_exists {
                return Err(Error::InvalidArgument(format!("database {} already exists", dir.display())));
            }
            state
        }
        None => {
            if !opts.create_if_missing {
                return Err(Error::InvalidArgument(format!("no database in {}", dir.display())));
            }
            ManifestState::new_db()
        }
    };

    let names = fs.list_dir(dir)?;
    let mut max_number = state.next_file_number;
    let mut logs = Vec::new();
    for name in &names {
        match parse_file_name(name) {
            Some(FileKind::Wal(n)) => {
                max_number = max_number.max(n + 1);
                if n >= state.log_number {
                    logs.push(n);
                }
            }
            Some(FileKind::Table(n) | FileKind::Manifest(n)) => max_number = max_number.max(n + 1),
            _ => {}
        }
    }
    logs.sort_unstable();
    let mut next_file = max_number;

    // Replay logs into memtables, writing a table whenever one fills up.
    let mut edit = VersionEdit::default();
    let mut last_seq = state.last_seqno;
    let mut mem = Arc::new(MemTable::new(0));
    for &log in &logs {
        let path = wal_path(dir, log);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string();
        let mut reader = LogReader::open(&*fs, &path, opts.recovery_mode)?;
        while let Some(record) = reader.next_record()? {
            // Logs at or above the manifest's log number are in no table: replay all of them.
            for e in decode_record(&record, &name, reader.last_record_offset().unwrap_or(0))? {
                mem.insert(&e.key, e.seq, e.kind, &e.value);
                last_seq = last_seq.max(e.seq);
            }
            if mem.approximate_size() >= opts.write_buffer_size {
                if let Some(meta) = write_table(&*fs, dir, &opts.table, next_file, &mem)? {
                    edit.new_files.push((0, meta));
                }
                next_file += 1;
                mem = Arc::new(MemTable::new(0));
            }
        }
        if let Some((offset, reason)) = reader.tail_dropped() {
            tracing::warn!(file = %name, offset, %reason, "dropped a torn record at the end of the log");
        }
    }
    if let Some(meta) = write_table(&*fs, dir, &opts.table, next_file, &mem)? {
        edit.new_files.push((0, meta));
    }
    next_file += 1;

    let log_number = next_file;
    let manifest_number = next_file + 1;
    next_file += 2;
    let wal =
        Wal::create_with_preallocation(fs.clone(), dir, log_number, opts.sync_policy, opts.wal_preallocate_bytes)?;
    edit.log_number = Some(log_number);
    edit.next_file_number = Some(next_file);
    edit.last_seqno = Some(last_seq);
    state.apply(&edit);
    let manifest = ManifestWriter::create(&*fs, dir, manifest_number, &state)?;

    delete_obsolete_files(&*fs, dir, &state, manifest_number, log_number);
    tracing::info!(dir = %dir.display(), last_seq, tables = state.version.num_files(), replayed_logs = logs.len(), "opened database");

    let block_cache = (opts.block_cache_bytes > 0).then(|| Arc::new(BlockCache::new(opts.block_cache_bytes)));
    let sv =
        SuperVersion::new(Arc::new(MemTable::new(log_number)), Vec::new(), state.version.clone(), &opts.compaction);
    Ok(DbInner {
        dir: dir.to_path_buf(),
        fs: fs.clone(),
        lock: Mutex::new(Some(lock)),
        sv: ArcSwap::from_pointee(sv),
        vs: Mutex::new(VersionSet { manifest, state }),
        next_file_number: AtomicU64::new(next_file),
        last_seq: AtomicU64::new(last_seq),
        flushed_seq: AtomicU64::new(last_seq),
        visible_seq: AtomicU64::new(last_seq),
        wal,
        writers: WriteQueue::default(),
        tables: TableCache::new(fs, dir.to_path_buf(), block_cache),
        snapshots: Arc::new(SnapshotList::default()),
        bg: Mutex::default(),
        bg_cv: Condvar::new(),
        poison: Mutex::new(None),
        poisoned: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        shutting_down: AtomicBool::new(false),
        counters: Default::default(),
        compaction: Mutex::default(),
        levels: Default::default(),
        obsolete: Mutex::default(),
        opts,
    })
}

/// Deletes what the new state no longer references: old logs and manifests, tables not in
/// the version (orphans of a crashed flush), and temporary files. Best effort.
fn delete_obsolete_files(fs: &dyn Fs, dir: &Path, state: &ManifestState, manifest: u64, log: u64) {
    let live: std::collections::HashSet<u64> = state.version.all_files().map(|(_, f)| f.number).collect();
    let Ok(names) = fs.list_dir(dir) else { return };
    for name in names {
        let obsolete = match parse_file_name(&name) {
            Some(FileKind::Wal(n)) => n < log,
            Some(FileKind::Manifest(n)) => n != manifest,
            Some(FileKind::Table(n)) => !live.contains(&n),
            Some(FileKind::Temp) => true,
            _ => false,
        };
        if obsolete {
            if let Err(e) = fs.remove_file(&dir.join(&name)) {
                tracing::warn!(file = %name, error = %e, "could not delete obsolete file");
            }
        }
    }
}
