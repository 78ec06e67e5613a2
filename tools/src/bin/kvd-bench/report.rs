//! Collecting and printing results.

use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::engine::{BenchDb, LevelSummary};
use crate::Args;

/// One workload's figures.
#[derive(Debug, Serialize)]
pub struct BenchResult {
    pub benchmark: String,
    pub ops: u64,
    pub found: u64,
    pub seconds: f64,
    pub ops_per_sec: f64,
    pub mb_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub write_amplification: f64,
    pub space_amplification: f64,
    pub db_bytes: u64,
    pub peak_rss_mb: f64,
    /// Memtables (write buffer × max write buffers) plus block cache, in MiB.
    pub memory_budget_mb: u64,
    /// What memory held at the highest RSS sampled since the database was opened.
    pub memory_at_peak: crate::memory::PeakSample,
    pub l0_files: usize,
    /// Writes per commit group (log append) since the database was opened (cumulative over
    /// the workloads run on it): the group-commit factor; 0 when the engine does not say.
    pub writes_per_group: f64,
    /// readwhilewriting: the writer's puts per second beside the readers (0 otherwise).
    pub writer_ops_per_sec: f64,
    /// Per level at the end of the workload (kvd only; `--level-stats` prints it).
    pub levels: Vec<LevelSummary>,
    pub engine: String,
}

impl BenchResult {
    pub fn collect(
        name: &str,
        db: &dyn BenchDb,
        dir: &Path,
        args: &Args,
        elapsed: Duration,
        threads: impl Iterator<Item = (u64, u64, u64, Histogram<u64>)>,
    ) -> BenchResult {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds");
        let (mut ops, mut found, mut bytes) = (0, 0, 0);
        for (o, f, b, h) in threads {
            ops += o;
            found += f;
            bytes += b;
            let _ = hist.add(&h);
        }
        let secs = elapsed.as_secs_f64().max(1e-9);
        let db_bytes = dir_size(dir);
        let logical = args.num * (args.key_size + args.value_size) as u64;
        let (writes, groups) = db.write_groups();
        BenchResult {
            engine: args.engine.clone(),
            benchmark: name.to_string(),
            ops,
            found,
            seconds: secs,
            ops_per_sec: ops as f64 / secs,
            mb_per_sec: bytes as f64 / secs / 1_048_576.0,
            p50_us: hist.value_at_quantile(0.5) as f64 / 1000.0,
            p99_us: hist.value_at_quantile(0.99) as f64 / 1000.0,
            p999_us: hist.value_at_quantile(0.999) as f64 / 1000.0,
            write_amplification: db.write_amplification(),
            space_amplification: if logical == 0 { 0.0 } else { db_bytes as f64 / logical as f64 },
            db_bytes,
            peak_rss_mb: crate::memory::peak_rss_kb() as f64 / 1024.0,
            memory_budget_mb: args.memory_budget_mb(),
            memory_at_peak: Default::default(),
            l0_files: db.l0_files(),
            writes_per_group: if groups == 0 { 0.0 } else { writes as f64 / groups as f64 },
            writer_ops_per_sec: 0.0,
            levels: db.levels(),
        }
    }
}

fn dir_size(dir: &Path) -> u64 {
    // Recursive: some engines (fjall) keep their files in subdirectories.
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

pub fn print_header(args: &Args) {
    println!(
        "kvd-bench ({}, {}): {} keys, {}-byte keys, {}-byte values, {} thread(s), sync {:?}, compression {}, cache {} MiB, memtable {} MiB x {} (memory budget {} MiB)",
        args.engine,
        crate::ALLOCATOR,
        args.num,
        args.key_size,
        args.value_size,
        args.threads,
        args.sync,
        args.compression,
        args.cache_mb,
        args.write_buffer_mb,
        args.max_write_buffers,
        args.memory_budget_mb()
    );
    println!(
        "{:<18} {:>12} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7} {:>9}",
        "benchmark", "ops/s", "MB/s", "p50 us", "p99 us", "p99.9 us", "w-amp", "s-amp", "rss MiB"
    );
}

pub fn print(r: &BenchResult, json: bool, level_stats: bool, memory_stats: bool) {
    if json {
        println!("{}", serde_json::to_string(r).unwrap_or_default());
        return;
    }
    print_row(r);
    if memory_stats {
        let m = &r.memory_at_peak;
        println!(
            "  memory at peak RSS {:.1} MiB (budget {} MiB): memtable {:.1}, immutable memtables {:.1}, block cache {:.1}, table readers {:.1}, other {:.1}",
            m.rss_mb,
            r.memory_budget_mb,
            m.memtable_mb,
            m.immutable_memtables_mb,
            m.block_cache_mb,
            m.table_readers_mb,
            m.other_mb
        );
    }
    if level_stats {
        for (i, l) in r.levels.iter().enumerate().filter(|(_, l)| l.files > 0 || l.written > 0) {
            let mib = |b: u64| b as f64 / 1_048_576.0;
            println!(
                "  L{i}: {} files, {:.1} MiB; compactions read {:.1} MiB from it, wrote {:.1} MiB into it",
                l.files,
                mib(l.bytes),
                mib(l.read),
                mib(l.written)
            );
        }
    }
}

fn print_row(r: &BenchResult) {
    let mut found = if r.found != r.ops && r.found > 0 { format!(" ({} found)", r.found) } else { String::new() };
    if r.writer_ops_per_sec > 0.0 {
        found += &format!(" (writer beside: {:.0} puts/s)", r.writer_ops_per_sec);
    }
    if r.writes_per_group > 1.0 {
        found += &format!(" ({:.1} writes per commit group)", r.writes_per_group);
    }
    println!(
        "{:<18} {:>12.0} {:>9.1} {:>9.2} {:>9.2} {:>9.2} {:>7.2} {:>7.2} {:>9.1}{found}",
        r.benchmark,
        r.ops_per_sec,
        r.mb_per_sec,
        r.p50_us,
        r.p99_us,
        r.p999_us,
        r.write_amplification,
        r.space_amplification,
        r.peak_rss_mb
    );
}
