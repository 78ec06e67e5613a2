//! Batched point reads: many keys at one sequence number, resolved in key order.
//!
//! A `get` starts from the top of the tree for every key: the memtables, then each table that
//! may hold the key, finding the file, probing its bloom filter, binary-searching its index,
//! looking the data block up in the cache and seeking in the block. `multi_get` sorts the keys
//! first and walks forward: each level remembers the file it reached, each file a
//! [`GetCursor`] remembering the block and the position in it, so neighbouring keys share that
//! work. The deepest level, where the keys of a batch (documents named by an index, say) are
//! usually found, skips its bloom filter, as RocksDB's `optimize_filters_for_hits` does: a
//! probe there only saves a block read for a key that turns out absent.
//!
//! Each key's answer is exactly `get`'s at the same sequence number: the newest version at or
//! below it, from the same sources in the same order (memtable, immutable memtables newest
//! first, L0 newest first, then one file per level), resolved by the same rule for tombstones
//! and expiry ([`read::visible_slice`](super::read::visible_slice)).

use std::sync::Arc;

use kvd_base::key::parse_internal_key;
use kvd_base::SeqNo;
use kvd_lsm::sstable::GetCursor;
use kvd_lsm::version::NUM_LEVELS;

use super::read::visible_slice;
use super::stats::Counters;
use super::super_version::SuperVersion;
use super::{Db, DbInner};
use crate::{ReadOptions, Result};

impl Db {
    /// The values of `keys` as of `opts.snapshot` (or `opts.seqno`, or now), one per key in
    /// the order given: for each, what [`Db::get_opt`] would return, all read at one sequence
    /// number. Keys may repeat and come in any order; bounds in `opts` are ignored.
    ///
    /// Cheaper than a loop of `get`s when there are many keys, especially keys close together:
    /// they are looked up in sorted order, reusing the file, data block and position the
    /// previous key reached. Expects the keys to exist more often than not (the deepest level
    /// skips its bloom filter).
    ///
    /// ```
    /// use kvd::{Db, Options, ReadOptions};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path(), Options::default()).unwrap();
    /// db.put(b"a", b"1").unwrap();
    /// db.put(b"c", b"3").unwrap();
    /// let got = db.multi_get(&[&b"c"[..], b"b", b"a", b"c"], &ReadOptions::default()).unwrap();
    /// assert_eq!(got, vec![Some(b"3".to_vec()), None, Some(b"1".to_vec()), Some(b"3".to_vec())]);
    /// ```
    pub fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K], opts: &ReadOptions<'_>) -> Result<Vec<Option<Vec<u8>>>> {
        let seq = self.read_seq(opts)?;
        let keys: Vec<&[u8]> = keys.iter().map(AsRef::as_ref).collect();
        multi_get(&self.inner, &keys, seq)
    }
}

/// The values of `keys` at `seq`, in the order given.
pub(crate) fn multi_get(db: &DbInner, keys: &[&[u8]], seq: SeqNo) -> Result<Vec<Option<Vec<u8>>>> {
    Counters::add(&db.counters.gets, keys.len() as u64);
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| keys[i]);
    let mut out: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
    let mut walk = Walk::new(db, seq);
    let mut prev: Option<usize> = None;
    for i in order {
        out[i] = match prev {
            Some(p) if keys[p] == keys[i] => out[p].clone(),
            _ => walk.get(keys[i])?,
        };
        prev = Some(i);
    }
    Ok(out)
}

/// Where a level's walk has reached: the first file whose largest key is not below the keys
/// asked so far, and a cursor over the file last read.
#[derive(Default)]
struct LevelPos {
    file: usize,
    cursor: Option<(usize, GetCursor)>,
}

/// One forward walk over a pinned super version. REQUIRES: `get` is called with ascending
/// keys (each level's file position only moves forward).
struct Walk<'a> {
    db: &'a DbInner,
    sv: Arc<SuperVersion>,
    seq: SeqNo,
    now: u64,
    /// A cursor per L0 file (in `files(0)` order), opened on first use.
    l0: Vec<Option<GetCursor>>,
    levels: Vec<LevelPos>,
    /// The deepest level holding files, whose bloom filters are skipped.
    bottom: usize,
}

impl<'a> Walk<'a> {
    fn new(db: &'a DbInner, seq: SeqNo) -> Self {
        let sv = db.sv.load_full();
        let l0 = sv.version.files(0).iter().map(|_| None).collect();
        let bottom = (0..NUM_LEVELS).rev().find(|&l| !sv.version.files(l).is_empty()).unwrap_or(0);
        Walk {
            db,
            sv,
            seq,
            now: db.now_millis(),
            l0,
            levels: (0..NUM_LEVELS).map(|_| LevelPos::default()).collect(),
            bottom,
        }
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let (seq, now) = (self.seq, self.now);
        for mem in std::iter::once(&self.sv.mem).chain(self.sv.imms.iter()) {
            if let Some(f) = mem.get(key, seq) {
                return Ok(visible_slice(f.kind, &f.value, now)?.map(<[u8]>::to_vec));
            }
        }
        let version = &self.sv.version;
        for (i, f) in version.files(0).iter().enumerate() {
            if f.smallest_seqno > seq || !f.contains_user_key(key) {
                continue;
            }
            let cursor = match &mut self.l0[i] {
                Some(c) => c,
                slot => slot.insert(GetCursor::new(self.db.tables.get(f.number)?)),
            };
            if let Some(v) = found(cursor, key, seq, now, true)? {
                return Ok(v);
            }
        }
        for level in 1..NUM_LEVELS {
            let files = version.files(level);
            let pos = &mut self.levels[level];
            while files.get(pos.file).is_some_and(|f| f.largest_user_key() < key) {
                pos.file += 1;
            }
            let Some(f) = files.get(pos.file) else { continue };
            if f.smallest_user_key() > key || f.smallest_seqno > seq {
                continue;
            }
            let cursor = match &mut pos.cursor {
                Some((n, c)) if *n == pos.file => c,
                slot => &mut slot.insert((pos.file, GetCursor::new(self.db.tables.get(f.number)?))).1,
            };
            if let Some(v) = found(cursor, key, seq, now, level != self.bottom)? {
                return Ok(v);
            }
        }
        Ok(None)
    }
}

/// Looks `key` up through `cursor`: `None` when the table has no version of it at or below
/// `seq`, else `Some` of its visible value (`None` for a tombstone or an expired value).
fn found(
    cursor: &mut GetCursor,
    key: &[u8],
    seq: SeqNo,
    now: u64,
    use_filter: bool,
) -> Result<Option<Option<Vec<u8>>>> {
    let Some((ikey, stored)) = cursor.get(key, seq, use_filter)? else {
        return Ok(None);
    };
    match parse_internal_key(ikey) {
        Ok(p) => Ok(Some(visible_slice(p.kind, stored, now)?.map(<[u8]>::to_vec))),
        Err(e) => Err(e.in_file(cursor.table().file_name(), 0).into()),
    }
}
