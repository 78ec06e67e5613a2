//! Model-based test: random operation sequences applied to kvd and to a `BTreeMap` model,
//! every read compared.
//!
//! Operations: put, delete, batch, get, bounded scans in both directions, iterator walks that
//! switch direction, snapshot take/read/drop, flush, clean reopen and power-loss reopen (with
//! `SyncPolicy::Always` nothing acknowledged may be lost). The database runs on the in-memory
//! file system with 4 KiB memtables, so flushes, log rotations and multi-table reads happen
//! within a few dozen writes. Snapshots are modelled by clones of the model.
//!
//! Failures are minimised by proptest and their seeds kept in `model.proptest-regressions`
//! beside this file; minimised failures worth reading are also kept as plain tests in
//! `regressions.rs`.

use kvd::{Db, Options, ReadOptions, Snapshot, SyncPolicy, TableOptions, WriteBatch};
use kvd_tests::env::{db_dir, scale, SimDisk};
use kvd_tests::model::{collect_scan, show, Model};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

/// Keys come from a small space so that overwrites, deletes of live keys and tombstones over
/// flushed values are common. Some keys are prefixes of others.
fn key(i: u8) -> Vec<u8> {
    match i % 4 {
        0 => format!("k{:02}", i / 4).into_bytes(),
        1 => format!("k{:02}/sub", i / 4).into_bytes(),
        2 => format!("k{:02}/sub{}", i / 4, i % 3).into_bytes(),
        _ => vec![b'k', i / 4, 0xff, i],
    }
}

const KEY_SPACE: u8 = 96;

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u16),
    Delete(u8),
    Batch(Vec<(u8, Option<u16>)>),
    Get(u8),
    Scan { lower: Option<u8>, upper: Option<u8>, reverse: bool },
    PrefixScan(u8, u8),
    Walk { lower: Option<u8>, upper: Option<u8>, start: Start, moves: Vec<bool> },
    TakeSnapshot,
    SnapshotGet(u8, u8),
    SnapshotScan { snap: u8, lower: Option<u8>, upper: Option<u8>, reverse: bool },
    DropSnapshot(u8),
    Flush,
    Reopen,
    PowerLoss,
}

#[derive(Debug, Clone)]
enum Start {
    First,
    Last,
    Seek(u8),
    SeekForPrev(u8),
}

fn value_len() -> impl Strategy<Value = u16> {
    prop_oneof![8 => 0u16..64, 3 => 64u16..400, 1 => 1000u16..3000]
}

fn op() -> impl Strategy<Value = Op> {
    let k = || 0..KEY_SPACE;
    let bound = move || proptest::option::weighted(0.6, k());
    let start =
        prop_oneof![Just(Start::First), Just(Start::Last), k().prop_map(Start::Seek), k().prop_map(Start::SeekForPrev)];
    prop_oneof![
        30 => (k(), value_len()).prop_map(|(k, v)| Op::Put(k, v)),
        10 => k().prop_map(Op::Delete),
        8 => proptest::collection::vec((k(), proptest::option::weighted(0.7, value_len())), 1..12).prop_map(Op::Batch),
        15 => k().prop_map(Op::Get),
        6 => (bound(), bound(), any::<bool>()).prop_map(|(lower, upper, reverse)| Op::Scan { lower, upper, reverse }),
        2 => (k(), 1..6u8).prop_map(|(k, len)| Op::PrefixScan(k, len)),
        6 => (bound(), bound(), start, proptest::collection::vec(any::<bool>(), 0..12))
            .prop_map(|(lower, upper, start, moves)| Op::Walk { lower, upper, start, moves }),
        4 => Just(Op::TakeSnapshot),
        6 => (any::<u8>(), k()).prop_map(|(s, k)| Op::SnapshotGet(s, k)),
        3 => (any::<u8>(), bound(), bound(), any::<bool>())
            .prop_map(|(snap, lower, upper, reverse)| Op::SnapshotScan { snap, lower, upper, reverse }),
        2 => any::<u8>().prop_map(Op::DropSnapshot),
        2 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        1 => Just(Op::PowerLoss),
    ]
}

fn options(disk: &SimDisk) -> Options {
    Options {
        fs: disk.fs(),
        write_buffer_size: 4 << 10,
        sync_policy: SyncPolicy::Always,
        table: TableOptions { block_size: 256, restart_interval: 4, ..TableOptions::default() },
        block_cache_bytes: 64 << 10,
        ..Options::default()
    }
}

/// The database under test, its model and the live snapshots with their models.
struct Harness {
    disk: SimDisk,
    db: Option<Db>,
    model: Model,
    snaps: Vec<(Snapshot, Model)>,
    writes: u64,
}

impl Harness {
    fn db(&self) -> &Db {
        self.db.as_ref().expect("open")
    }

    fn value(&mut self, k: u8, len: u16) -> Vec<u8> {
        self.writes += 1;
        let mut v = format!("{}#{}:", show(&key(k)), self.writes).into_bytes();
        v.resize(v.len().max(len as usize), b'a' + (self.writes % 26) as u8);
        v
    }

    fn reopen(&mut self) {
        self.snaps.clear();
        let db = self.db.take().expect("open");
        db.close().expect("close");
        drop(db);
        self.db = Some(Db::open(db_dir(), options(&self.disk)).expect("reopen"));
    }

    fn power_loss(&mut self) {
        self.snaps.clear();
        self.disk.crash(self.db.take());
        self.db = Some(Db::open(db_dir(), options(&self.disk)).expect("reopen after power loss"));
    }

    fn run(&mut self, step: usize, op: &Op) -> Result<(), TestCaseError> {
        let ctx = |what: String| format!("step {step} {op:?}: {what}");
        match op {
            Op::Put(k, len) => {
                let v = self.value(*k, *len);
                self.db().put(&key(*k), &v).map_err(|e| TestCaseError::fail(ctx(e.to_string())))?;
                self.model.put(&key(*k), &v);
            }
            Op::Delete(k) => {
                self.db().delete(&key(*k)).map_err(|e| TestCaseError::fail(ctx(e.to_string())))?;
                self.model.delete(&key(*k));
            }
            Op::Batch(ops) => {
                let mut b = WriteBatch::new();
                for (k, v) in ops {
                    match v {
                        Some(len) => {
                            let v = self.value(*k, *len);
                            b.put(key(*k), v)
                        }
                        None => b.delete(key(*k)),
                    };
                }
                self.db().write(b.clone()).map_err(|e| TestCaseError::fail(ctx(e.to_string())))?;
                self.model.apply(&b);
            }
            Op::Get(k) => {
                let got = self.db().get(&key(*k)).map_err(|e| TestCaseError::fail(ctx(e.to_string())))?;
                let want = self.model.get(&key(*k));
                prop_assert!(
                    got == want,
                    "{}",
                    ctx(format!("get: db {:?}, model {:?}", got.as_deref().map(show), want.as_deref().map(show)))
                );
            }
            Op::Scan { lower, upper, reverse } => {
                let (l, u) = (lower.map(key), upper.map(key));
                let got = collect_scan(self.db().scan_opt(l.as_deref(), u.as_deref(), *reverse, None), "scan");
                let want = self.model.scan(l.as_deref(), u.as_deref(), *reverse);
                prop_assert!(
                    got == want,
                    "{}",
                    ctx(format!("scan differs: db {} entries, model {}", got.len(), want.len()))
                );
            }
            Op::PrefixScan(k, len) => {
                let full = key(*k);
                let prefix = &full[..full.len().min(*len as usize)];
                let got = collect_scan(self.db().prefix_scan(prefix), "prefix scan");
                let want: Vec<_> = self
                    .model
                    .entries()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                prop_assert!(
                    got == want,
                    "{}",
                    ctx(format!(
                        "prefix scan {} differs: db {} entries, model {}",
                        show(prefix),
                        got.len(),
                        want.len()
                    ))
                );
            }
            Op::Walk { lower, upper, start, moves } => {
                self.walk(*lower, *upper, start, moves).map_err(|e| TestCaseError::fail(ctx(e)))?
            }
            Op::TakeSnapshot => {
                let s = self.db().snapshot();
                self.snaps.push((s, self.model.clone()));
            }
            Op::SnapshotGet(s, k) => {
                if let Some((snap, m)) = pick(&self.snaps, *s) {
                    let ro = ReadOptions { snapshot: Some(snap), ..Default::default() };
                    let got = self.db().get_opt(&key(*k), &ro).map_err(|e| TestCaseError::fail(ctx(e.to_string())))?;
                    let want = m.get(&key(*k));
                    prop_assert!(
                        got == want,
                        "{}",
                        ctx(format!(
                            "snapshot get at seq {}: db {:?}, model {:?}",
                            snap.seq(),
                            got.as_deref().map(show),
                            want.as_deref().map(show)
                        ))
                    );
                }
            }
            Op::SnapshotScan { snap, lower, upper, reverse } => {
                if let Some((s, m)) = pick(&self.snaps, *snap) {
                    let (l, u) = (lower.map(key), upper.map(key));
                    let got = collect_scan(
                        self.db().scan_opt(l.as_deref(), u.as_deref(), *reverse, Some(s)),
                        "snapshot scan",
                    );
                    let want = m.scan(l.as_deref(), u.as_deref(), *reverse);
                    prop_assert!(
                        got == want,
                        "{}",
                        ctx(format!("snapshot scan differs: db {} entries, model {}", got.len(), want.len()))
                    );
                }
            }
            Op::DropSnapshot(s) => {
                if !self.snaps.is_empty() {
                    let i = *s as usize % self.snaps.len();
                    self.snaps.remove(i);
                }
            }
            Op::Flush => self.db().flush().map_err(|e| TestCaseError::fail(ctx(e.to_string())))?,
            Op::Reopen => self.reopen(),
            Op::PowerLoss => self.power_loss(),
        }
        Ok(())
    }

    /// Positions an iterator, then moves it forward (`true`) or back, comparing each
    /// position with a cursor over the model's entries within the same bounds.
    fn walk(&self, lower: Option<u8>, upper: Option<u8>, start: &Start, moves: &[bool]) -> Result<(), String> {
        let (l, u) = (lower.map(key), upper.map(key));
        let entries = self.model.scan(l.as_deref(), u.as_deref(), false);
        let ro = ReadOptions { lower_bound: l.clone(), upper_bound: u.clone(), ..Default::default() };
        let mut it = self.db().iter(&ro);
        let mut pos: Option<usize> = match start {
            Start::First => {
                it.seek_to_first();
                (!entries.is_empty()).then_some(0)
            }
            Start::Last => {
                it.seek_to_last();
                entries.len().checked_sub(1)
            }
            Start::Seek(t) => {
                it.seek(&key(*t));
                let p = entries.partition_point(|(k, _)| k.as_slice() < key(*t).as_slice());
                (p < entries.len()).then_some(p)
            }
            Start::SeekForPrev(t) => {
                it.seek_for_prev(&key(*t));
                entries.partition_point(|(k, _)| k.as_slice() <= key(*t).as_slice()).checked_sub(1)
            }
        };
        let describe = |pos: Option<usize>| pos.map(|p| show(&entries[p].0));
        for (i, &forward) in std::iter::once(&true).chain(moves).enumerate() {
            if i > 0 {
                if forward {
                    it.next();
                    pos = pos.map(|p| p + 1).filter(|&p| p < entries.len());
                } else {
                    it.prev();
                    pos = pos.and_then(|p| p.checked_sub(1));
                }
            }
            it.status().map_err(|e| format!("iterator error: {e}"))?;
            let got = it.valid().then(|| (it.key().to_vec(), it.value().to_vec()));
            let want = pos.map(|p| entries[p].clone());
            if got != want {
                return Err(format!(
                    "walk {start:?} bounds {:?}..{:?} after {i} moves ({:?}): db at {:?}, model at {:?}",
                    l.as_deref().map(show),
                    u.as_deref().map(show),
                    &moves[..i.saturating_sub(1).min(moves.len())],
                    got.map(|g| show(&g.0)),
                    describe(pos)
                ));
            }
            if pos.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// Final check: everything the model holds, by full scans both ways and point reads.
    fn check_all(&self) -> Result<(), TestCaseError> {
        let got = collect_scan(self.db().scan(None, None), "final scan");
        let want = self.model.scan(None, None, false);
        prop_assert!(got == want, "final scan differs: db {} entries, model {}", got.len(), want.len());
        let mut back = collect_scan(self.db().scan_opt(None, None, true, None), "final reverse scan");
        back.reverse();
        prop_assert!(back == want, "final reverse scan differs");
        for k in 0..KEY_SPACE {
            let got = self.db().get(&key(k)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(got == self.model.get(&key(k)), "final get {}", show(&key(k)));
        }
        Ok(())
    }
}

fn pick(snaps: &[(Snapshot, Model)], i: u8) -> Option<&(Snapshot, Model)> {
    (!snaps.is_empty()).then(|| &snaps[i as usize % snaps.len()])
}

fn run_ops(ops: &[Op]) -> Result<(), TestCaseError> {
    let disk = SimDisk::new();
    let db = Db::open(db_dir(), options(&disk)).expect("open");
    let mut h = Harness { disk, db: Some(db), model: Model::new(), snaps: Vec::new(), writes: 0 };
    for (i, op) in ops.iter().enumerate() {
        h.run(i, op)?;
    }
    h.check_all()?;
    // Whatever happened, a final clean reopen shows the same state.
    h.reopen();
    h.check_all()
}

fn config() -> Config {
    Config {
        cases: scale(200, 2000),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Reopens and power losses hit whatever is in the memtables and the logs.
    #[test]
    fn kvd_matches_btreemap_model(ops in proptest::collection::vec(op(), 1..scale(250, 800))) {
        run_ops(&ops)?;
    }
}

/// A fixed sequence that crosses several flushes, a reopen and a power loss with snapshots
/// held, so the paths the random test relies on are exercised on every run.
#[test]
fn fixed_sequence_across_flushes_reopen_and_power_loss() {
    let mut ops = Vec::new();
    for i in 0..KEY_SPACE {
        ops.push(Op::Put(i, 200));
        if i % 10 == 0 {
            ops.push(Op::TakeSnapshot);
        }
    }
    ops.push(Op::SnapshotScan { snap: 3, lower: None, upper: None, reverse: true });
    for i in (0..KEY_SPACE).step_by(3) {
        ops.push(Op::Delete(i));
    }
    ops.push(Op::Flush);
    ops.push(Op::SnapshotScan { snap: 5, lower: Some(10), upper: Some(60), reverse: false });
    ops.push(Op::Walk {
        lower: Some(5),
        upper: Some(80),
        start: Start::SeekForPrev(40),
        moves: vec![false, false, true, true, true, false],
    });
    ops.push(Op::Reopen);
    ops.push(Op::Batch((0..KEY_SPACE).step_by(7).map(|k| (k, Some(50))).collect()));
    ops.push(Op::PowerLoss);
    ops.push(Op::Scan { lower: None, upper: None, reverse: true });
    run_ops(&ops).unwrap();
}
