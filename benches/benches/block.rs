//! Data block build and seek.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kvd_base::key::{InternalKey, ValueKind};
use kvd_lsm::iter::InternalIterator;
use kvd_lsm::sstable::{Block, BlockBuilder};

fn entries() -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..32u64)
        .map(|i| {
            (InternalKey::new(format!("{:016}", i * 7).as_bytes(), i, ValueKind::Put).into_encoded(), vec![b'v'; 100])
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let es = entries();
    let mut g = c.benchmark_group("block");
    g.throughput(Throughput::Elements(es.len() as u64));
    g.bench_function("build 4 KiB block", |b| {
        b.iter(|| {
            let mut bb = BlockBuilder::new(16);
            for (k, v) in &es {
                bb.add(k, v);
            }
            std::hint::black_box(bb.finish())
        })
    });
    let mut bb = BlockBuilder::new(16);
    for (k, v) in &es {
        bb.add(k, v);
    }
    let block = Arc::new(Block::from_bytes(bb.finish()).unwrap());
    g.throughput(Throughput::Elements(1));
    g.bench_function("seek", |b| {
        let target = InternalKey::seek_key(format!("{:016}", 100).as_bytes(), u64::MAX >> 8);
        b.iter(|| {
            let mut it = block.iter();
            it.seek(target.encoded()).unwrap();
            std::hint::black_box(it.valid())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
