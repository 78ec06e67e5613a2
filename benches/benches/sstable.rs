//! SSTable scan and point lookup through the block cache, and the merging iterator over
//! several tables.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kvd_base::fs::{Fs, MemFs};
use kvd_base::key::{InternalKey, ValueKind};
use kvd_lsm::cache::BlockCache;
use kvd_lsm::iter::{BoxedIterator, InternalIterator, MergingIterator};
use kvd_lsm::sstable::{Table, TableBuilder, TableOptions};

const N: u64 = 50_000;

fn table(fs: &MemFs, number: u64, stride: u64, offset: u64, cache: &Arc<BlockCache>) -> Arc<Table> {
    let path = std::path::PathBuf::from(format!("/t{number}.sst"));
    let mut b = TableBuilder::new(fs.create(&path).unwrap(), "t".into(), TableOptions::default());
    for i in 0..N {
        let k = InternalKey::new(format!("{:016}", i * stride + offset).as_bytes(), i + 1, ValueKind::Put);
        b.add(k.encoded(), &[b'v'; 100]).unwrap();
    }
    b.finish().unwrap();
    Table::open(fs.open(&path).unwrap(), number, "t".into(), Some(cache.clone())).unwrap()
}

fn bench(c: &mut Criterion) {
    let fs = MemFs::new();
    let cache = Arc::new(BlockCache::new(64 << 20));
    let t = table(&fs, 1, 1, 0, &cache);
    let mut g = c.benchmark_group("sstable");
    g.throughput(Throughput::Elements(N));
    g.bench_function("scan 50k entries", |b| {
        b.iter(|| {
            let mut it = t.iter();
            it.seek_to_first().unwrap();
            let mut n = 0;
            while it.valid() {
                n += 1;
                it.next().unwrap();
            }
            n
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("get (cached blocks)", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = (i + 7919) % N;
            t.get(format!("{i:016}").as_bytes(), u64::MAX >> 8).unwrap()
        })
    });
    let tables: Vec<Arc<Table>> = (0..4).map(|n| table(&fs, 10 + n, 4, n, &cache)).collect();
    g.throughput(Throughput::Elements(4 * N));
    g.bench_function("merge 4 tables x 50k", |b| {
        b.iter(|| {
            let children: Vec<BoxedIterator> = tables.iter().map(|t| Box::new(t.iter()) as BoxedIterator).collect();
            let mut it = MergingIterator::new(children);
            it.seek_to_first().unwrap();
            let mut n = 0;
            while it.valid() {
                n += 1;
                it.next().unwrap();
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
