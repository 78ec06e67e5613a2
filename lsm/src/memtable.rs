//! The memtable: a concurrent skiplist (`crossbeam-skiplist`) of internal keys.
//!
//! Writers insert without blocking readers; readers never take a lock. Entries are never
//! removed: a full memtable becomes immutable and is flushed to an L0 table whole. Entry
//! bytes live in the memtable's arena (`arena.rs`), released in one piece when it is dropped.

mod arena;

use std::ops::Bound;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_skiplist::map::Entry;
use crossbeam_skiplist::SkipMap;
use std::borrow::Borrow;

use kvd_base::key::{compare_internal_keys, InternalKey, SeqNo, ValueKind, TRAILER_LEN};
use kvd_base::key_head::KeyHead;

use crate::iter::InternalIterator;
use crate::Result;
use arena::Arena;

/// Heap bytes of one skiplist node around a [`MemEntry`], for size accounting: the entry,
/// crossbeam's reference count and height, and a tower of two links on average (heights are
/// geometric with p = 1/2). No size-class rounding is charged: with mimalloc (which the `kvd`
/// server and `kvd-bench` use) it adds under half a byte per node on average, but under
/// jemalloc about 5 bytes and under glibc's malloc about 12, so an embedding application
/// with those allocators holds that much more per entry than the memtable reports. The
/// entry's bytes are counted by the arena.
const NODE_BYTES: usize = std::mem::size_of::<MemEntry>() + 8 + 2 * 8;

/// One entry: the head of its user key, and where its lengths, encoded internal key and
/// value are stored in the memtable's [`Arena`] (`varint32 key_len`, `varint32 value_len`,
/// key, value).
///
/// `head` copies the first 16 bytes of the user key into the skiplist node itself, so an
/// insert's comparisons against the nodes it passes usually finish without following `ptr`
/// to another cache line: that pointer chase, not the comparison, was the cost of inserts.
/// The lengths live in the arena rather than the node because 24-byte entries make nodes 8
/// bytes smaller: more entries fit a memtable of a given size, so flushes write larger L0
/// files and compactions rewrite less per flushed byte. They sit just before the key, so
/// reading them rarely touches a cache line the key would not.
struct MemEntry {
    head: KeyHead,
    ptr: NonNull<u8>,
}

// SAFETY: `ptr` points to immutable bytes in the arena of the memtable whose skiplist holds
// this entry; the arena outlives the skiplist and never writes or frees them, so sharing or
// sending the entry between threads is sharing a `&[u8]`.
unsafe impl Send for MemEntry {}
unsafe impl Sync for MemEntry {}

/// Writes `v` at the start of `out` as a LEB128 varint; returns the bytes written (at most 5).
fn encode_len(v: u32, out: &mut [u8; 5]) -> usize {
    let mut v = v;
    let mut n = 0;
    while v >= 0x80 {
        out[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    n + 1
}

/// Decodes the LEB128 varint `encode_len` wrote at `p`: its value and the bytes it took.
///
/// SAFETY: `p` points to a varint written by `encode_len`, readable for its whole length.
unsafe fn decode_len(p: *const u8) -> (usize, usize) {
    let mut v = 0usize;
    let mut n = 0;
    loop {
        // SAFETY: the caller guarantees the varint's bytes are readable; it ends at the first
        // byte below 0x80, within 5 bytes.
        let b = unsafe { *p.add(n) };
        v |= usize::from(b & 0x7f) << (7 * n);
        n += 1;
        if b < 0x80 {
            return (v, n);
        }
    }
}

impl MemEntry {
    /// Copies the entry into `arena`. REQUIRES: internal key and value are each under 4 GiB
    /// (the engine refuses larger writes before they reach the log).
    fn new(arena: &Arena, user_key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) -> Self {
        let trailer = kvd_base::key::pack_trailer(seq, kind).to_le_bytes();
        let key_len = u32::try_from(user_key.len() + TRAILER_LEN).expect("memtable keys are under 4 GiB");
        let value_len = u32::try_from(value.len()).expect("memtable values are under 4 GiB");
        let (mut k, mut v) = ([0u8; 5], [0u8; 5]);
        let (kn, vn) = (encode_len(key_len, &mut k), encode_len(value_len, &mut v));
        let ptr = arena.store(&[&k[..kn], &v[..vn], user_key, &trailer, value]);
        MemEntry { head: KeyHead::of(user_key), ptr }
    }

    /// The stored internal key and value.
    fn parts(&self) -> (&[u8], &[u8]) {
        // SAFETY: `ptr` came from `Arena::store` of the two varint lengths followed by that
        // many key and value bytes, and the arena lives as long as the memtable that owns this
        // entry (see the `Send`/`Sync` note).
        unsafe {
            let p = self.ptr.as_ptr();
            let (key_len, kn) = decode_len(p);
            let (value_len, vn) = decode_len(p.add(kn));
            let key = p.add(kn + vn);
            (std::slice::from_raw_parts(key, key_len), std::slice::from_raw_parts(key.add(key_len), value_len))
        }
    }

    /// The stored internal key, without decoding the value's length (comparisons of tied
    /// heads need only the key).
    fn key(&self) -> &[u8] {
        // SAFETY: as in `parts`; the value length's varint ends at its first byte below 0x80.
        unsafe {
            let p = self.ptr.as_ptr();
            let (key_len, kn) = decode_len(p);
            let mut vn = 1;
            while *p.add(kn + vn - 1) >= 0x80 {
                vn += 1;
            }
            std::slice::from_raw_parts(p.add(kn + vn), key_len)
        }
    }
}

/// What the skiplist compares: the head of a user key and the whole internal key, of a
/// stored entry or of a search key. Lookups search by `dyn SearchKey`, so, as inserts do,
/// they compare the heads held in the nodes first and follow an entry's `ptr` only when
/// the heads are equal: without the heads every node a get or seek passed cost a cache
/// miss.
trait SearchKey {
    fn head(&self) -> KeyHead;
    fn internal_key(&self) -> &[u8];
}

impl SearchKey for MemEntry {
    fn head(&self) -> KeyHead {
        self.head
    }
    fn internal_key(&self) -> &[u8] {
        self.key()
    }
}

/// A search key: an encoded internal key (no allocation) with its head.
struct Probe<'a> {
    head: KeyHead,
    key: &'a [u8],
}

impl<'a> Probe<'a> {
    fn new(internal_key: &'a [u8]) -> Probe<'a> {
        Probe { head: KeyHead::of(kvd_base::key::user_key(internal_key)), key: internal_key }
    }
}

impl SearchKey for Probe<'_> {
    fn head(&self) -> KeyHead {
        self.head
    }
    fn internal_key(&self) -> &[u8] {
        self.key
    }
}

impl PartialEq for dyn SearchKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for dyn SearchKey + '_ {}

impl PartialOrd for dyn SearchKey + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn SearchKey + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Same order as comparing the internal keys (see `KeyHead`).
        self.head().cmp(&other.head()).then_with(|| compare_internal_keys(self.internal_key(), other.internal_key()))
    }
}

impl<'a> Borrow<dyn SearchKey + 'a> for MemEntry {
    fn borrow(&self) -> &(dyn SearchKey + 'a) {
        self
    }
}

impl PartialEq for MemEntry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for MemEntry {}

impl PartialOrd for MemEntry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MemEntry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Same order as comparing the keys (see `KeyHead`), usually without touching `ptr`.
        self.head.cmp(&other.head).then_with(|| compare_internal_keys(self.key(), other.key()))
    }
}

/// A sorted in-memory table of internal keys. Thread-safe; shared through `Arc`.
pub struct MemTable {
    // Declared before `arena` so the entries pointing into it are dropped first.
    map: SkipMap<MemEntry, ()>,
    arena: Arena,
    max_seq: AtomicU64,
    log_number: u64,
}

/// The newest visible version of a key found in a memtable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Sequence number of the version.
    pub seq: SeqNo,
    /// What it records (value, value with expiry, or tombstone).
    pub kind: ValueKind,
    /// The stored value (empty for tombstones).
    pub value: Vec<u8>,
}

impl MemTable {
    /// An empty memtable whose entries are logged in write-ahead log `log_number`.
    pub fn new(log_number: u64) -> Self {
        MemTable { map: SkipMap::new(), arena: Arena::new(), max_seq: AtomicU64::new(0), log_number }
    }

    /// The write-ahead log holding this memtable's entries.
    pub fn log_number(&self) -> u64 {
        self.log_number
    }

    /// Inserts one entry. REQUIRES: `(user_key, seq)` is new to this memtable.
    pub fn insert(&self, user_key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        self.map.insert(MemEntry::new(&self.arena, user_key, seq, kind, value), ());
        self.max_seq.fetch_max(seq, Ordering::Relaxed);
    }

    /// The largest sequence number inserted (0 when empty).
    pub fn max_seq(&self) -> SeqNo {
        self.max_seq.load(Ordering::Relaxed)
    }

    /// The newest version of `user_key` with sequence number `<= seq`, tombstones included.
    pub fn get(&self, user_key: &[u8], seq: SeqNo) -> Option<Found> {
        let seek = InternalKey::seek_key(user_key, seq);
        let probe = Probe::new(seek.encoded());
        let entry = self.map.lower_bound::<dyn SearchKey>(Bound::Included(&probe))?;
        let (key, value) = entry.key().parts();
        let parsed = kvd_base::key::parse_internal_key(key).ok()?;
        if parsed.user_key != user_key {
            return None;
        }
        Some(Found { seq: parsed.seq, kind: parsed.kind, value: value.to_vec() })
    }

    /// Bytes of memory taken, approximately: keys and values in the arena and the skiplist
    /// nodes (the arena's last chunk may hold up to 1 MiB more, not yet used).
    pub fn approximate_size(&self) -> usize {
        self.arena.used_bytes() + self.map.len() * NODE_BYTES
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// An iterator over every entry; it keeps the memtable alive.
    pub fn iter(self: &Arc<Self>) -> MemTableIterator {
        MemTableIterator { current: None, parts: (&[], &[]), mem: self.clone() }
    }
}

/// An [`InternalIterator`] over a memtable.
///
/// It holds a skiplist entry and steps with the entry's own links (no search per step);
/// entries inserted concurrently may or may not be seen, which is harmless because readers
/// filter by sequence number.
pub struct MemTableIterator {
    // Declared before `mem` so it is dropped first: it points into `mem`'s skiplist.
    current: Option<Entry<'static, MemEntry, ()>>,
    /// The current entry's key and value, decoded once per step rather than on every
    /// `key()`/`value()` call (a scan asks for both, and each decodes the lengths).
    parts: (&'static [u8], &'static [u8]),
    mem: Arc<MemTable>,
}

impl MemTableIterator {
    fn set(&mut self, e: Option<Entry<'_, MemEntry, ()>>) {
        // SAFETY: the entry borrows the skiplist owned by `self.mem`, which this iterator keeps
        // alive for at least as long as the entry (field order above), and memtables never
        // remove nodes, so the entry stays valid; the 'static lifetime never escapes: `key()`
        // and `value()` hand out borrows tied to `&self`.
        let e = e.map(|e| unsafe { std::mem::transmute::<Entry<'_, _, _>, Entry<'static, _, _>>(e) });
        self.set_static(e);
    }

    fn set_static(&mut self, e: Option<Entry<'static, MemEntry, ()>>) {
        self.parts = match &e {
            Some(e) => {
                let (key, value) = e.key().parts();
                // SAFETY: both point into the arena of `self.mem`, which lives as long as this
                // iterator; as for `current`, only borrows tied to `&self` are handed out.
                unsafe { (&*(key as *const [u8]), &*(value as *const [u8])) }
            }
            None => (&[], &[]),
        };
        self.current = e;
    }
}

impl InternalIterator for MemTableIterator {
    fn valid(&self) -> bool {
        self.current.is_some()
    }

    fn seek_to_first(&mut self) -> Result<()> {
        let mem = self.mem.clone();
        self.set(mem.map.front());
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        let mem = self.mem.clone();
        self.set(mem.map.back());
        Ok(())
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        let mem = self.mem.clone();
        self.set(mem.map.lower_bound::<dyn SearchKey>(Bound::Included(&Probe::new(target))));
        Ok(())
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        let mem = self.mem.clone();
        self.set(mem.map.upper_bound::<dyn SearchKey>(Bound::Included(&Probe::new(target))));
        Ok(())
    }

    fn next(&mut self) -> Result<()> {
        let next = self.current.as_ref().and_then(|e| e.next());
        self.set_static(next);
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        let prev = self.current.as_ref().and_then(|e| e.prev());
        self.set_static(prev);
        Ok(())
    }

    fn key(&self) -> &[u8] {
        self.parts.0
    }

    fn value(&self) -> &[u8] {
        self.parts.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lengths_round_trip_at_every_varint_width() {
        for v in [0u32, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455, 268_435_456, u32::MAX] {
            let mut buf = [0u8; 5];
            let n = encode_len(v, &mut buf);
            // SAFETY: `buf` holds the varint just written.
            assert_eq!(unsafe { decode_len(buf.as_ptr()) }, (v as usize, n), "{v}");
        }
    }

    #[test]
    fn entries_keep_key_and_value_across_length_widths() {
        assert_eq!(std::mem::size_of::<MemEntry>(), 24, "nodes were sized for 24-byte entries");
        let arena = Arena::new();
        for (klen, vlen) in [(1, 0), (119, 127), (120, 128), (300, 20_000), (1, 300_000)] {
            let key = vec![7u8; klen];
            let value: Vec<u8> = (0..vlen).map(|i| i as u8).collect();
            let e = MemEntry::new(&arena, &key, 9, ValueKind::Put, &value);
            assert_eq!(kvd_base::key::user_key(e.key()), &key[..]);
            assert_eq!(e.parts().1, &value[..]);
        }
    }

    proptest! {
        #[test]
        fn entry_order_with_heads_is_internal_key_order(
            a in proptest::collection::vec(0u8..3, 0..24), b in proptest::collection::vec(0u8..3, 0..24),
            sa in 0u64..4, sb in 0u64..4,
        ) {
            let arena = Arena::new();
            let ea = MemEntry::new(&arena, &a, sa, ValueKind::Put, b"v");
            let eb = MemEntry::new(&arena, &b, sb, ValueKind::Put, b"w");
            prop_assert_eq!(ea.cmp(&eb), compare_internal_keys(ea.key(), eb.key()));
            // A search key for `b` orders against the entry `a` as the internal keys do.
            let probe = Probe::new(eb.key());
            let by_probe = <dyn SearchKey>::cmp(&ea, &probe as &dyn SearchKey);
            prop_assert_eq!(by_probe, compare_internal_keys(ea.key(), eb.key()));
        }
    }

    #[test]
    fn get_sees_newest_visible_version() {
        let m = MemTable::new(1);
        m.insert(b"k", 1, ValueKind::Put, b"v1");
        m.insert(b"k", 3, ValueKind::Put, b"v3");
        m.insert(b"k", 5, ValueKind::Delete, b"");
        m.insert(b"kk", 2, ValueKind::Put, b"x");
        assert_eq!(m.get(b"k", 0), None);
        assert_eq!(m.get(b"k", 2).unwrap().value, b"v1");
        assert_eq!(m.get(b"k", 4).unwrap().value, b"v3");
        assert_eq!(m.get(b"k", 9).unwrap().kind, ValueKind::Delete);
        assert_eq!(m.get(b"j", 9), None);
        assert!(m.approximate_size() > 0);
    }

    /// Keys sharing their first 16 bytes have equal heads: lookups must fall back to the
    /// whole key, forwards and backwards.
    #[test]
    fn lookups_tell_apart_keys_with_equal_heads() {
        let m = Arc::new(MemTable::new(1));
        let key = |i: u8| [&[b'p'; 16][..], &[b'0' + i, b'x']].concat();
        for i in (0..8).step_by(2) {
            m.insert(&key(i), u64::from(i) + 1, ValueKind::Put, &[i]);
        }
        assert_eq!(m.get(&key(4), 9).unwrap().value, vec![4]);
        assert_eq!(m.get(&key(3), 9), None);
        assert_eq!(m.get(&key(4), 4), None, "version 5 is newer than the read");
        let mut it = m.iter();
        it.seek(InternalKey::seek_key(&key(3), 9).encoded()).unwrap();
        assert_eq!(it.value(), [4]);
        it.seek_for_prev(InternalKey::seek_key(&key(3), 9).encoded()).unwrap();
        assert_eq!(it.value(), [2]);
    }

    #[test]
    fn iterates_both_ways() {
        let m = Arc::new(MemTable::new(1));
        for (i, k) in [b"a", b"b", b"c"].iter().enumerate() {
            m.insert(*k, i as u64 + 1, ValueKind::Put, *k);
        }
        let mut it = m.iter();
        it.seek_to_first().unwrap();
        let mut fwd = Vec::new();
        while it.valid() {
            fwd.push(kvd_base::key::user_key(it.key()).to_vec());
            it.next().unwrap();
        }
        assert_eq!(fwd, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        it.seek_to_last().unwrap();
        assert_eq!(it.value(), b"c");
        it.prev().unwrap();
        assert_eq!(it.value(), b"b");
        it.seek_for_prev(InternalKey::new(b"bz", 0, ValueKind::Put).encoded()).unwrap();
        assert_eq!(it.value(), b"b");
        it.seek(InternalKey::new(b"bz", 0, ValueKind::Put).encoded()).unwrap();
        assert_eq!(it.value(), b"c");
    }
}
