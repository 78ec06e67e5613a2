//! Model-based test of the full LSM lifecycle: random puts (some with TTLs), deletes, batches,
//! point reads, scans in both directions, snapshots held across flushes and compactions,
//! `compact_range`, clock advances and reopens, all compared with a `BTreeMap` model that
//! understands expiry. Small memtables and level sizes make flushes and compactions frequent.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kvd::{Db, Options, ReadOptions, SyncPolicy, WriteBatch};
use kvd_base::clock::MockClock;
use kvd_base::fs::MemFs;
use proptest::prelude::*;

/// Key → (value, absolute expiry in ms).
type State = BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>;

fn visible(state: &State, now: u64) -> BTreeMap<Vec<u8>, Vec<u8>> {
    state.iter().filter(|(_, (_, exp))| exp.is_none_or(|e| e > now)).map(|(k, (v, _))| (k.clone(), v.clone())).collect()
}

#[derive(Debug, Clone)]
enum Op {
    Put(u16, u16),
    PutTtl(u16, u16, u16),
    Delete(u16),
    Batch(Vec<(u16, Option<u16>)>),
    Get(u16),
    Scan(u16, u16, bool),
    TakeSnapshot,
    CheckSnapshots,
    DropSnapshot,
    Advance(u16),
    Flush,
    CompactRange(u16, u16),
    CompactAll,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0u16..300;
    prop_oneof![
        8 => (k.clone(), any::<u16>()).prop_map(|(k, v)| Op::Put(k, v)),
        3 => (k.clone(), any::<u16>(), 1u16..50).prop_map(|(k, v, t)| Op::PutTtl(k, v, t)),
        3 => k.clone().prop_map(Op::Delete),
        2 => proptest::collection::vec((k.clone(), proptest::option::of(any::<u16>())), 1..8).prop_map(Op::Batch),
        4 => k.clone().prop_map(Op::Get),
        2 => (k.clone(), k.clone(), any::<bool>()).prop_map(|(a, b, r)| Op::Scan(a.min(b), a.max(b), r)),
        1 => Just(Op::TakeSnapshot),
        2 => Just(Op::CheckSnapshots),
        1 => Just(Op::DropSnapshot),
        2 => (1u16..40).prop_map(Op::Advance),
        1 => Just(Op::Flush),
        1 => (k.clone(), k).prop_map(|(a, b)| Op::CompactRange(a.min(b), a.max(b))),
        1 => Just(Op::CompactAll),
        1 => Just(Op::Reopen),
    ]
}

fn key(k: u16) -> Vec<u8> {
    format!("k{k:04}").into_bytes()
}

fn value(k: u16, v: u16) -> Vec<u8> {
    let mut out = format!("v{k}-{v}-").into_bytes();
    out.resize(20 + (v as usize % 200), b'.');
    out
}

fn options(fs: &MemFs, clock: &Arc<MockClock>) -> Options {
    let mut o = Options {
        fs: Arc::new(fs.clone()),
        clock: clock.clone(),
        write_buffer_size: 8 << 10,
        sync_policy: SyncPolicy::Never,
        ..Options::default()
    };
    o.compaction.max_bytes_for_level_base = 32 << 10;
    o.compaction.target_file_size = 8 << 10;
    o.compaction.l0_compaction_trigger = 2;
    o.ttl_check_interval = Duration::from_millis(5);
    o
}

fn run(ops: Vec<Op>) {
    let fs = MemFs::new();
    let clock = Arc::new(MockClock::new(1_000_000));
    let dir = Path::new("/db");
    let mut db = Db::open(dir, options(&fs, &clock)).unwrap();
    let mut model: State = BTreeMap::new();
    // Snapshots with the model state they must read (expiry judged at read time).
    let mut snapshots: Vec<(kvd::Snapshot, State)> = Vec::new();
    for (i, op) in ops.into_iter().enumerate() {
        let now = clock.now_millis_for_test();
        match op {
            Op::Put(k, v) => {
                db.put(&key(k), &value(k, v)).unwrap();
                model.insert(key(k), (value(k, v), None));
            }
            Op::PutTtl(k, v, t) => {
                db.put_with_ttl(&key(k), &value(k, v), Duration::from_millis(u64::from(t) * 100)).unwrap();
                model.insert(key(k), (value(k, v), Some(now + u64::from(t) * 100)));
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
            Op::Get(k) => {
                let want = visible(&model, now).get(&key(k)).cloned();
                assert_eq!(db.get(&key(k)).unwrap(), want, "step {i}: get {k}");
            }
            Op::Scan(a, b, reverse) => {
                let (lo, hi) = (key(a), key(b));
                let mut want: Vec<(Vec<u8>, Vec<u8>)> =
                    visible(&model, now).range(lo.clone()..hi.clone()).map(|(k, v)| (k.clone(), v.clone())).collect();
                if reverse {
                    want.reverse();
                }
                let got: Vec<_> = db.scan_opt(Some(&lo), Some(&hi), reverse, None).map(|r| r.unwrap()).collect();
                assert_eq!(got, want, "step {i}: scan {a}..{b} reverse={reverse}");
            }
            Op::TakeSnapshot => {
                if snapshots.len() < 4 {
                    snapshots.push((db.snapshot(), model.clone()));
                }
            }
            Op::CheckSnapshots => {
                for (snap, state) in &snapshots {
                    let want: Vec<_> = visible(state, now).into_iter().collect();
                    let got: Vec<_> = db.scan_opt(None, None, false, Some(snap)).map(|r| r.unwrap()).collect();
                    assert_eq!(got, want, "step {i}: snapshot at {}", snap.seq());
                    if let Some((k, v)) = want.first() {
                        let at = ReadOptions { snapshot: Some(snap), ..Default::default() };
                        assert_eq!(db.get_opt(k, &at).unwrap().as_ref(), Some(v));
                    }
                }
            }
            Op::DropSnapshot => {
                if !snapshots.is_empty() {
                    snapshots.remove(0);
                }
            }
            Op::Advance(ms) => clock.advance(u64::from(ms) * 10),
            Op::Flush => db.flush().unwrap(),
            Op::CompactRange(a, b) => db.compact_range(Some(&key(a)), Some(&key(b))).unwrap(),
            Op::CompactAll => db.compact_range(None, None).unwrap(),
            Op::Reopen => {
                // Snapshots do not survive a restart.
                snapshots.clear();
                db.close().unwrap();
                drop(db);
                db = Db::open(dir, options(&fs, &clock)).unwrap();
            }
        }
    }
    let now = clock.now_millis_for_test();
    let got: BTreeMap<_, _> = db.scan(None, None).map(|r| r.unwrap()).collect();
    assert_eq!(got, visible(&model, now), "final state");
}

trait NowForTest {
    fn now_millis_for_test(&self) -> u64;
}

impl NowForTest for MockClock {
    fn now_millis_for_test(&self) -> u64 {
        use kvd_base::clock::Clock;
        self.now_millis()
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if std::env::var("KVD_STRESS").is_ok_and(|v| v == "1") { 256 } else { 24 },
        ..ProptestConfig::default()
    })]

    #[test]
    fn lsm_lifecycle_matches_model(ops in proptest::collection::vec(op(), 1..300)) {
        run(ops);
    }
}
