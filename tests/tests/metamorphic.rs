//! Metamorphic test: one seeded operation log replayed under randomised options (block size,
//! restart interval, bloom bits, compression, memtable size, sync policy, block cache,
//! compaction shape; the real file system too with `KVD_STRESS=1`) must give identical read
//! results, equal to a reference model's.
//!
//! Layout options change every byte on disk and when flushes and compactions happen, but
//! never what a read returns; so any difference between two runs is a bug in one of them.
//! The log includes TTL puts under a mock clock that the log advances, so expiry is part of
//! what must agree.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use kvd::{Compression, Db, Options, ReadOptions, Snapshot, SyncPolicy, TableOptions, WriteBatch};
use kvd_base::clock::MockClock;
use kvd_base::fs::MemFs;
use kvd_tests::env::{scale, seed};
use kvd_tests::model::show;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const START_MILLIS: u64 = 1_000_000;

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<u8>, Vec<u8>),
    PutTtl(Vec<u8>, Vec<u8>, u64),
    Delete(Vec<u8>),
    Batch(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    Get(Vec<u8>),
    Scan(Option<Vec<u8>>, Option<Vec<u8>>, bool),
    TakeSnapshot,
    SnapshotGet(usize, Vec<u8>),
    SnapshotScan(usize, Option<Vec<u8>>, Option<Vec<u8>>, bool),
    AdvanceClock(u64),
    Flush,
    CompactAll,
    Reopen,
}

fn gen_key(rng: &mut StdRng) -> Vec<u8> {
    let i: u32 = rng.random_range(0..400);
    match i % 5 {
        0 => format!("user/{i:05}").into_bytes(),
        1 => format!("user/{:05}/profile", i / 5).into_bytes(),
        2 => format!("idx/{}/{i}", i % 7).into_bytes(),
        3 => vec![b'b', (i % 256) as u8, 0, (i / 256) as u8],
        _ => format!("z{}", "q".repeat((i % 40) as usize)).into_bytes(),
    }
}

fn gen_value(rng: &mut StdRng, n: usize) -> Vec<u8> {
    let len = match rng.random_range(0..10) {
        0 => 0,
        1..8 => rng.random_range(1..120),
        _ => rng.random_range(500..4000),
    };
    let mut v = format!("v{n}-").into_bytes();
    v.extend((0..len).map(|i| b'a' + ((i * 7 + n) % 26) as u8));
    v
}

fn gen_bound(rng: &mut StdRng) -> Option<Vec<u8>> {
    rng.random_bool(0.6).then(|| gen_key(rng))
}

/// The seeded operation log.
fn generate(seed: u64, len: usize) -> Vec<Op> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ops = Vec::with_capacity(len);
    for n in 0..len {
        let op = match rng.random_range(0..1000) {
            0..350 => Op::Put(gen_key(&mut rng), gen_value(&mut rng, n)),
            350..400 => {
                let ttl = if rng.random_bool(0.5) { rng.random_range(1..5_000) } else { 1 << 40 };
                Op::PutTtl(gen_key(&mut rng), gen_value(&mut rng, n), ttl)
            }
            400..500 => Op::Delete(gen_key(&mut rng)),
            500..580 => Op::Batch(
                (0..rng.random_range(1..20))
                    .map(|_| (gen_key(&mut rng), rng.random_bool(0.75).then(|| gen_value(&mut rng, n))))
                    .collect(),
            ),
            580..760 => Op::Get(gen_key(&mut rng)),
            760..820 => Op::Scan(gen_bound(&mut rng), gen_bound(&mut rng), rng.random_bool(0.5)),
            820..840 => Op::TakeSnapshot,
            840..900 => Op::SnapshotGet(rng.random_range(0..1000), gen_key(&mut rng)),
            900..930 => Op::SnapshotScan(
                rng.random_range(0..1000),
                gen_bound(&mut rng),
                gen_bound(&mut rng),
                rng.random_bool(0.5),
            ),
            930..960 => Op::AdvanceClock(rng.random_range(1..2_000)),
            960..980 => Op::Flush,
            980..990 => Op::CompactAll,
            _ => Op::Reopen,
        };
        ops.push(op);
    }
    ops
}

/// One read's result: the entries it returned, in order.
type Reads = Vec<(usize, Vec<(Vec<u8>, Vec<u8>)>)>;

/// The reference: values with optional absolute expiry.
#[derive(Clone, Default)]
struct Reference {
    map: BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>,
}

impl Reference {
    fn scan(
        &self,
        now: u64,
        lower: &Option<Vec<u8>>,
        upper: &Option<Vec<u8>>,
        reverse: bool,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        if let (Some(l), Some(u)) = (lower, upper) {
            if l >= u {
                return Vec::new();
            }
        }
        let lo = lower.clone().map_or(Bound::Unbounded, Bound::Included);
        let hi = upper.clone().map_or(Bound::Unbounded, Bound::Excluded);
        let live = self
            .map
            .range((lo, hi))
            .filter(|(_, (_, exp))| exp.is_none_or(|e| e > now))
            .map(|(k, (v, _))| (k.clone(), v.clone()));
        if reverse {
            live.rev().collect()
        } else {
            live.collect()
        }
    }

    fn get(&self, now: u64, key: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        match self.map.get(key) {
            Some((v, exp)) if exp.is_none_or(|e| e > now) => vec![(key.to_vec(), v.clone())],
            _ => Vec::new(),
        }
    }
}

fn reference_reads(ops: &[Op]) -> Reads {
    let mut now = START_MILLIS;
    let mut state = Reference::default();
    let mut snaps: Vec<Reference> = Vec::new();
    let mut reads = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Put(k, v) => drop(state.map.insert(k.clone(), (v.clone(), None))),
            Op::PutTtl(k, v, ttl) => drop(state.map.insert(k.clone(), (v.clone(), Some(now + ttl)))),
            Op::Delete(k) => drop(state.map.remove(k)),
            Op::Batch(b) => {
                for (k, v) in b {
                    match v {
                        Some(v) => drop(state.map.insert(k.clone(), (v.clone(), None))),
                        None => drop(state.map.remove(k)),
                    }
                }
            }
            Op::Get(k) => reads.push((i, state.get(now, k))),
            Op::Scan(l, u, r) => reads.push((i, state.scan(now, l, u, *r))),
            Op::TakeSnapshot => snaps.push(state.clone()),
            Op::SnapshotGet(s, k) => {
                if !snaps.is_empty() {
                    reads.push((i, snaps[s % snaps.len()].get(now, k)));
                }
            }
            Op::SnapshotScan(s, l, u, r) => {
                if !snaps.is_empty() {
                    reads.push((i, snaps[s % snaps.len()].scan(now, l, u, *r)));
                }
            }
            Op::AdvanceClock(ms) => now += ms,
            Op::Flush | Op::CompactAll => {}
            Op::Reopen => snaps.clear(),
        }
    }
    reads
}

/// A randomised configuration, described for failure messages.
fn random_options(rng: &mut StdRng, clock: Arc<MockClock>) -> (Options, Option<tempfile::TempDir>, String) {
    let table = TableOptions {
        block_size: 1 << rng.random_range(6..14),
        restart_interval: rng.random_range(1..33),
        bloom_bits_per_key: if rng.random_bool(0.2) { 0 } else { rng.random_range(1..21) },
        compression: if rng.random_bool(0.5) {
            Compression::None
        } else {
            Compression::Zstd { level: rng.random_range(1..6) }
        },
    };
    let sync_policy = match rng.random_range(0..3) {
        0 => SyncPolicy::Always,
        1 => SyncPolicy::Interval(Duration::from_millis(rng.random_range(1..20))),
        _ => SyncPolicy::Never,
    };
    let mut opts = Options {
        write_buffer_size: 1 << rng.random_range(11..18),
        max_immutable_memtables: rng.random_range(1..4),
        sync_policy,
        table,
        block_cache_bytes: [0, 64 << 10, 8 << 20][rng.random_range(0..3)],
        disable_auto_compactions: rng.random_bool(0.2),
        clock,
        ..Options::default()
    };
    opts.compaction.target_file_size = 1 << rng.random_range(12..20);
    opts.compaction.max_bytes_for_level_base = 1 << rng.random_range(14..22);
    opts.compaction.l0_compaction_trigger = rng.random_range(2..6);
    // Real directories fsync for real (seconds per run here): stress runs only.
    let real_dir = rng.random_bool(scale(0.0, 0.25)).then(|| tempfile::tempdir().expect("temp dir"));
    match real_dir {
        // A real fsync per write would make this run take minutes.
        Some(_) if opts.sync_policy == SyncPolicy::Always => opts.sync_policy = SyncPolicy::Never,
        Some(_) => {}
        None => opts.fs = Arc::new(MemFs::new()),
    }
    let desc = format!(
        "{:?} write_buffer {} imm {} {:?} cache {} auto-compaction {} target_file {} level_base {} l0 trigger {} on {}",
        opts.table,
        opts.write_buffer_size,
        opts.max_immutable_memtables,
        opts.sync_policy,
        opts.block_cache_bytes,
        !opts.disable_auto_compactions,
        opts.compaction.target_file_size,
        opts.compaction.max_bytes_for_level_base,
        opts.compaction.l0_compaction_trigger,
        if real_dir.is_some() { "disk" } else { "MemFs" },
    );
    (opts, real_dir, desc)
}

fn run(ops: &[Op], opts: Options, clock: &MockClock, path: &std::path::Path) -> Reads {
    let mut db = Db::open(path, opts.clone()).expect("open");
    let mut snaps: Vec<Snapshot> = Vec::new();
    let mut reads = Vec::new();
    let scan = |db: &Db, l: &Option<Vec<u8>>, u: &Option<Vec<u8>>, r: bool, s: Option<&Snapshot>| {
        db.scan_opt(l.as_deref(), u.as_deref(), r, s).map(|x| x.expect("scan")).collect::<Vec<_>>()
    };
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Put(k, v) => db.put(k, v).expect("put"),
            Op::PutTtl(k, v, ttl) => db.put_with_ttl(k, v, Duration::from_millis(*ttl)).expect("put_with_ttl"),
            Op::Delete(k) => db.delete(k).expect("delete"),
            Op::Batch(b) => {
                let mut batch = WriteBatch::new();
                for (k, v) in b {
                    match v {
                        Some(v) => batch.put(k.clone(), v.clone()),
                        None => batch.delete(k.clone()),
                    };
                }
                db.write(batch).expect("batch");
            }
            Op::Get(k) => {
                let v = db.get(k).expect("get");
                reads.push((i, v.map(|v| (k.clone(), v)).into_iter().collect()));
            }
            Op::Scan(l, u, r) => reads.push((i, scan(&db, l, u, *r, None))),
            Op::TakeSnapshot => snaps.push(db.snapshot()),
            Op::SnapshotGet(s, k) => {
                if !snaps.is_empty() {
                    let ro = ReadOptions { snapshot: Some(&snaps[s % snaps.len()]), ..Default::default() };
                    let v = db.get_opt(k, &ro).expect("snapshot get");
                    reads.push((i, v.map(|v| (k.clone(), v)).into_iter().collect()));
                }
            }
            Op::SnapshotScan(s, l, u, r) => {
                if !snaps.is_empty() {
                    reads.push((i, scan(&db, l, u, *r, Some(&snaps[s % snaps.len()]))));
                }
            }
            Op::AdvanceClock(ms) => clock.advance(*ms),
            Op::Flush => db.flush().expect("flush"),
            Op::CompactAll => db.compact_range(None, None).expect("compact_range"),
            Op::Reopen => {
                snaps.clear();
                db.close().expect("close");
                drop(db);
                db = Db::open(path, opts.clone()).expect("reopen");
            }
        }
    }
    reads
}

fn describe_difference(ops: &[Op], want: &Reads, got: &Reads) -> String {
    for (w, g) in want.iter().zip(got) {
        if w != g {
            let keys = |r: &Vec<(Vec<u8>, Vec<u8>)>| r.iter().map(|(k, _)| show(k)).collect::<Vec<_>>();
            let values_differ = keys(&w.1) == keys(&g.1);
            return format!(
                "first difference at op {} {:?}: expected {} entries {:?}, got {} entries {:?}{}",
                w.0,
                ops[w.0],
                w.1.len(),
                keys(&w.1).iter().take(8).collect::<Vec<_>>(),
                g.1.len(),
                keys(&g.1).iter().take(8).collect::<Vec<_>>(),
                if values_differ { " (same keys, different values)" } else { "" }
            );
        }
    }
    format!("{} reads expected, {} made", want.len(), got.len())
}

#[test]
fn one_log_under_randomised_options_reads_the_same() {
    let seed = seed("metamorphic");
    let ops = generate(seed, scale(2_000, 8_000));
    let want = reference_reads(&ops);
    assert!(want.len() > ops.len() / 4, "the log reads: {} reads", want.len());
    assert!(want.iter().filter(|r| r.1.len() > 3).count() > 50, "scans return entries");
    let mut rng = StdRng::seed_from_u64(seed.rotate_left(17));
    for config in 0..scale(5, 16) {
        let clock = Arc::new(MockClock::new(START_MILLIS));
        let (opts, real_dir, desc) = random_options(&mut rng, clock.clone());
        let path = real_dir.as_ref().map_or_else(|| std::path::PathBuf::from("/db"), |d| d.path().join("db"));
        let got = run(&ops, opts, &clock, &path);
        assert!(got == want, "KVD_SEED={seed} config {config} ({desc}): {}", describe_difference(&ops, &want, &got));
    }
}
