//! Background and manual compaction: pick (pure, in `kvd-compaction`), execute, land the
//! result as one manifest edit, and delete input files once no reader can reach them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use kvd_base::file_names::table_path;
use kvd_compaction::retention::RetentionPolicy;
use kvd_compaction::{execute, pick, pick_manual, CompactionTask, ExecuteParams, PickContext};
use kvd_lsm::iter::{BoxedIterator, MergingIterator};
use kvd_lsm::sstable::TableIterator;
use kvd_lsm::version::{FileMeta, Version, VersionEdit, NUM_LEVELS};

use super::stats::Counters;
use super::super_version::SuperVersion;
use super::DbInner;
use crate::Result;

/// Which files are being compacted, and whether a manual compaction holds the floor.
#[derive(Debug, Default)]
pub(crate) struct CompactionState {
    pub busy: HashSet<u64>,
    pub running: usize,
    pub manual: bool,
}

/// Per-level compaction I/O counters.
#[derive(Debug, Default)]
pub(crate) struct LevelCounters {
    pub read: [AtomicU64; NUM_LEVELS],
    pub written: [AtomicU64; NUM_LEVELS],
    pub compactions: AtomicU64,
    pub trivial_moves: AtomicU64,
}

pub(crate) fn spawn(db: Arc<DbInner>, index: usize) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(format!("kvd-compact-{index}"))
        .spawn(move || compaction_loop(&db))
        .expect("spawning a compaction thread")
}

fn compaction_loop(db: &Arc<DbInner>) {
    loop {
        if db.bg.lock().shutdown || db.is_poisoned() {
            return;
        }
        match compact_once(db) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                db.set_poison("compaction", &e);
                return;
            }
        }
        purge_obsolete_files(db);
        let mut bg = db.bg.lock();
        if bg.shutdown {
            return;
        }
        db.bg_cv.wait_for(&mut bg, db.opts.ttl_check_interval);
    }
}

/// Picks and runs one automatic compaction; false when there was nothing to do.
fn compact_once(db: &Arc<DbInner>) -> Result<bool> {
    if db.opts.disable_auto_compactions {
        return Ok(false);
    }
    let task = {
        let mut st = db.compaction.lock();
        if st.manual {
            return Ok(false);
        }
        let version = db.sv.load().version.clone();
        let ctx = PickContext { now_millis: db.now_millis(), busy: Some(&st.busy) };
        let Some(task) = pick(&version, &db.opts.compaction, &ctx) else { return Ok(false) };
        for (_, f) in task.all_inputs() {
            st.busy.insert(f.number);
        }
        st.running += 1;
        task
    };
    let result = run_task(db, &task);
    let mut st = db.compaction.lock();
    for (_, f) in task.all_inputs() {
        st.busy.remove(&f.number);
    }
    st.running -= 1;
    drop(st);
    drop(task);
    purge_obsolete_files(db);
    db.bg_cv.notify_all();
    result.map(|()| true)
}

/// See [`crate::Db::wait_for_compactions`].
pub(crate) fn wait_for_compactions(db: &Arc<DbInner>) -> Result<()> {
    // Expired-data compactions are not awaited: a file whose expired entries a snapshot still
    // pins stays eligible, and waiting on it could last as long as the snapshot.
    let cfg = kvd_compaction::CompactionConfig { ttl_compaction: false, ..db.opts.compaction.clone() };
    loop {
        db.check_writable()?;
        let sv = db.sv.load_full();
        let settled = sv.imms.is_empty() && {
            let st = db.compaction.lock();
            st.running == 0
                && (db.opts.disable_auto_compactions
                    || pick(&sv.version, &cfg, &PickContext { now_millis: db.now_millis(), busy: None }).is_none())
        };
        if settled {
            return Ok(());
        }
        drop(sv);
        super::flush::wait_for_background(db, Duration::from_millis(20));
    }
}

/// Runs `task` and installs its result.
pub(crate) fn run_task(db: &Arc<DbInner>, task: &CompactionTask) -> Result<()> {
    let edit = if task.trivial_move {
        Counters::add(&db.levels.trivial_moves, 1);
        task.trivial_move_edit()
    } else {
        let outputs = merge(db, task)?;
        if outputs.cancelled {
            return Ok(());
        }
        for (level, f) in task.all_inputs() {
            Counters::add(&db.levels.read[level], f.file_size);
        }
        Counters::add(&db.levels.written[task.output_level], outputs.bytes_written);
        Counters::add(&db.levels.compactions, 1);
        tracing::debug!(level = task.level, output_level = task.output_level, inputs = task.inputs.len() + task.output_inputs.len(), outputs = outputs.files.len(), reason = ?task.reason, "compaction finished");
        task.result_edit(&outputs.files)
    };
    install(db, edit)
}

fn merge(db: &Arc<DbInner>, task: &CompactionTask) -> Result<kvd_compaction::CompactionOutput> {
    let mut children: Vec<BoxedIterator> = Vec::new();
    for (_, f) in task.all_inputs() {
        children.push(Box::new(TableIterator::without_cache_fill(db.tables.get(f.number)?)));
    }
    let mut input = MergingIterator::new(children);
    let version = db.sv.load().version.clone();
    let below = task.output_level + 1;
    let may_exist_below = move |user_key: &[u8]| key_may_exist_below(&version, below, user_key);
    let retention = retention_policy(db);
    let next_number = || db.next_file_number.fetch_add(1, Ordering::SeqCst);
    let target = db.opts.compaction.target_file_size;
    let params = ExecuteParams {
        fs: &*db.fs,
        dir: &db.dir,
        table: db.opts.table.clone(),
        target_file_size: target,
        retention: &retention,
        new_file_number: &next_number,
        may_exist_below: &may_exist_below,
        grandparents: &task.grandparents,
        max_compaction_bytes: kvd_compaction::max_compaction_bytes(&db.opts.compaction),
        cancel: Some(&db.shutting_down),
    };
    Ok(execute(&mut input, &params)?)
}

fn key_may_exist_below(version: &Version, from_level: usize, user_key: &[u8]) -> bool {
    (from_level..NUM_LEVELS).any(|level| version.files(level).iter().any(|f| f.contains_user_key(user_key)))
}

/// Live snapshots, the history floor and the clock, as compaction must respect them.
pub(crate) fn retention_policy(db: &DbInner) -> RetentionPolicy {
    let floor = db.vs.lock().state.history_floor;
    RetentionPolicy {
        snapshots: db.snapshots.sequences(),
        history_floor: (floor != kvd_base::MAX_SEQNO).then_some(floor),
        now_millis: db.now_millis(),
    }
}

/// Logs `edit`, applies it, and publishes the new version; replaced files become obsolete.
pub(crate) fn install(db: &Arc<DbInner>, mut edit: VersionEdit) -> Result<()> {
    let mut vs = db.vs.lock();
    edit.next_file_number = Some(db.next_file_number.load(Ordering::SeqCst));
    vs.manifest.append(&edit)?;
    let old = vs.state.version.clone();
    vs.state.apply(&edit);
    let cur = db.sv.load_full();
    db.sv.store(Arc::new(SuperVersion::new(
        cur.mem.clone(),
        cur.imms.clone(),
        vs.state.version.clone(),
        &db.opts.compaction,
    )));
    let mut obsolete = db.obsolete.lock();
    for (level, number) in &edit.deleted_files {
        if let Some(f) = old.files(*level).iter().find(|f| f.number == *number) {
            obsolete.push(f.clone());
        }
    }
    drop(obsolete);
    drop(vs);
    purge_obsolete_files(db);
    Ok(())
}

/// Deletes replaced table files that no version in use still references. The obsolete list
/// stays locked until the files are gone, so when any caller returns, every file it (or a
/// concurrent purge) found deletable has been deleted.
///
/// A file is protected by *number*, not by one `Arc`: a trivial move gives the moved file a
/// new `FileMeta` in the new version while scans pinning older versions hold the old one.
/// So an entry stays listed while anything else holds it (even when its number is live
/// again after a move), and a number is deleted only when it is not live and no listed
/// entry of it is held.
pub(crate) fn purge_obsolete_files(db: &DbInner) {
    let live: HashSet<u64> = db.vs.lock().state.version.all_files().map(|(_, f)| f.number).collect();
    let mut obsolete = db.obsolete.lock();
    // One reading of the counts: a version dropped between two readings could otherwise
    // leave a number held in one and unlisted after the other, never to be deleted.
    let counts: Vec<usize> = obsolete.iter().map(Arc::strong_count).collect();
    let held: HashSet<u64> = obsolete.iter().zip(&counts).filter(|(_, &c)| c > 1).map(|(f, _)| f.number).collect();
    let mut doomed = HashSet::new();
    let mut counts = counts.into_iter();
    obsolete.retain(|f| {
        if counts.next().unwrap_or(2) > 1 {
            return true; // a version in use still reads it
        }
        if !live.contains(&f.number) && !held.contains(&f.number) {
            doomed.insert(f.number);
        }
        false
    });
    for number in doomed {
        db.tables.evict(number);
        if let Err(e) = db.fs.remove_file(&table_path(&db.dir, number)) {
            tracing::warn!(number, error = %e, "could not delete obsolete table");
        }
    }
    drop(obsolete);
}

/// Compacts every file overlapping `[begin, end]` (bounds optional) down the tree, after a
/// flush, so that afterwards the range is in the last level, with deleted and expired data
/// gone where no snapshot needs it.
pub(crate) fn compact_range(db: &Arc<DbInner>, begin: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
    super::flush::flush_and_wait(db)?;
    // Take the floor: wait for automatic compactions to drain, and keep them off meanwhile.
    loop {
        db.check_writable()?;
        let mut st = db.compaction.lock();
        if !st.manual && st.running == 0 {
            st.manual = true;
            break;
        }
        drop(st);
        super::flush::wait_for_background(db, Duration::from_millis(20));
    }
    let result = compact_range_locked(db, begin, end);
    db.compaction.lock().manual = false;
    db.bg_cv.notify_all();
    // The tasks (and the versions they read) are gone now: their inputs can be deleted.
    purge_obsolete_files(db);
    result
}

fn compact_range_locked(db: &Arc<DbInner>, begin: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
    let ctx_busy = HashSet::new();
    for level in 0..NUM_LEVELS - 1 {
        let version = db.sv.load().version.clone();
        let ctx = PickContext { now_millis: db.now_millis(), busy: Some(&ctx_busy) };
        let Some(mut task) = pick_manual(&version, level, begin, end, &ctx) else { continue };
        // Skip empty levels: merge straight into the first deeper level holding overlapping
        // data (or the last level), which no level in between can overlap.
        let (lo, hi) = range_of(&task.inputs);
        let mut out = level + 1;
        while out < NUM_LEVELS - 1 && version.overlapping(out, Some(&lo), Some(&hi)).is_empty() {
            out += 1;
        }
        task.output_level = out;
        task.output_inputs = version.overlapping(out, Some(&lo), Some(&hi));
        // The whole output range, as the picker does.
        let (glo, ghi) = range_of(&[&task.inputs[..], &task.output_inputs[..]].concat());
        task.grandparents =
            if out + 1 < NUM_LEVELS { version.overlapping(out + 1, Some(&glo), Some(&ghi)) } else { Vec::new() };
        run_task(db, &task)?;
    }
    // The last level: rewrite files still holding tombstones or expired entries.
    let version = db.sv.load().version.clone();
    let now = db.now_millis();
    let last = NUM_LEVELS - 1;
    let stale: Vec<Arc<FileMeta>> = version
        .overlapping(last, begin, end)
        .into_iter()
        .filter(|f| f.num_deletions > 0 || (f.earliest_expiry != 0 && f.earliest_expiry <= now))
        .collect();
    if !stale.is_empty() {
        let ctx = PickContext { now_millis: now, busy: Some(&ctx_busy) };
        let (lo, hi) = range_of(&stale);
        if let Some(task) = pick_manual(&version, last, Some(&lo), Some(&hi), &ctx) {
            run_task(db, &task)?;
        }
    }
    Ok(())
}

fn range_of(files: &[Arc<FileMeta>]) -> (Vec<u8>, Vec<u8>) {
    let lo = files.iter().map(|f| f.smallest_user_key()).min().unwrap_or_default().to_vec();
    let hi = files.iter().map(|f| f.largest_user_key()).max().unwrap_or_default().to_vec();
    (lo, hi)
}
