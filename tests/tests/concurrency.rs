//! Concurrency: 8 threads mix writes, batches, point reads, bounded scans in both directions
//! and snapshots for a few seconds (much longer with `KVD_STRESS=1`) while memtables flush
//! and compactions run underneath.
//!
//! Each thread owns a key range and keeps its own model of it, so every read of its own range
//! is exact. Across threads: each thread also rewrites a pair of keys with one value per
//! batch, and the others read that pair at one snapshot, which must never show the halves of
//! two different batches. A snapshot held over many iterations must keep reading exactly what
//! it saw when taken. At the end, the whole database equals the union of the models, before
//! and after a reopen.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvd::{Db, Options, ReadOptions, SyncPolicy, TableOptions, WriteBatch};
use kvd_tests::env::{scale, seed};
use kvd_tests::model::{show, Model};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const THREADS: usize = 8;
const KEYS_PER_THREAD: u32 = 300;

fn key(t: usize, i: u32) -> Vec<u8> {
    format!("t{t}/k{i:04}").into_bytes()
}

fn pair_key(t: usize, half: &str) -> Vec<u8> {
    format!("t{t}/pair/{half}").into_bytes()
}

fn prefix(t: usize) -> Vec<u8> {
    format!("t{t}/").into_bytes()
}

fn options() -> Options {
    Options {
        write_buffer_size: 64 << 10,
        sync_policy: SyncPolicy::Never,
        table: TableOptions { block_size: 1024, ..TableOptions::default() },
        block_cache_bytes: 1 << 20,
        ..Options::default()
    }
}

fn scan_model(m: &Model, lower: &[u8], upper: &[u8], reverse: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    m.scan(Some(lower), Some(upper), reverse)
}

/// One thread's work until `stop`; returns its model and how many operations it ran.
fn worker(db: &Db, t: usize, seed: u64, stop: &AtomicBool) -> (Model, u64) {
    let mut rng = StdRng::seed_from_u64(seed ^ (t as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut model = Model::new();
    let mut held: Option<(kvd::Snapshot, Model)> = None;
    let mut ops = 0u64;
    let mut pair_version = 0u64;
    let value = |rng: &mut StdRng, i: u32, n: u64| {
        let mut v = format!("t{t}:{i}:{n}:").into_bytes();
        v.resize(v.len() + rng.random_range(0..200), b'0' + (n % 10) as u8);
        v
    };
    while !stop.load(Ordering::Relaxed) {
        ops += 1;
        let i = rng.random_range(0..KEYS_PER_THREAD);
        match rng.random_range(0..100) {
            0..35 => {
                let v = value(&mut rng, i, ops);
                db.put(&key(t, i), &v).expect("put");
                model.put(&key(t, i), &v);
            }
            35..45 => {
                db.delete(&key(t, i)).expect("delete");
                model.delete(&key(t, i));
            }
            45..55 => {
                let mut b = WriteBatch::new();
                for _ in 0..rng.random_range(1..8) {
                    let k = key(t, rng.random_range(0..KEYS_PER_THREAD));
                    if rng.random_bool(0.8) {
                        b.put(k, value(&mut rng, i, ops));
                    } else {
                        b.delete(k);
                    }
                }
                pair_version += 1;
                b.put(pair_key(t, "a"), pair_version.to_string());
                b.put(pair_key(t, "b"), pair_version.to_string());
                db.write(b.clone()).expect("batch");
                model.apply(&b);
            }
            55..75 => {
                let got = db.get(&key(t, i)).expect("get");
                assert_eq!(got, model.get(&key(t, i)), "thread {t}: get {}", show(&key(t, i)));
            }
            75..82 => {
                let (a, b) = (rng.random_range(0..KEYS_PER_THREAD), rng.random_range(0..KEYS_PER_THREAD));
                let (lo, hi) = (key(t, a.min(b)), key(t, a.max(b) + 1));
                let reverse = rng.random_bool(0.5);
                let got: Vec<_> = db.scan_opt(Some(&lo), Some(&hi), reverse, None).map(|r| r.expect("scan")).collect();
                assert!(got == scan_model(&model, &lo, &hi, reverse), "thread {t}: scan {}..{}", show(&lo), show(&hi));
            }
            82..88 => {
                // Another thread's pair, read at one snapshot: both halves from one batch.
                let other = rng.random_range(0..THREADS);
                let snap = db.snapshot();
                let ro = ReadOptions { snapshot: Some(&snap), ..Default::default() };
                let a = db.get_opt(&pair_key(other, "a"), &ro).expect("pair a");
                let b = db.get_opt(&pair_key(other, "b"), &ro).expect("pair b");
                assert_eq!(a, b, "thread {t} saw a torn batch of thread {other}");
                let pair: Vec<_> =
                    db.prefix_scan(format!("t{other}/pair/").as_bytes()).map(|r| r.expect("pair scan").1).collect();
                assert!(pair.len() != 1, "thread {t}: a scan saw half of thread {other}'s pair");
            }
            88..92 => {
                if let Some((snap, m)) = &held {
                    let ro = ReadOptions { snapshot: Some(snap), ..Default::default() };
                    assert_eq!(
                        db.get_opt(&key(t, i), &ro).expect("snapshot get"),
                        m.get(&key(t, i)),
                        "thread {t}: held snapshot"
                    );
                    let p = prefix(t);
                    let end = kvd::prefix_successor(&p).unwrap();
                    let got: Vec<_> = db
                        .scan_opt(Some(&p), Some(&end), rng.random_bool(0.5), Some(snap))
                        .map(|r| r.expect("scan"))
                        .collect();
                    let n = got.len();
                    let want = m.scan(Some(&p), Some(&end), false);
                    let mut sorted = got;
                    sorted.sort();
                    assert!(sorted == want, "thread {t}: held snapshot scan changed ({n} vs {} entries)", want.len());
                }
                if rng.random_bool(0.3) {
                    held = Some((db.snapshot(), model.clone()));
                }
            }
            92..99 => {
                // Read someone else's range: must not fail while it changes underneath.
                let other = rng.random_range(0..THREADS);
                let p = prefix(other);
                let keys: Vec<Vec<u8>> = db.prefix_scan(&p).take(50).map(|r| r.expect("foreign scan").0).collect();
                assert!(keys.windows(2).all(|w| w[0] < w[1]), "thread {t}: scan of thread {other} out of order");
                assert!(keys.iter().all(|k| k.starts_with(&p)), "thread {t}: prefix scan left its prefix");
            }
            _ => {
                if t == 0 && rng.random_bool(0.2) {
                    db.flush().expect("flush");
                }
            }
        }
    }
    (model, ops)
}

fn check_all(db: &Db, models: &[Model], what: &str) {
    let mut union = Model::new();
    for m in models {
        for (k, v) in m.entries() {
            union.put(k, v);
        }
    }
    let got: Vec<_> = db.scan(None, None).map(|r| r.expect("final scan")).collect();
    let want = union.scan(None, None, false);
    assert_eq!(got.len(), want.len(), "{what}: entry count");
    assert!(got == want, "{what}: contents");
}

#[test]
fn eight_threads_mixing_reads_writes_scans_and_snapshots() {
    let seed = seed("concurrency");
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), options()).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let run_for = Duration::from_secs(scale(3, 60));
    let started = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::Builder::new().name(format!("worker-{t}")).spawn(move || worker(&db, t, seed, &stop)).unwrap()
        })
        .collect();
    std::thread::sleep(run_for);
    stop.store(true, Ordering::Relaxed);
    let results: Vec<(Model, u64)> = handles.into_iter().map(|h| h.join().expect("a worker failed")).collect();
    let total_ops: u64 = results.iter().map(|r| r.1).sum();
    let models: Vec<Model> = results.into_iter().map(|r| r.0).collect();
    let stats = db.stats();
    eprintln!("{total_ops} operations in {:?}; {stats:?}", started.elapsed());
    assert!(total_ops > 10_000, "the threads made progress: {total_ops} operations");
    assert!(stats.flushes > 2, "memtables were flushed under the load: {stats:?}");
    check_all(&db, &models, "after the run");
    let db = Arc::into_inner(db).expect("workers are done");
    db.close().unwrap();
    drop(db);
    let db = Db::open(dir.path(), options()).unwrap();
    check_all(&db, &models, "after reopen");
}
