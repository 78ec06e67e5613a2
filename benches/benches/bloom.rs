//! Bloom filter build and probe.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kvd_lsm::sstable::{FilterBuilder, FilterReader};

fn bench(c: &mut Criterion) {
    let keys: Vec<Vec<u8>> = (0..10_000u64).map(|i| format!("{i:016}").into_bytes()).collect();
    let mut g = c.benchmark_group("bloom");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("build 10k keys, 10 bits/key", |b| {
        b.iter(|| {
            let mut f = FilterBuilder::new(10);
            for k in &keys {
                f.add(k);
            }
            std::hint::black_box(f.finish())
        })
    });
    let mut f = FilterBuilder::new(10);
    for k in &keys {
        f.add(k);
    }
    let reader = FilterReader::decode(&f.finish().unwrap()).unwrap();
    let missing: Vec<Vec<u8>> = (0..10_000u64).map(|i| format!("{:016}", i + 1_000_000).into_bytes()).collect();
    g.bench_function("probe 10k present", |b| b.iter(|| keys.iter().filter(|k| reader.may_contain(k)).count()));
    g.bench_function("probe 10k missing", |b| b.iter(|| missing.iter().filter(|k| reader.may_contain(k)).count()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
