//! Where the memory goes: a thread samples the process's resident set every 20 ms together
//! with what the engine says it holds (memtables, block cache, table readers), and keeps the
//! sample taken at the highest RSS, so a report can say what the peak was made of.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde::Serialize;

use crate::engine::BenchDb;

/// What the engine holds, in bytes (as far as it says).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct EngineMemory {
    /// Active memtable.
    pub memtable: u64,
    /// Immutable memtables (flushing or waiting to).
    pub immutable_memtables: u64,
    /// Block cache contents.
    pub block_cache: u64,
    /// Table readers' indexes and filters.
    pub table_readers: u64,
}

/// The sample taken at the highest resident set seen, in MiB.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PeakSample {
    pub rss_mb: f64,
    pub memtable_mb: f64,
    pub immutable_memtables_mb: f64,
    pub block_cache_mb: f64,
    pub table_readers_mb: f64,
    /// The rest: allocator slack, the benchmark's own memory, iterators, compaction buffers.
    pub other_mb: f64,
}

/// The process's current resident set (Linux `VmRSS`), in KiB; 0 where unknown.
pub fn rss_kb() -> u64 {
    status_kb("VmRSS:")
}

/// The process's peak resident set (Linux `VmHWM`), in KiB; 0 where unknown.
pub fn peak_rss_kb() -> u64 {
    status_kb("VmHWM:")
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The highest sample so far, shared with the sampling thread.
#[derive(Clone, Default)]
pub struct Sampler {
    peak: Arc<Mutex<PeakSample>>,
}

impl Sampler {
    /// Samples `db` until it is dropped.
    pub fn watch(&self, db: Weak<dyn BenchDb>) {
        let peak = self.peak.clone();
        std::thread::spawn(move || {
            while let Some(db) = db.upgrade() {
                let rss = rss_kb() as f64 / 1024.0;
                let m = db.memory().unwrap_or_default();
                drop(db);
                let mut p = peak.lock().unwrap_or_else(|e| e.into_inner());
                if rss > p.rss_mb {
                    let mib = |b: u64| b as f64 / 1_048_576.0;
                    let engine = mib(m.memtable + m.immutable_memtables + m.block_cache + m.table_readers);
                    *p = PeakSample {
                        rss_mb: rss,
                        memtable_mb: mib(m.memtable),
                        immutable_memtables_mb: mib(m.immutable_memtables),
                        block_cache_mb: mib(m.block_cache),
                        table_readers_mb: mib(m.table_readers),
                        other_mb: rss - engine,
                    };
                }
                drop(p);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
    }

    /// The sample at the highest RSS seen so far.
    pub fn peak(&self) -> PeakSample {
        *self.peak.lock().unwrap_or_else(|e| e.into_inner())
    }
}
