//! Model test of `Db::multi_get`: after random puts (some with TTLs), deletes, batches,
//! flushes, compactions and clock advances, a batch of keys (unsorted, repeated, some never
//! written, some deleted, overwritten or expired) read with `multi_get` must equal the same
//! keys read one by one with `get_opt` at the same snapshot or sequence number, and for the
//! latest state, the `BTreeMap` model. Small memtables, blocks and files spread the keys over
//! the memtable, immutable memtables, L0 and deeper levels.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kvd::{Db, Options, ReadOptions, Snapshot, SyncPolicy, TableOptions, WriteBatch};
use kvd_base::clock::MockClock;
use kvd_base::fs::MemFs;
use proptest::prelude::*;

/// Key → (value, absolute expiry in ms).
type State = BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>;

/// Keys 0..300 are written; 300..340 never are.
const WRITTEN: u16 = 300;
const ASKED: u16 = 340;

fn key(k: u16) -> Vec<u8> {
    format!("k{k:04}").into_bytes()
}

fn value(k: u16, v: u16) -> Vec<u8> {
    let mut out = format!("v{k}-{v}-").into_bytes();
    out.resize(10 + (v as usize % 120), b'.');
    out
}

#[derive(Debug, Clone)]
enum Op {
    Put(u16, u16),
    PutTtl(u16, u16, u16),
    Delete(u16),
    Batch(Vec<(u16, Option<u16>)>),
    Flush,
    CompactRange(u16, u16),
    CompactAll,
    TakeSnapshot,
    Advance(u16),
    /// Read these keys: at the latest state (`None`), or at snapshot `i % live snapshots`.
    MultiGet(Vec<u16>, Option<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0..WRITTEN;
    prop_oneof![
        10 => (k.clone(), any::<u16>()).prop_map(|(k, v)| Op::Put(k, v)),
        3 => (k.clone(), any::<u16>(), 1u16..50).prop_map(|(k, v, t)| Op::PutTtl(k, v, t)),
        4 => k.clone().prop_map(Op::Delete),
        2 => proptest::collection::vec((k.clone(), proptest::option::of(any::<u16>())), 1..30).prop_map(Op::Batch),
        1 => Just(Op::Flush),
        1 => (k.clone(), k).prop_map(|(a, b)| Op::CompactRange(a.min(b), a.max(b))),
        1 => Just(Op::CompactAll),
        1 => Just(Op::TakeSnapshot),
        2 => (1u16..40).prop_map(Op::Advance),
        3 => (proptest::collection::vec(0..ASKED, 0..80), proptest::option::of(any::<u8>()))
            .prop_map(|(keys, snap)| Op::MultiGet(keys, snap)),
    ]
}

fn options(fs: &MemFs, clock: &Arc<MockClock>, auto_compact: bool) -> Options {
    let mut o = Options {
        fs: Arc::new(fs.clone()),
        clock: clock.clone(),
        write_buffer_size: 4 << 10,
        sync_policy: SyncPolicy::Never,
        table: TableOptions { block_size: 256, restart_interval: 4, ..TableOptions::default() },
        block_cache_bytes: 64 << 10,
        disable_auto_compactions: !auto_compact,
        ..Options::default()
    };
    o.compaction.max_bytes_for_level_base = 16 << 10;
    o.compaction.target_file_size = 4 << 10;
    o.compaction.l0_compaction_trigger = 3;
    o.ttl_check_interval = Duration::from_millis(5);
    o
}

/// `multi_get` against one `get_opt` per key, at `ro`.
fn check_against_gets(db: &Db, keys: &[Vec<u8>], ro: &ReadOptions<'_>, what: &str) -> Vec<Option<Vec<u8>>> {
    let got = db.multi_get(keys, ro).unwrap();
    let want: Vec<Option<Vec<u8>>> = keys.iter().map(|k| db.get_opt(k, ro).unwrap()).collect();
    assert_eq!(got, want, "{what}: multi_get differs from get for keys {keys:?}");
    got
}

fn run(ops: Vec<Op>, auto_compact: bool) {
    let fs = MemFs::new();
    let clock = Arc::new(MockClock::new(1_000_000));
    let db = Db::open(Path::new("/db"), options(&fs, &clock, auto_compact)).unwrap();
    let mut model: State = BTreeMap::new();
    let mut snapshots: Vec<Snapshot> = Vec::new();
    let now = || kvd_base::clock::Clock::now_millis(&*clock);
    for (i, op) in ops.into_iter().enumerate() {
        match op {
            Op::Put(k, v) => {
                db.put(&key(k), &value(k, v)).unwrap();
                model.insert(key(k), (value(k, v), None));
            }
            Op::PutTtl(k, v, t) => {
                db.put_with_ttl(&key(k), &value(k, v), Duration::from_millis(u64::from(t) * 100)).unwrap();
                model.insert(key(k), (value(k, v), Some(now() + u64::from(t) * 100)));
            }
            Op::Delete(k) => {
                db.delete(&key(k)).unwrap();
                model.remove(&key(k));
            }
            Op::Batch(entries) => {
                let mut b = WriteBatch::new();
                for (k, v) in &entries {
                    match v {
                        Some(v) => {
                            b.put(key(*k), value(*k, *v));
                            model.insert(key(*k), (value(*k, *v), None));
                        }
                        None => {
                            b.delete(key(*k));
                            model.remove(&key(*k));
                        }
                    }
                }
                db.write(b).unwrap();
            }
            Op::Flush => db.flush().unwrap(),
            Op::CompactRange(a, b) => db.compact_range(Some(&key(a)), Some(&key(b))).unwrap(),
            Op::CompactAll => db.compact_range(None, None).unwrap(),
            Op::TakeSnapshot => {
                if snapshots.len() >= 4 {
                    snapshots.remove(0);
                }
                snapshots.push(db.snapshot());
            }
            Op::Advance(ms) => clock.advance(u64::from(ms) * 100),
            Op::MultiGet(ks, snap) => {
                let keys: Vec<Vec<u8>> = ks.iter().map(|&k| key(k)).collect();
                match snap.filter(|_| !snapshots.is_empty()) {
                    Some(s) => {
                        let snap = &snapshots[s as usize % snapshots.len()];
                        let ro = ReadOptions { snapshot: Some(snap), ..Default::default() };
                        check_against_gets(&db, &keys, &ro, &format!("step {i}, snapshot {}", snap.seq()));
                        // The same through an explicit sequence number.
                        let ro = ReadOptions { seqno: Some(snap.seq()), ..Default::default() };
                        check_against_gets(&db, &keys, &ro, &format!("step {i}, seqno {}", snap.seq()));
                    }
                    None => {
                        let got = check_against_gets(&db, &keys, &ReadOptions::default(), &format!("step {i}"));
                        let t = now();
                        let want: Vec<Option<Vec<u8>>> = keys
                            .iter()
                            .map(|k| model.get(k).filter(|(_, exp)| exp.is_none_or(|e| e > t)).map(|(v, _)| v.clone()))
                            .collect();
                        assert_eq!(got, want, "step {i}: multi_get differs from the model");
                    }
                }
            }
        }
    }
    // Finally every key, twice, in descending order, at the latest state.
    let all: Vec<Vec<u8>> = (0..ASKED).rev().flat_map(|k| [key(k), key(k)]).collect();
    check_against_gets(&db, &all, &ReadOptions::default(), "final");
    drop(snapshots);
    db.close().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn multi_get_equals_gets(ops in proptest::collection::vec(op(), 1..250), auto_compact in any::<bool>()) {
        run(ops, auto_compact);
    }
}

/// A fixed layering, checked to really be spread out: old versions at the bottom level,
/// overwrites, deletes and expiring values in L0, newer ones in the memtable, a snapshot in
/// between.
#[test]
fn keys_in_every_layer() {
    let fs = MemFs::new();
    let clock = Arc::new(MockClock::new(1_000_000));
    let mut o = options(&fs, &clock, false);
    o.write_buffer_size = 1 << 20;
    let db = Db::open(Path::new("/db"), o).unwrap();
    for k in 0..WRITTEN {
        db.put(&key(k), &value(k, 1)).unwrap();
    }
    db.compact_range(None, None).unwrap();
    for k in (0..WRITTEN).step_by(3) {
        db.put(&key(k), &value(k, 2)).unwrap();
    }
    for k in (1..WRITTEN).step_by(7) {
        db.delete(&key(k)).unwrap();
    }
    for k in (2..WRITTEN).step_by(11) {
        db.put_with_ttl(&key(k), &value(k, 3), Duration::from_millis(500)).unwrap();
    }
    db.flush().unwrap();
    let snap = db.snapshot();
    for k in (0..WRITTEN).step_by(5) {
        db.put(&key(k), &value(k, 4)).unwrap();
    }
    for k in (4..WRITTEN).step_by(13) {
        db.delete(&key(k)).unwrap();
    }
    let stats = db.stats();
    assert!(stats.memtable_bytes > 0, "memtable holds entries");
    assert!(stats.levels[0].files > 0, "L0 holds files");
    assert!(stats.levels[1..].iter().any(|l| l.files > 1), "a deeper level holds several files");

    let mut keys: Vec<Vec<u8>> = (0..ASKED).map(key).collect();
    keys.extend((0..ASKED).step_by(2).map(key));
    keys.reverse();
    let latest = ReadOptions::default();
    let at_snap = ReadOptions { snapshot: Some(&snap), ..Default::default() };
    for when in ["before expiry", "after expiry"] {
        check_against_gets(&db, &keys, &latest, when);
        check_against_gets(&db, &keys, &at_snap, when);
        clock.advance(1000);
    }
    let got = db.multi_get(&[key(2), key(0), key(1), key(3), key(WRITTEN + 1)], &latest).unwrap();
    assert_eq!(got, vec![None, Some(value(0, 4)), None, Some(value(3, 2)), None]);
}
