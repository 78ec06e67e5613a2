//! Transactions and typed values: commit throughput at 1, 4 and 16 threads with low
//! contention (random keys out of 1M) and high contention (10 hot keys), and list push / set
//! add on a 1M-element collection against one that starts empty.
//!
//! Quick run: `cargo bench -p kvd-benches --bench txn -- --warm-up-time 1 --measurement-time 3`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kvd::{Db, Options, RetryOptions};
use rand::Rng;

fn open() -> (tempfile::TempDir, Arc<Db>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
    (dir, db)
}

/// One transfer-like transaction: read two keys, write both, retried until it commits.
/// Adds the attempts it took to `attempts`.
fn rmw(db: &Db, keyspace: u64, attempts: &AtomicU64) {
    let mut rng = rand::rng();
    let opts = RetryOptions { max_attempts: u32::MAX, ..RetryOptions::default() };
    kvd::retry(db, opts, |t| {
        attempts.fetch_add(1, Ordering::Relaxed);
        let a = rng.random_range(0..keyspace);
        let b = (a + rng.random_range(1..keyspace)) % keyspace;
        for k in [a, b] {
            let key = format!("k{k:07}");
            let n = t.get(key.as_bytes())?.map_or(0, |v| u64::from_le_bytes(v.try_into().unwrap()));
            t.put(key.as_bytes(), &(n + 1).to_le_bytes())?;
        }
        Ok(())
    })
    .unwrap();
}

fn commit_throughput(c: &mut Criterion) {
    let (_dir, db) = open();
    let mut g = c.benchmark_group("txn_commit");
    g.throughput(Throughput::Elements(1));
    for (name, keyspace) in [("low_contention_1M_keys", 1_000_000u64), ("high_contention_10_keys", 10)] {
        for threads in [1u64, 4, 16] {
            let attempts = Arc::new(AtomicU64::new(0));
            let commits = Arc::new(AtomicU64::new(0));
            g.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &threads| {
                b.iter_custom(|iters| {
                    let per_thread = iters.div_ceil(threads);
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for _ in 0..threads {
                            s.spawn(|| (0..per_thread).for_each(|_| rmw(&db, keyspace, &attempts)));
                        }
                    });
                    commits.fetch_add(per_thread * threads, Ordering::Relaxed);
                    // Per transaction, as the throughput says.
                    start.elapsed().mul_f64(iters as f64 / (per_thread * threads) as f64)
                })
            });
            let (a, n) = (attempts.load(Ordering::Relaxed), commits.load(Ordering::Relaxed).max(1));
            eprintln!("txn_commit/{name}/{threads}: {:.3} attempts per commit", a as f64 / n as f64);
        }
    }
    g.finish();
}

const BIG: u32 = 1_000_000;

fn collections(c: &mut Criterion) {
    let (_dir, db) = open();
    let started = Instant::now();
    let values: Vec<[u8; 8]> = (0..u64::from(BIG)).map(u64::to_be_bytes).collect();
    for chunk in values.chunks(100_000) {
        db.rpush(b"big_list", chunk).unwrap();
        db.sadd(b"big_set", chunk).unwrap();
    }
    db.flush().unwrap();
    assert_eq!(db.llen(b"big_list").unwrap(), u64::from(BIG));
    assert_eq!(db.scard(b"big_set").unwrap(), u64::from(BIG));
    eprintln!("built a {BIG}-element list and set in {:?}", started.elapsed());

    let mut g = c.benchmark_group("collections");
    g.throughput(Throughput::Elements(1));
    for (name, key) in [("rpush/1M", &b"big_list"[..]), ("rpush/empty", b"small_list")] {
        g.bench_function(name, |b| b.iter(|| db.rpush(key, &[b"value"]).unwrap()));
    }
    let next = AtomicU64::new(u64::from(BIG));
    for (name, key) in [("sadd/1M", &b"big_set"[..]), ("sadd/empty", b"small_set")] {
        g.bench_function(name, |b| {
            b.iter(|| db.sadd(key, &[next.fetch_add(1, Ordering::Relaxed).to_be_bytes()]).unwrap())
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = commit_throughput, collections
}
criterion_main!(benches);
