//! `kvd-bench`: a db_bench-style load generator for the kvd engine.
//!
//! Runs a comma-separated list of workloads against one database directory, like RocksDB's
//! `db_bench --benchmarks=...`: `fill*` workloads start from an empty database, the others
//! reuse what the previous ones wrote. Prints a table (or `--json`) of ops/s, MB/s, latency
//! percentiles, write and space amplification and peak RSS.

/// mimalloc, as RocksDB's db_bench uses jemalloc: glibc malloc fragments badly under an
/// LSM engine's allocation pattern (many short-lived buffers beside long-lived blocks).
#[cfg(not(feature = "jemalloc"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// With the `jemalloc` feature: jemalloc, which keeps less memory it is not using than
/// mimalloc does under this engine's mix (see `MALLOC_CONF`).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start: a background thread returns dirty pages to the
/// system after a quarter of a second and skips the "muzzy" stage, so a flushed memtable's
/// or an evicted block's memory leaves the resident set soon after it is freed (the default
/// decay is 10 s).
#[cfg(feature = "jemalloc")]
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8] = b"background_thread:true,dirty_decay_ms:250,muzzy_decay_ms:0\0";

/// The allocator this build uses, for the report header.
pub const ALLOCATOR: &str = if cfg!(feature = "jemalloc") { "jemalloc" } else { "mimalloc" };

mod engine;
mod keys;
mod memory;
mod report;
mod workloads;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use kvd::{Compression, Options, SyncPolicy};

/// Key distribution for random workloads.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Distribution {
    /// Every key equally likely.
    Uniform,
    /// Zipfian (s = 0.99): a few hot keys take most operations.
    Zipfian,
}

/// Sync policy on the command line.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SyncArg {
    /// fsync before acknowledging every write group.
    Always,
    /// fsync every 100 ms in the background.
    Interval,
    /// Leave syncing to the operating system.
    Never,
}

/// db_bench-style benchmarks for kvd.
#[derive(Debug, Clone, Parser)]
#[command(version, about, long_about = None)]
pub struct Args {
    /// Comma-separated workloads: fillseq, fillrandom, fillsync, overwrite, readrandom,
    /// readmissing, readseq, readreverse, seekrandom, readwhilewriting, deleterandom,
    /// updaterandom, reopen (flush, close and time opening the database again),
    /// waitforcompaction (flush and wait until compaction has caught up: amplification at
    /// rest).
    #[arg(long, default_value = "fillseq,fillrandom,readrandom,readmissing")]
    pub benchmarks: String,
    /// Number of keys.
    #[arg(long, default_value_t = 1_000_000)]
    pub num: u64,
    /// Operations per read workload (default: `num`).
    #[arg(long)]
    pub reads: Option<u64>,
    /// Key size in bytes (at least 8).
    #[arg(long, default_value_t = 16)]
    pub key_size: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Client threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Database directory (default: a fresh temporary directory).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Key distribution for random workloads.
    #[arg(long, value_enum, default_value_t = Distribution::Uniform)]
    pub distribution: Distribution,
    /// Random seed.
    #[arg(long, default_value_t = 301)]
    pub seed: u64,
    /// Stop each workload after this many seconds (0: run all operations).
    #[arg(long, default_value_t = 0)]
    pub duration: u64,
    /// WAL sync policy (fillsync always syncs every write).
    #[arg(long, value_enum, default_value_t = SyncArg::Never)]
    pub sync: SyncArg,
    /// Block compression: none or zstd.
    #[arg(long, default_value = "none")]
    pub compression: String,
    /// Block cache size in MiB.
    #[arg(long, default_value_t = 64)]
    pub cache_mb: u64,
    /// Memtable size in MiB.
    #[arg(long, default_value_t = 64)]
    pub write_buffer_mb: usize,
    /// Memtables held at most, the active one included (RocksDB's max_write_buffer_number):
    /// the memtable memory budget is this times `--write-buffer-mb`. At least 2.
    #[arg(long, default_value_t = 3)]
    pub max_write_buffers: usize,
    /// L0 files that start a compaction into the base level (db_bench's
    /// `--level0_file_num_compaction_trigger`); kvd and RocksDB.
    #[arg(long, default_value_t = 4)]
    pub l0_trigger: usize,
    /// Bloom filter bits per key (0 disables).
    #[arg(long, default_value_t = 10)]
    pub bloom_bits: u32,
    /// Engine to run: kvd, or rocksdb / fjall when built with the `compare-rocksdb` /
    /// `compare-fjall` features.
    #[arg(long, default_value = "kvd")]
    pub engine: String,
    /// Print results as JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
    /// After each workload, print kvd's per-level files, bytes and compaction traffic (the
    /// JSON output always carries them).
    #[arg(long)]
    pub level_stats: bool,
    /// After each workload, print what memory held at the highest resident set sampled
    /// (memtables, block cache, table readers, the rest); the JSON output always carries it.
    #[arg(long)]
    pub memory_stats: bool,
}

impl Args {
    /// The memory the configuration allows for memtables and the block cache, in MiB: what
    /// peak RSS is measured against.
    pub fn memory_budget_mb(&self) -> u64 {
        (self.write_buffer_mb * self.max_write_buffers) as u64 + self.cache_mb
    }

    /// The kvd options these flags describe.
    pub fn options(&self) -> Result<Options, String> {
        if self.max_write_buffers < 2 {
            return Err("--max-write-buffers must be at least 2 (one active, one flushing)".into());
        }
        let mut o = Options {
            write_buffer_size: self.write_buffer_mb << 20,
            max_immutable_memtables: self.max_write_buffers - 1,
            block_cache_bytes: self.cache_mb << 20,
            ..Options::default()
        };
        o.table.bloom_bits_per_key = self.bloom_bits;
        o.compaction.l0_compaction_trigger = self.l0_trigger.max(1);
        o.table.compression = match self.compression.as_str() {
            "none" => Compression::None,
            "zstd" => Compression::Zstd { level: 3 },
            other => return Err(format!("unknown compression {other:?} (none or zstd)")),
        };
        o.sync_policy = match self.sync {
            SyncArg::Always => SyncPolicy::Always,
            SyncArg::Interval => SyncPolicy::Interval(Duration::from_millis(100)),
            SyncArg::Never => SyncPolicy::Never,
        };
        Ok(o)
    }
}

fn main() {
    let args = Args::parse();
    if args.key_size < 8 {
        eprintln!("kvd-bench: --key-size must be at least 8");
        std::process::exit(2);
    }
    let tmp;
    let dir = match &args.db {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir().expect("creating a temporary directory");
            tmp.path().join("db")
        }
    };
    if !args.json {
        report::print_header(&args);
    }
    let mut runner = workloads::Runner::new(args.clone(), dir);
    for name in args.benchmarks.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match runner.run(name) {
            Ok(r) => report::print(&r, args.json, args.level_stats, args.memory_stats),
            Err(e) => {
                eprintln!("kvd-bench: {name}: {e}");
                std::process::exit(1);
            }
        }
    }
}
