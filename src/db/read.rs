//! Point reads and the stats report.

use std::sync::atomic::Ordering;

use kvd_base::key::{decode_expiring_value, parse_internal_key, ValueKind};
use kvd_base::SeqNo;
use kvd_lsm::version::NUM_LEVELS;

use super::stats::{Counters, LevelStats, Stats};
use super::DbInner;
use crate::{Error, Result};

/// The newest entry for a key visible at some sequence number: its kind and stored value.
pub(crate) struct Entry {
    pub seq: SeqNo,
    pub kind: ValueKind,
    pub value: Vec<u8>,
}

/// Finds the newest version of `key` with sequence number `<= seq`: memtable, immutable
/// memtables newest first, then tables newest first. Tombstones are returned, not skipped.
pub(crate) fn lookup(db: &DbInner, key: &[u8], seq: SeqNo) -> Result<Option<Entry>> {
    let sv = db.sv.load_full();
    for mem in std::iter::once(&sv.mem).chain(sv.imms.iter()) {
        if let Some(f) = mem.get(key, seq) {
            return Ok(Some(Entry { seq: f.seq, kind: f.kind, value: f.value }));
        }
    }
    for file in sv.version.files_for_key(key) {
        if file.smallest_seqno > seq {
            continue;
        }
        let table = db.tables.get(file.number)?;
        if let Some((ikey, value)) = table.get(key, seq)? {
            let parsed = parse_internal_key(&ikey).map_err(|e| Error::from(e.in_file(table.file_name(), 0)))?;
            return Ok(Some(Entry { seq: parsed.seq, kind: parsed.kind, value }));
        }
    }
    Ok(None)
}

/// As [`lookup`] without reading any file: `None` when the answer needs a table that is not
/// open yet or a data block the block cache does not hold.
pub(crate) fn lookup_in_memory(db: &DbInner, key: &[u8], seq: SeqNo) -> Result<Option<Option<Entry>>> {
    let sv = db.sv.load_full();
    for mem in std::iter::once(&sv.mem).chain(sv.imms.iter()) {
        if let Some(f) = mem.get(key, seq) {
            return Ok(Some(Some(Entry { seq: f.seq, kind: f.kind, value: f.value })));
        }
    }
    for file in sv.version.files_for_key(key) {
        if file.smallest_seqno > seq {
            continue;
        }
        let Some(table) = db.tables.get_open(file.number) else { return Ok(None) };
        match table.get_if_cached(key, seq)? {
            None => return Ok(None),
            Some(None) => {}
            Some(Some((ikey, value))) => {
                let parsed = parse_internal_key(&ikey).map_err(|e| Error::from(e.in_file(table.file_name(), 0)))?;
                return Ok(Some(Some(Entry { seq: parsed.seq, kind: parsed.kind, value })));
            }
        }
    }
    Ok(Some(None))
}

/// Resolves an entry to the user's value: `None` for tombstones and expired values.
pub(crate) fn visible_value(entry: Entry, now_millis: u64) -> Result<Option<Vec<u8>>> {
    match entry.kind {
        ValueKind::Put => Ok(Some(entry.value)),
        kind => Ok(visible_slice(kind, &entry.value, now_millis)?.map(<[u8]>::to_vec)),
    }
}

/// [`visible_value`] over a borrowed stored value: the one rule every point read
/// (`get`, `multi_get`) applies. A malformed expiring value is a corruption error.
pub(crate) fn visible_slice(kind: ValueKind, stored: &[u8], now_millis: u64) -> Result<Option<&[u8]>> {
    match kind {
        ValueKind::Delete => Ok(None),
        ValueKind::Put => Ok(Some(stored)),
        ValueKind::PutWithExpiry => {
            let (expires, value) = decode_expiring_value(stored).map_err(|e| Error::from(e.in_file("value", 0)))?;
            Ok((expires > now_millis).then_some(value))
        }
    }
}

pub(crate) fn get(db: &DbInner, key: &[u8], seq: SeqNo) -> Result<Option<Vec<u8>>> {
    Counters::add(&db.counters.gets, 1);
    match lookup(db, key, seq)? {
        Some(e) => visible_value(e, db.now_millis()),
        None => Ok(None),
    }
}

pub(crate) fn stats(db: &DbInner) -> Stats {
    let sv = db.sv.load_full();
    let c = &db.counters;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let (hits, misses) = db.tables.block_cache().map_or((0, 0), |bc| (bc.hits(), bc.misses()));
    Stats {
        sequence: db.visible_seq.load(Ordering::Acquire),
        memtable_bytes: sv.mem.approximate_size() as u64,
        immutable_memtables: sv.imms.len(),
        immutable_memtable_bytes: sv.imms.iter().map(|m| m.approximate_size() as u64).sum(),
        block_cache_bytes: db.tables.block_cache().map_or(0, |bc| bc.used_bytes()),
        table_reader_bytes: db.tables.reader_bytes(),
        levels: (0..NUM_LEVELS)
            .map(|l| LevelStats {
                files: sv.version.files(l).len(),
                bytes: sv.version.level_bytes(l),
                read_bytes: get(&db.levels.read[l]),
                written_bytes: get(&db.levels.written[l]) + if l == 0 { get(&c.flush_bytes) } else { 0 },
            })
            .collect(),
        compactions: get(&db.levels.compactions),
        pending_compaction_bytes: sv.pending_compaction_bytes,
        trivial_moves: get(&db.levels.trivial_moves),
        write_amplification: {
            let flushed = get(&c.flush_bytes);
            let compacted: u64 = db.levels.written.iter().map(get).sum();
            if flushed == 0 {
                0.0
            } else {
                (flushed + compacted) as f64 / flushed as f64
            }
        },
        writes: get(&c.writes),
        write_groups: get(&c.write_groups),
        wal_bytes: db.wal.bytes_written(),
        wal_syncs: db.wal.syncs(),
        flushes: get(&c.flushes),
        flush_bytes: get(&c.flush_bytes),
        stall_slowdowns: get(&c.slowdowns),
        stall_stops: get(&c.stops),
        stall_micros: get(&c.stall_micros),
        gets: get(&c.gets),
        block_cache_hits: hits,
        block_cache_misses: misses,
        live_snapshots: db.snapshots.count(),
    }
}

/// True if any entry in `[lo, hi)` (hi open when `None`) has a sequence number above `seq`.
pub(crate) fn range_modified_since(db: &DbInner, lo: &[u8], hi: Option<&[u8]>, seq: SeqNo) -> Result<bool> {
    use kvd_base::key::{InternalKey, MAX_SEQNO};
    use kvd_lsm::iter::{BoxedIterator, InternalIterator, MergingIterator};
    let sv = db.sv.load_full();
    let mut children: Vec<BoxedIterator> = vec![Box::new(sv.mem.iter())];
    for m in &sv.imms {
        children.push(Box::new(m.iter()));
    }
    for (_, f) in sv.version.all_files() {
        if f.largest_seqno > seq && f.overlaps(Some(lo), hi) {
            children.push(Box::new(db.tables.get(f.number)?.iter()));
        }
    }
    let mut it = MergingIterator::new(children);
    it.seek(InternalKey::seek_key(lo, MAX_SEQNO).encoded())?;
    while it.valid() {
        let p = parse_internal_key(it.key()).map_err(|e| Error::from(e.in_file("range check", 0)))?;
        if hi.is_some_and(|h| p.user_key >= h) {
            return Ok(false);
        }
        if p.seq > seq {
            return Ok(true);
        }
        it.next()?;
    }
    Ok(false)
}
