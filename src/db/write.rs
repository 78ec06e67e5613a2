//! The write path: a queue of writers with group commit.
//!
//! Writers enqueue; the writer at the front is the leader. It takes the writers queued behind
//! it as one group, makes room (switching a full memtable, stalling on too many immutable
//! memtables or L0 files), appends ONE log record for the whole group, syncs at most once,
//! inserts every entry into the memtable, publishes the group's last sequence number, and
//! wakes the followers. Because only the leader does this, sequence numbers are assigned and
//! published in commit order, and a group is visible all at once.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvd_base::SeqNo;
use parking_lot::{Condvar, Mutex};

use super::stats::Counters;
use super::DbInner;
use crate::batch::{stored_entries, RecordEncoder, WriteBatch};
use crate::options::WriteOptions;
use crate::{Error, Result};

/// Largest group the leader assembles, in approximate bytes.
const MAX_GROUP_BYTES: usize = 1 << 20;

/// What must still hold when a write commits, checked atomically by the commit leader:
/// nothing newer than `read_seq` was written to `keys` or within `ranges`. This is the
/// conflict check of optimistic transactions and of read-modify-write operations.
#[derive(Debug, Clone, Default)]
pub struct Precondition {
    /// The sequence number the writer's reads were made at.
    pub read_seq: SeqNo,
    /// Keys that must be unchanged since `read_seq`.
    pub keys: Vec<Vec<u8>>,
    /// Ranges `[start, end)` (end open when `None`) that must hold no write newer than
    /// `read_seq` (for serializable scans).
    pub ranges: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

struct PendingWrite {
    batch: WriteBatch,
    sync: bool,
    precondition: Option<Precondition>,
    /// A placeholder holding the queue for `run_exclusive`, never part of a group.
    exclusive: bool,
    /// What the writer waits for; its own lock and condvar, not the queue's, so finishing a
    /// group wakes its members and the next leader only, and the woken threads do not all
    /// contend for the queue lock the next leader needs (with dozens of writers those
    /// wake-ups cost more CPU than the commits).
    turn: Mutex<Turn>,
    cv: Condvar,
}

/// A queued writer's state, set by the leader before it wakes the writer.
enum Turn {
    /// Queued behind the front.
    Waiting,
    /// At the front: lead the next group.
    Lead,
    /// Committed (or refused) as part of another writer's group.
    Done(Result<SeqNo>),
}

impl PendingWrite {
    fn new(batch: WriteBatch, sync: bool, precondition: Option<Precondition>, exclusive: bool) -> Arc<Self> {
        let turn = Mutex::new(Turn::Waiting);
        Arc::new(PendingWrite { batch, sync, precondition, exclusive, turn, cv: Condvar::new() })
    }

    /// Blocks until this writer leads (`None`) or another leader committed it (its result).
    fn wait_turn(&self) -> Option<Result<SeqNo>> {
        let mut turn = self.turn.lock();
        loop {
            match std::mem::replace(&mut *turn, Turn::Waiting) {
                Turn::Waiting => self.cv.wait(&mut turn),
                Turn::Lead => return None,
                Turn::Done(r) => return Some(r),
            }
        }
    }

    /// Wakes this writer with `turn`.
    fn wake(&self, turn: Turn) {
        *self.turn.lock() = turn;
        self.cv.notify_one();
    }
}

/// Writers waiting to commit, front first.
#[derive(Default)]
pub(crate) struct WriteQueue {
    queue: Mutex<VecDeque<Arc<PendingWrite>>>,
    /// Signalled when the queue becomes empty, for [`WriteQueue::wait_idle`].
    idle: Condvar,
}

impl WriteQueue {
    /// Blocks until no writer is queued or committing.
    pub(crate) fn wait_idle(&self) {
        let mut q = self.queue.lock();
        while !q.is_empty() {
            self.idle.wait_for(&mut q, Duration::from_millis(10));
        }
    }

    /// Enqueues `w`; true when it is alone, so it leads at once.
    fn enqueue(&self, w: &Arc<PendingWrite>) -> bool {
        let mut q = self.queue.lock();
        q.push_back(Arc::clone(w));
        q.len() == 1
    }

    /// Removes the `n` writers at the front (the leader's group, or an exclusive holder)
    /// and wakes the new front writer to lead, or the `wait_idle` callers when none is left.
    ///
    /// Exactly one writer leads at a time: a writer enqueued behind others is made leader
    /// here, by whoever removes the writers before it; a writer enqueued alone leads itself.
    fn pop_and_hand_over(&self, n: usize) {
        let mut q = self.queue.lock();
        for _ in 0..n {
            q.pop_front();
        }
        let next = q.front().cloned();
        if next.is_none() {
            self.idle.notify_all();
        }
        drop(q);
        if let Some(next) = next {
            next.wake(Turn::Lead);
        }
    }
}

/// Largest key or value any configuration accepts: memtable entries record the lengths of
/// their internal key and value in 32 bits.
const HARD_SIZE_LIMIT: usize = u32::MAX as usize - kvd_base::key::TRAILER_LEN;

fn validate(db: &DbInner, batch: &WriteBatch) -> Result<()> {
    let max_key = db.opts.max_key_size.min(HARD_SIZE_LIMIT);
    let max_value = db.opts.max_value_size.min(HARD_SIZE_LIMIT);
    for op in batch.ops() {
        let key = op.key();
        if key.is_empty() {
            return Err(Error::InvalidArgument("key must not be empty".into()));
        }
        if key.len() > max_key {
            return Err(Error::InvalidArgument(format!("key of {} bytes exceeds max_key_size {max_key}", key.len())));
        }
        if let Some(v) = op.value() {
            if v.len() > max_value {
                return Err(Error::InvalidArgument(format!(
                    "value of {} bytes exceeds max_value_size {max_value}",
                    v.len()
                )));
            }
        }
    }
    Ok(())
}

pub(crate) fn write(
    db: &Arc<DbInner>,
    batch: WriteBatch,
    opts: WriteOptions,
    precondition: Option<Precondition>,
) -> Result<SeqNo> {
    validate(db, &batch)?;
    db.check_writable()?;
    if batch.is_empty() {
        return Ok(db.visible_seq.load(Ordering::Acquire));
    }
    let me = PendingWrite::new(batch, opts.sync, precondition, false);
    if !db.writers.enqueue(&me) {
        if let Some(r) = me.wait_turn() {
            return r;
        }
    }
    // Leader: take a group from the front, bounded so a small write is not stuck behind a
    // huge group (LevelDB's rule).
    let q = db.writers.queue.lock();
    debug_assert!(q.front().is_some_and(|f| Arc::ptr_eq(f, &me)), "the leader is at the front");
    let first_size = me.batch.approximate_size();
    let limit = if first_size <= 128 << 10 { first_size + (128 << 10) } else { MAX_GROUP_BYTES };
    let mut group = Vec::new();
    let mut bytes = 0;
    for w in q.iter() {
        if w.exclusive || (!group.is_empty() && bytes + w.batch.approximate_size() > limit) {
            break;
        }
        bytes += w.batch.approximate_size();
        group.push(w.clone());
    }
    drop(q);

    let result = commit_group(db, &group);

    // The next leader first: its group's log write can start while this one's followers wake.
    db.writers.pop_and_hand_over(group.len());
    for (i, w) in group.iter().enumerate().skip(1) {
        let r = match &result {
            Ok(outcomes) => outcomes[i].clone().map_err(Outcome::into_error),
            Err(e) => Err(follower_error(e)),
        };
        w.wake(Turn::Done(r));
    }
    result?[0].clone().map_err(Outcome::into_error)
}

/// Why one writer of a group did not commit while the others did.
#[derive(Debug, Clone)]
enum Outcome {
    Conflict(String),
}

impl Outcome {
    fn into_error(self) -> Error {
        match self {
            Outcome::Conflict(m) => Error::Conflict(m),
        }
    }
}

/// Checks `pre` against the database and against the keys written by earlier members of the
/// same group (not yet in the memtable).
fn check_precondition(db: &DbInner, pre: &Precondition, group_keys: &HashSet<Vec<u8>>) -> Result<Option<Outcome>> {
    for key in &pre.keys {
        if group_keys.contains(key) {
            return Ok(Some(Outcome::Conflict(format!("key {} was written concurrently", show(key)))));
        }
        if let Some(e) = super::read::lookup(db, key, kvd_base::MAX_SEQNO)? {
            if e.seq > pre.read_seq {
                return Ok(Some(Outcome::Conflict(format!(
                    "key {} changed at seqno {} after the read at {}",
                    show(key),
                    e.seq,
                    pre.read_seq
                ))));
            }
        }
    }
    for (lo, hi) in &pre.ranges {
        let in_range = |k: &Vec<u8>| k >= lo && hi.as_ref().is_none_or(|h| k < h);
        if group_keys.iter().any(in_range) || super::read::range_modified_since(db, lo, hi.as_deref(), pre.read_seq)? {
            return Ok(Some(Outcome::Conflict(format!("range starting at {} changed after the read", show(lo)))));
        }
    }
    Ok(None)
}

fn show(key: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(key).chars().take(64).collect();
    format!("{s:?}")
}

/// Followers get an equivalent error; I/O errors poison the database, so they say so.
fn follower_error(e: &Error) -> Error {
    match e {
        Error::Closed => Error::Closed,
        Error::Poisoned(r) => Error::Poisoned(r.clone()),
        other => Error::Poisoned(other.to_string()),
    }
}

/// Commits `group`; returns each writer's last sequence number, or why that writer alone
/// was refused. An `Err` fails the whole group.
fn commit_group(db: &Arc<DbInner>, group: &[Arc<PendingWrite>]) -> Result<Vec<std::result::Result<SeqNo, Outcome>>> {
    db.check_writable()?;
    make_room(db)?;
    // Reading the clock costs a syscall on some platforms: only TTL writes need it.
    let now = if group.iter().any(|w| w.batch.has_ttl()) { db.now_millis() } else { 0 };
    let first = db.last_seq.load(Ordering::Acquire) + 1;
    let bytes: usize = group.iter().map(|w| w.batch.approximate_size()).sum();
    let mut enc = RecordEncoder::new(first, bytes);
    let mut outcomes = Vec::with_capacity(group.len());
    let checking = group.iter().any(|w| w.precondition.is_some());
    let mut group_keys = HashSet::new();
    for w in group {
        if let Some(pre) = &w.precondition {
            if let Some(refused) = check_precondition(db, pre, &group_keys)? {
                outcomes.push(Err(refused));
                continue;
            }
        }
        if checking {
            group_keys.extend(w.batch.ops().iter().map(|op| op.key().to_vec()));
        }
        enc.add(&w.batch, now);
        outcomes.push(Ok(first + u64::from(enc.count()) - 1));
    }
    let count = u64::from(enc.count());
    if count == 0 {
        return Ok(outcomes);
    }
    let record = enc.finish();
    let sync = group.iter().any(|w| w.sync);
    db.wal.append(&record, sync).map_err(|e| db.set_poison("write-ahead log append", &e.into()))?;

    let mem = db.sv.load().mem.clone();
    let mut seq = first;
    for (w, outcome) in group.iter().zip(&outcomes) {
        if outcome.is_err() {
            continue;
        }
        for (kind, key, value) in stored_entries(&w.batch, now) {
            mem.insert(key, seq, kind, &value);
            seq += 1;
        }
    }
    let last = first + count - 1;
    db.last_seq.store(last, Ordering::Release);
    db.visible_seq.store(last, Ordering::Release);
    Counters::add(&db.counters.writes, outcomes.iter().filter(|o| o.is_ok()).count() as u64);
    Counters::add(&db.counters.write_groups, 1);
    Ok(outcomes)
}

/// Ensures the active memtable has room, switching it when full and stalling while too many
/// immutable memtables or L0 files wait for background work. Leader only.
fn make_room(db: &Arc<DbInner>) -> Result<()> {
    let mut slowed = false;
    // Set at the first wait only: reading the clock on every commit showed in profiles.
    let mut started: Option<Instant> = None;
    loop {
        db.check_writable()?;
        let sv = db.sv.load_full();
        let l0 = sv.version.files(0).len();
        let pending = sv.pending_compaction_bytes;
        let can_help = super::flush::compaction_can_help(db);
        if can_help && (l0 >= db.opts.l0_stop_writes_trigger || pending >= db.opts.hard_pending_compaction_bytes_limit)
        {
            started.get_or_insert_with(Instant::now);
            Counters::add(&db.counters.stops, 1);
            super::flush::wait_for_background(db, Duration::from_millis(100));
            continue;
        }
        let slow = l0 >= db.opts.l0_slowdown_writes_trigger || pending >= db.opts.soft_pending_compaction_bytes_limit;
        if can_help && slow && !slowed {
            slowed = true;
            started.get_or_insert_with(Instant::now);
            Counters::add(&db.counters.slowdowns, 1);
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        if sv.mem.approximate_size() < db.opts.write_buffer_size {
            break;
        }
        if sv.imms.len() >= db.opts.max_immutable_memtables {
            started.get_or_insert_with(Instant::now);
            Counters::add(&db.counters.stops, 1);
            super::flush::wait_for_background(db, Duration::from_millis(100));
            continue;
        }
        super::flush::switch_memtable(db)?;
    }
    if let Some(started) = started {
        Counters::add(&db.counters.stall_micros, started.elapsed().as_micros() as u64);
    }
    Ok(())
}

impl WriteQueue {
    /// Runs `f` while holding the front of the write queue, so no commit runs concurrently
    /// (used to switch memtables outside the write path, as `flush()` does).
    pub(crate) fn run_exclusive<T>(&self, f: impl FnOnce() -> T) -> T {
        let me = PendingWrite::new(WriteBatch::new(), false, None, true);
        if !self.enqueue(&me) {
            // Never part of a group, so never `Done`: it waits to lead.
            let done = me.wait_turn();
            debug_assert!(done.is_none(), "an exclusive holder is never committed by a leader");
        }
        let out = f();
        self.pop_and_hand_over(1);
        out
    }
}
