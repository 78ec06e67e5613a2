//! Helpers shared by the `sstable_*` integration tests: a deterministic generator of sorted
//! entries, table building on `MemFs`, and a checker that compares a table with a sorted-`Vec`
//! model (every operation of the internal iterator, and point gets).
#![allow(dead_code)]

use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

use kvd_base::fs::{Fs, MemFs};
use kvd_base::key::{compare_internal_keys, encode_expiring_value, user_key, InternalKey};
use kvd_base::{ValueKind, MAX_SEQNO};
use kvd_lsm::cache::BlockCache;
use kvd_lsm::iter::InternalIterator;
use kvd_lsm::sstable::{Table, TableBuilder, TableOptions, TableProperties};

/// Sorted `(internal key, value)` pairs: the model of a table.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A small deterministic PRNG (xorshift64*), so failures reproduce from the seed.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

pub fn ikey(user_key: &[u8], seq: u64, kind: ValueKind) -> Vec<u8> {
    InternalKey::new(user_key, seq, kind).into_encoded()
}

/// A user key from a space of `space` keys that share prefixes (to exercise prefix
/// compression), sometimes with a random binary suffix (to exercise arbitrary bytes).
pub fn user_key_for(rng: &mut XorShift, space: u64) -> Vec<u8> {
    let n = rng.below(space);
    let mut k = format!("user/{:04}/{}", n % 97, n).into_bytes();
    if n.is_multiple_of(5) {
        let extra = rng.bytes(1 + (n % 7) as usize);
        k.extend_from_slice(&extra);
    }
    k
}

/// `n` entries (approximately: duplicates are dropped) over `space` user keys, with up to
/// three versions per key and a mix of puts, tombstones and expiring puts; sorted.
pub fn gen_entries(seed: u64, n: usize, space: u64) -> Entries {
    let mut rng = XorShift::new(seed);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let uk = user_key_for(&mut rng, space);
        let versions = 1 + rng.below(3);
        for _ in 0..versions {
            let seq = rng.below(1000);
            let (kind, value) = match rng.below(10) {
                0 | 1 => (ValueKind::Delete, Vec::new()),
                2 => {
                    let len = rng.below(20) as usize;
                    let v = rng.bytes(len);
                    (ValueKind::PutWithExpiry, encode_expiring_value(1_000_000 + rng.below(1000), &v))
                }
                _ => {
                    let len = rng.below(120) as usize;
                    // Half the values are compressible, so zstd blocks appear.
                    let v = if rng.below(2) == 0 { vec![b'x'; len] } else { rng.bytes(len) };
                    (ValueKind::Put, v)
                }
            };
            out.push((ikey(&uk, seq, kind), value));
        }
    }
    sort_dedup(&mut out);
    out
}

/// Sorts by internal key and drops entries whose internal key repeats.
pub fn sort_dedup(entries: &mut Entries) {
    entries.sort_by(|a, b| compare_internal_keys(&a.0, &b.0));
    entries.dedup_by(|a, b| a.0 == b.0);
}

/// Writes `entries` as a table at `path` of `fs`.
pub fn build(fs: &MemFs, path: &str, entries: &Entries, opts: TableOptions) -> TableProperties {
    let file = fs.create(Path::new(path)).expect("create");
    let mut b = TableBuilder::new(file, path.to_string(), opts);
    b.set_created_at_millis(1_700_000_000_000);
    for (k, v) in entries {
        b.add(k, v).expect("add");
    }
    assert_eq!(b.num_entries(), entries.len() as u64);
    b.finish().expect("finish")
}

pub fn open(fs: &MemFs, path: &str, number: u64, cache: Option<Arc<BlockCache>>) -> kvd_lsm::Result<Arc<Table>> {
    Table::open(fs.open(Path::new(path))?, number, path.to_string(), cache)
}

/// Opens a table from raw bytes (written to a fresh `MemFs` under `name`).
pub fn open_bytes(name: &str, bytes: &[u8]) -> kvd_lsm::Result<Arc<Table>> {
    let fs = MemFs::new();
    let mut f = fs.create(Path::new(name))?;
    f.append(bytes)?;
    f.sync()?;
    drop(f);
    open(&fs, name, 1, None)
}

/// Builds `entries` into a fresh `MemFs` and returns the file's bytes.
pub fn table_bytes(entries: &Entries, opts: TableOptions) -> Vec<u8> {
    let fs = MemFs::new();
    build(&fs, "/t.sst", entries, opts);
    fs.read_all(Path::new("/t.sst")).expect("read")
}

pub fn collect_forward(it: &mut dyn InternalIterator) -> kvd_lsm::Result<Entries> {
    let mut out = Vec::new();
    it.seek_to_first()?;
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.next()?;
    }
    Ok(out)
}

pub fn collect_backward(it: &mut dyn InternalIterator) -> kvd_lsm::Result<Entries> {
    let mut out = Vec::new();
    it.seek_to_last()?;
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.prev()?;
    }
    out.reverse();
    Ok(out)
}

/// Position of the first model entry `>= target`.
pub fn lower_bound(entries: &Entries, target: &[u8]) -> usize {
    entries.partition_point(|(k, _)| compare_internal_keys(k, target) == Ordering::Less)
}

/// The model's answer to `Table::get`.
pub fn model_get(entries: &Entries, uk: &[u8], seq: u64) -> Option<(Vec<u8>, Vec<u8>)> {
    let target = ikey(uk, seq.min(MAX_SEQNO), ValueKind::PutWithExpiry);
    entries.get(lower_bound(entries, &target)).filter(|(k, _)| user_key(k) == uk).cloned()
}

/// A seek target: near an existing key (same user key, other seqno) or anywhere.
pub fn random_target(rng: &mut XorShift, entries: &Entries, space: u64) -> Vec<u8> {
    let seq = rng.below(1100);
    let kind = [ValueKind::Delete, ValueKind::Put, ValueKind::PutWithExpiry][rng.below(3) as usize];
    if !entries.is_empty() && rng.below(2) == 0 {
        let (k, _) = &entries[rng.below(entries.len() as u64) as usize];
        if rng.below(3) == 0 {
            return k.clone();
        }
        return ikey(user_key(k), seq, kind);
    }
    ikey(&user_key_for(rng, space * 2), seq, kind)
}

fn assert_at(it: &dyn InternalIterator, entries: &Entries, pos: Option<usize>, what: &str) {
    match pos {
        Some(p) => {
            assert!(it.valid(), "{what}: expected entry {p}, iterator invalid");
            assert_eq!(it.key(), &entries[p].0[..], "{what}: key at {p}");
            assert_eq!(it.value(), &entries[p].1[..], "{what}: value at {p}");
        }
        None => assert!(!it.valid(), "{what}: expected invalid, at {:?}", it.key()),
    }
}

/// Compares `table` with the model `entries`: full scans both ways, `probes` random seeks and
/// seek-for-prevs each followed by a short random walk of next/prev, and gets at random seqnos.
pub fn check_against_model(table: &Arc<Table>, entries: &Entries, seed: u64, probes: usize, space: u64) {
    let mut it = table.iter();
    assert_eq!(collect_forward(&mut it).unwrap(), *entries, "forward scan");
    assert_eq!(collect_backward(&mut it).unwrap(), *entries, "backward scan");
    let mut rng = XorShift::new(seed);
    for _ in 0..probes {
        let target = random_target(&mut rng, entries, space);
        let lb = lower_bound(entries, &target);
        let (mut pos, what) = if rng.below(2) == 0 {
            it.seek(&target).unwrap();
            ((lb < entries.len()).then_some(lb), "seek")
        } else {
            it.seek_for_prev(&target).unwrap();
            let exact = entries.get(lb).is_some_and(|(k, _)| *k == target);
            let p = if exact { Some(lb) } else { lb.checked_sub(1) };
            (p, "seek_for_prev")
        };
        assert_at(&it, entries, pos, what);
        for _ in 0..rng.below(6) {
            let Some(p) = pos else { break };
            if rng.below(2) == 0 {
                it.next().unwrap();
                pos = (p + 1 < entries.len()).then_some(p + 1);
                assert_at(&it, entries, pos, "next");
            } else {
                it.prev().unwrap();
                pos = p.checked_sub(1);
                assert_at(&it, entries, pos, "prev");
            }
        }

        let uk = user_key(&target).to_vec();
        let seq = if rng.below(8) == 0 { u64::MAX } else { rng.below(1100) };
        assert_eq!(table.get(&uk, seq).unwrap(), model_get(entries, &uk, seq), "get {:?}@{seq}", uk);
    }
    check_get_cursor(table, entries, seed, probes, space);
}

/// A [`GetCursor`] asked for ascending keys (present and absent, as `multi_get` asks)
/// answers as [`Table::get`] does.
fn check_get_cursor(table: &Arc<Table>, entries: &Entries, seed: u64, probes: usize, space: u64) {
    let mut rng = XorShift::new(seed ^ 0x9e37);
    let mut keys: Vec<Vec<u8>> =
        (0..probes).map(|_| user_key(&random_target(&mut rng, entries, space)).to_vec()).collect();
    keys.sort();
    keys.dedup();
    let mut cursor = kvd_lsm::sstable::GetCursor::new(Arc::clone(table));
    for uk in &keys {
        let seq = if rng.below(8) == 0 { u64::MAX } else { rng.below(1100) };
        let got = cursor.get(uk, seq, rng.below(2) == 0).unwrap().map(|(k, v)| (k.to_vec(), v.to_vec()));
        assert_eq!(got, model_get(entries, uk, seq), "cursor get {uk:?}@{seq}");
    }
}

/// Every combination the option sweeps use.
pub fn option_combos() -> Vec<TableOptions> {
    use kvd_lsm::sstable::Compression;
    let mut out = Vec::new();
    for (i, block_size) in [256usize, 1024, 4096, 16 * 1024].into_iter().enumerate() {
        for (j, restart_interval) in [1usize, 2, 16, 32].into_iter().enumerate() {
            let bloom_bits_per_key = if (i + j).is_multiple_of(2) { 10 } else { 0 };
            let compression = if j.is_multiple_of(2) { Compression::Zstd { level: 1 } } else { Compression::None };
            out.push(TableOptions { block_size, restart_interval, bloom_bits_per_key, compression });
        }
    }
    out
}
