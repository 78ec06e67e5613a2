//! Memtable switch and the background flush of immutable memtables to L0 tables.
//!
//! A flush writes and syncs the table, then logs one manifest edit that adds it and advances
//! the log number past the flushed memtable's log; only after that edit is durable is the
//! log deleted. A crash anywhere before leaves the log in place to be replayed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use kvd_base::file_names::{parse_file_name, table_path, FileKind};
use kvd_base::fs::Fs;
use kvd_lsm::iter::InternalIterator;
use kvd_lsm::memtable::MemTable;
use kvd_lsm::sstable::{TableBuilder, TableOptions};
use kvd_lsm::version::{FileMeta, VersionEdit};

use super::stats::Counters;
use super::super_version::SuperVersion;
use super::DbInner;
use crate::{Error, Result};

/// Starts the background thread that flushes immutable memtables.
pub(crate) fn spawn(db: Arc<DbInner>) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("kvd-flush".into())
        .spawn(move || flush_loop(&db))
        .expect("spawning the flush thread")
}

fn flush_loop(db: &Arc<DbInner>) {
    loop {
        {
            let mut bg = db.bg.lock();
            while !bg.shutdown && db.sv.load().imms.is_empty() && !db.is_poisoned() {
                db.bg_cv.wait_for(&mut bg, Duration::from_millis(200));
            }
            if bg.shutdown || db.is_poisoned() {
                return;
            }
        }
        let Some(imm) = db.sv.load().imms.last().cloned() else { continue };
        if let Err(e) = flush_memtable(db, &imm) {
            db.set_poison("flush", &e);
            return;
        }
        db.bg_cv.notify_all();
    }
}

/// Wakes the background thread and waits up to `timeout` for it to make progress.
pub(crate) fn wait_for_background(db: &DbInner, timeout: Duration) {
    let mut bg = db.bg.lock();
    db.bg_cv.notify_all();
    db.bg_cv.wait_for(&mut bg, timeout);
}

/// Whether waiting on L0 triggers can ever end: only when something compacts L0.
pub(crate) fn compaction_can_help(db: &DbInner) -> bool {
    !db.opts.disable_auto_compactions
}

/// Makes the active memtable immutable and starts a new one on a new log. Called by the
/// commit leader (or with the write queue otherwise idle), so no write races the switch.
pub(crate) fn switch_memtable(db: &Arc<DbInner>) -> Result<()> {
    let number = db.next_file_number.fetch_add(1, Ordering::SeqCst);
    db.wal.rotate(number).map_err(|e| db.set_poison("log rotation", &e.into()))?;
    let _vs = db.vs.lock();
    let cur = db.sv.load_full();
    let mut imms = Vec::with_capacity(cur.imms.len() + 1);
    imms.push(cur.mem.clone());
    imms.extend(cur.imms.iter().cloned());
    db.sv.store(Arc::new(SuperVersion::new(
        Arc::new(MemTable::new(number)),
        imms,
        cur.version.clone(),
        &db.opts.compaction,
    )));
    db.bg_cv.notify_all();
    Ok(())
}

/// Switches a non-empty memtable and waits until nothing waits for flush.
pub(crate) fn flush_and_wait(db: &Arc<DbInner>) -> Result<()> {
    db.check_writable()?;
    db.writers.run_exclusive(|| {
        if db.sv.load().mem.is_empty() {
            return Ok(());
        }
        switch_memtable(db)
    })?;
    loop {
        db.check_writable()?;
        if db.sv.load().imms.is_empty() {
            return Ok(());
        }
        wait_for_background(db, Duration::from_millis(50));
    }
}

/// Writes every entry of `mem` into table `number`; returns its metadata, or `None` when the
/// memtable is empty. The table file is synced, and so is the directory.
pub(crate) fn write_table(
    fs: &dyn Fs,
    db_dir: &std::path::Path,
    opts: &TableOptions,
    number: u64,
    mem: &Arc<MemTable>,
) -> Result<Option<FileMeta>> {
    if mem.is_empty() {
        return Ok(None);
    }
    let path = table_path(db_dir, number);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string();
    let mut builder = TableBuilder::new(fs.create(&path)?, name, opts.clone());
    let mut it = mem.iter();
    it.seek_to_first()?;
    while it.valid() {
        builder.add(it.key(), it.value())?;
        it.next()?;
    }
    let props = builder.finish()?;
    fs.sync_dir(db_dir)?;
    Ok(Some(FileMeta::from_properties(number, &props)))
}

fn flush_memtable(db: &Arc<DbInner>, imm: &Arc<MemTable>) -> Result<()> {
    let number = db.next_file_number.fetch_add(1, Ordering::SeqCst);
    let meta = write_table(&*db.fs, &db.dir, &db.opts.table, number, imm)?;
    let mut vs = db.vs.lock();
    let cur = db.sv.load_full();
    let pos = cur
        .imms
        .iter()
        .position(|m| Arc::ptr_eq(m, imm))
        .ok_or_else(|| Error::InvalidArgument("flushed memtable vanished from the immutable list".into()))?;
    // The oldest log still needed is the next newer memtable's.
    let next_log = if pos > 0 { cur.imms[pos - 1].log_number() } else { cur.mem.log_number() };
    let mut edit = VersionEdit {
        log_number: Some(next_log),
        next_file_number: Some(db.next_file_number.load(Ordering::SeqCst)),
        last_seqno: Some(vs.state.last_seqno.max(imm.max_seq())),
        ..Default::default()
    };
    let bytes = meta.as_ref().map_or(0, |m| m.file_size);
    if let Some(m) = meta {
        edit.new_files.push((0, m));
    }
    vs.manifest.append(&edit)?;
    vs.state.apply(&edit);
    db.flushed_seq.fetch_max(imm.max_seq(), Ordering::SeqCst);
    let mut imms = cur.imms.clone();
    imms.remove(pos);
    db.sv.store(Arc::new(SuperVersion::new(cur.mem.clone(), imms, vs.state.version.clone(), &db.opts.compaction)));
    drop(vs);
    Counters::add(&db.counters.flushes, 1);
    Counters::add(&db.counters.flush_bytes, bytes);
    delete_obsolete_logs(db, next_log);
    Ok(())
}

/// Removes write-ahead logs older than `min_live_log` (best effort: a failure leaves an
/// orphan that the next open deletes).
pub(crate) fn delete_obsolete_logs(db: &DbInner, min_live_log: u64) {
    let Ok(names) = db.fs.list_dir(&db.dir) else { return };
    for name in names {
        if let Some(FileKind::Wal(n)) = parse_file_name(&name) {
            if n < min_live_log {
                if let Err(e) = db.fs.remove_file(&db.dir.join(&name)) {
                    tracing::warn!(file = %name, error = %e, "could not delete obsolete log");
                }
            }
        }
    }
}
