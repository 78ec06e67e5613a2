//! Memtable insert and lookup.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kvd_base::key::ValueKind;
use kvd_lsm::iter::InternalIterator;
use kvd_lsm::memtable::MemTable;
use rand::{Rng, SeedableRng};

fn key(i: u64) -> Vec<u8> {
    format!("{i:016}").into_bytes()
}

fn filled(n: u64) -> Arc<MemTable> {
    let m = Arc::new(MemTable::new(1));
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for seq in 1..=n {
        m.insert(&key(rng.random_range(0..n)), seq, ValueKind::Put, &[b'v'; 100]);
    }
    m
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("memtable");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("insert 10k random into 100k", |b| {
        b.iter_batched(
            || (filled(100_000), rand::rngs::StdRng::seed_from_u64(2)),
            |(m, mut rng)| {
                for seq in 0..10_000u64 {
                    m.insert(&key(rng.random_range(0..1_000_000)), 1_000_000 + seq, ValueKind::Put, &[b'v'; 100]);
                }
            },
            BatchSize::LargeInput,
        )
    });
    let m = filled(100_000);
    g.bench_function("get 10k random of 100k", |b| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        b.iter(|| {
            for _ in 0..10_000 {
                std::hint::black_box(m.get(&key(rng.random_range(0..100_000)), u64::MAX >> 8));
            }
        })
    });
    g.bench_function("scan 10k", |b| {
        b.iter(|| {
            let mut it = m.iter();
            it.seek_to_first().unwrap();
            for _ in 0..10_000 {
                std::hint::black_box(it.key());
                it.next().unwrap();
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
