//! The workloads, run across `--threads` client threads.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::engine::{self, BenchDb};
use crate::keys::{key, KeyGen, Values};
use crate::memory::Sampler;
use crate::report::BenchResult;
use crate::{Args, Distribution};

/// Runs workloads in order against one database.
pub struct Runner {
    args: Args,
    dir: PathBuf,
    db: Option<Arc<dyn BenchDb>>,
    round: u64,
    memory: Sampler,
}

/// What one thread measured.
struct ThreadResult {
    ops: u64,
    found: u64,
    bytes: u64,
    hist: Histogram<u64>,
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    FillSeq,
    FillRandom,
    FillSync,
    Overwrite,
    ReadRandom,
    ReadMissing,
    ReadSeq,
    ReadReverse,
    SeekRandom,
    DeleteRandom,
    UpdateRandom,
}

impl Runner {
    pub fn new(args: Args, dir: PathBuf) -> Self {
        Runner { args, dir, db: None, round: 0, memory: Sampler::default() }
    }

    fn open(&mut self, fresh: bool) -> Result<Arc<dyn BenchDb>, String> {
        if fresh {
            if let Some(db) = self.db.take() {
                db.close().map_err(|e| e.to_string())?;
            }
            if self.dir.exists() {
                std::fs::remove_dir_all(&self.dir).map_err(|e| e.to_string())?;
            }
        }
        if self.db.is_none() {
            let db: Arc<dyn BenchDb> = Arc::from(engine::open(&self.args, &self.dir)?);
            self.memory.watch(Arc::downgrade(&db));
            self.db = Some(db);
        }
        Ok(self.db.clone().expect("opened above"))
    }

    /// Runs workload `name`; the result carries what memory was made of at the highest RSS
    /// seen so far.
    pub fn run(&mut self, name: &str) -> Result<BenchResult, String> {
        let mut r = self.run_workload(name)?;
        r.memory_at_peak = self.memory.peak();
        Ok(r)
    }

    fn run_workload(&mut self, name: &str) -> Result<BenchResult, String> {
        self.round += 1;
        let op = match name {
            "fillseq" => Op::FillSeq,
            "fillrandom" => Op::FillRandom,
            "fillsync" => Op::FillSync,
            "overwrite" => Op::Overwrite,
            "readrandom" => Op::ReadRandom,
            "readmissing" => Op::ReadMissing,
            "readseq" => Op::ReadSeq,
            "readreverse" => Op::ReadReverse,
            "seekrandom" => Op::SeekRandom,
            "deleterandom" => Op::DeleteRandom,
            "updaterandom" => Op::UpdateRandom,
            "readwhilewriting" => return self.read_while_writing(),
            "reopen" => return self.reopen(),
            "waitforcompaction" => return self.wait_for_compaction(),
            other => return Err(format!("unknown benchmark {other:?}")),
        };
        let fresh = matches!(op, Op::FillSeq | Op::FillRandom | Op::FillSync);
        let db = self.open(fresh)?;
        let threads = self.args.threads.max(1);
        let total = match op {
            Op::FillSync => (self.args.num / 100).max(threads as u64),
            Op::ReadRandom | Op::ReadMissing | Op::SeekRandom | Op::ReadSeq | Op::ReadReverse => {
                self.args.reads.unwrap_or(self.args.num)
            }
            _ => self.args.num,
        };
        let per_thread = total / threads as u64;
        let deadline = (self.args.duration > 0).then(|| Instant::now() + Duration::from_secs(self.args.duration));
        let start = Instant::now();
        let results: Vec<ThreadResult> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let db = db.clone();
                    let args = &self.args;
                    let seed = args.seed + 1000 * self.round + t as u64;
                    s.spawn(move || run_thread(&*db, args, op, t as u64, per_thread, seed, deadline))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("bench thread panicked")).collect::<Result<_, _>>()
        })?;
        let elapsed = start.elapsed();
        if matches!(op, Op::FillSeq | Op::FillRandom | Op::Overwrite | Op::DeleteRandom | Op::UpdateRandom) {
            // Let background work settle so amplification figures are comparable.
            db.flush()?;
        }
        Ok(BenchResult::collect(
            name,
            &*db,
            &self.dir,
            &self.args,
            elapsed,
            results.into_iter().map(|r| (r.ops, r.found, r.bytes, r.hist)),
        ))
    }

    /// Closes the database (flushing memtables, as a clean shutdown does) and times opening
    /// it again: recovery, manifest replay and whatever the engine loads eagerly. One
    /// operation whose latency is the open time. With `--db` pointing at an existing
    /// database as the first workload, it times opening that database.
    fn reopen(&mut self) -> Result<BenchResult, String> {
        if let Some(db) = self.db.take() {
            db.flush()?;
            db.close()?;
        }
        let start = Instant::now();
        let db = self.open(false)?;
        let elapsed = start.elapsed();
        let mut hist = new_hist();
        hist.saturating_record(elapsed.as_nanos() as u64);
        Ok(BenchResult::collect("reopen", &*db, &self.dir, &self.args, elapsed, std::iter::once((1, 1, 0, hist))))
    }

    /// db_bench's `waitforcompaction`: flushes, then waits until background compaction has
    /// caught up, so amplification figures compare engines at rest rather than at whatever
    /// point each one's compaction backlog had reached when the last write returned.
    fn wait_for_compaction(&mut self) -> Result<BenchResult, String> {
        let db = self.open(false)?;
        let start = Instant::now();
        db.flush()?;
        db.wait_for_compactions()?;
        let elapsed = start.elapsed();
        let mut hist = new_hist();
        hist.saturating_record(elapsed.as_nanos() as u64);
        let result = std::iter::once((1, 1, 0, hist));
        Ok(BenchResult::collect("waitforcompaction", &*db, &self.dir, &self.args, elapsed, result))
    }

    fn read_while_writing(&mut self) -> Result<BenchResult, String> {
        let db = self.open(false)?;
        let readers = self.args.threads.max(1);
        let reads = self.args.reads.unwrap_or(self.args.num) / readers as u64;
        let stop = AtomicBool::new(false);
        let start = Instant::now();
        let (results, written) = std::thread::scope(|s| {
            let writer = {
                let db = db.clone();
                let args = &self.args;
                let stop = &stop;
                let seed = args.seed + 7 + 1000 * self.round;
                s.spawn(move || {
                    let mut keys = KeyGen::new(seed, args.num, args.distribution);
                    let mut values = Values::new(seed, args.value_size);
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        if db.put(&key(keys.next(), args.key_size), values.next()).is_err() {
                            break;
                        }
                        n += 1;
                    }
                    n
                })
            };
            let handles: Vec<_> = (0..readers)
                .map(|t| {
                    let db = db.clone();
                    let args = &self.args;
                    let seed = args.seed + 1000 * self.round + t as u64;
                    s.spawn(move || run_thread(&*db, args, Op::ReadRandom, t as u64, reads, seed, None))
                })
                .collect();
            let results: Result<Vec<ThreadResult>, String> =
                handles.into_iter().map(|h| h.join().expect("bench thread panicked")).collect();
            stop.store(true, Ordering::Relaxed);
            (results, writer.join().expect("writer panicked"))
        });
        let results = results?;
        let elapsed = start.elapsed();
        let mut r = BenchResult::collect(
            "readwhilewriting",
            &*db,
            &self.dir,
            &self.args,
            elapsed,
            results.into_iter().map(|r| (r.ops, r.found, r.bytes, r.hist)),
        );
        // The writer runs flat out, as in db_bench: an engine whose writer is faster also
        // makes more flush and compaction work beside its readers, so say how much it wrote.
        r.writer_ops_per_sec = written as f64 / elapsed.as_secs_f64().max(1e-9);
        Ok(r)
    }
}

fn run_thread(
    db: &dyn BenchDb,
    args: &Args,
    op: Op,
    thread: u64,
    count: u64,
    seed: u64,
    deadline: Option<Instant>,
) -> Result<ThreadResult, String> {
    let dist = if matches!(op, Op::FillRandom) { Distribution::Uniform } else { args.distribution };
    let mut keys = KeyGen::new(seed, args.num, dist);
    let mut values = Values::new(seed, args.value_size);
    let mut r = ThreadResult { ops: 0, found: 0, bytes: 0, hist: new_hist() };
    let entry = (args.key_size + args.value_size) as u64;
    if matches!(op, Op::ReadSeq | Op::ReadReverse) {
        let mut last = Instant::now();
        db.scan(op == Op::ReadReverse, count as usize, &mut |size| {
            let now = Instant::now();
            r.hist.saturating_record(now.duration_since(last).as_nanos() as u64);
            last = now;
            r.ops += 1;
            r.found += 1;
            r.bytes += size as u64;
        })?;
        return Ok(r);
    }
    for i in 0..count {
        if deadline.is_some_and(|d| i % 256 == 0 && Instant::now() >= d) {
            break;
        }
        let k = match op {
            Op::FillSeq => thread * count + i,
            Op::ReadMissing => args.num + keys.next(),
            _ => keys.next(),
        };
        let k = key(k, args.key_size);
        let t0 = Instant::now();
        match op {
            Op::FillSeq | Op::FillRandom | Op::Overwrite => {
                db.put(&k, values.next())?;
                r.bytes += entry;
            }
            Op::FillSync => {
                db.put_sync(&k, values.next())?;
                r.bytes += entry;
            }
            Op::ReadRandom | Op::ReadMissing => {
                if let Some(v) = db.get(&k)? {
                    r.found += 1;
                    r.bytes += (k.len() + v.len()) as u64;
                }
            }
            Op::SeekRandom => {
                let bytes = db.seek_next(&k, 10)?;
                if bytes > 0 {
                    r.found += 1;
                }
                r.bytes += bytes as u64;
            }
            Op::DeleteRandom => db.delete(&k)?,
            Op::UpdateRandom => {
                if db.get(&k)?.is_some() {
                    r.found += 1;
                }
                db.put(&k, values.next())?;
                r.bytes += entry;
            }
            Op::ReadSeq | Op::ReadReverse => unreachable!("handled above"),
        }
        r.hist.saturating_record(t0.elapsed().as_nanos() as u64);
        r.ops += 1;
    }
    Ok(r)
}
