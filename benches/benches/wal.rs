//! Write-ahead log append (to the OS, no fsync, as with the `never` and `interval` policies).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kvd_base::fs::StdFs;
use kvd_wal::{SyncPolicy, Wal};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::create(Arc::new(StdFs), dir.path(), 1, SyncPolicy::Never).unwrap();
    let record = vec![b'r'; 130];
    let mut g = c.benchmark_group("wal");
    g.throughput(Throughput::Bytes(record.len() as u64));
    g.bench_function("append 130-byte record", |b| b.iter(|| wal.append(&record, false).unwrap()));
    let big = vec![b'r'; 64 << 10];
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("append 64 KiB group", |b| b.iter(|| wal.append(&big, false).unwrap()));
    g.finish();
    wal.close().unwrap();
}

criterion_group!(benches, bench);
criterion_main!(benches);
