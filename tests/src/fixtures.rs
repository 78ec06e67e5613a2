//! The checked-in fixture database `tests/fixtures/db-v1/` and the data set it holds.
//!
//! The fixture is a database directory written by this version of kvd: two tables (one with
//! uncompressed blocks, one with zstd blocks), a write-ahead log holding writes never flushed,
//! a manifest and `CURRENT`. Future versions must keep opening it with exactly
//! [`expected_contents`]. It is regenerated only on purpose, by running the `decoders`
//! scenario with `KVD_REGENERATE_FIXTURES=1`, which calls [`generate`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kvd::{Compression, Db, Options, SyncPolicy, TableOptions, WriteBatch};
use kvd_base::clock::MockClock;

use crate::model::Model;

/// The wall-clock time (ms since the epoch) the fixture was written at.
pub const FIXTURE_CLOCK_MILLIS: u64 = 1_700_000_000_000;

/// A TTL that keeps an entry alive for a century past [`FIXTURE_CLOCK_MILLIS`].
pub const FAR_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Where the fixture database is checked in.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("db-v1")
}

/// One step of the data set.
#[derive(Debug, Clone)]
pub enum Step {
    /// Commit a batch.
    Write(WriteBatch),
    /// Let the mock clock run (to expire short TTLs).
    Advance(u64),
    /// Flush the memtable to a table.
    Flush,
    /// Close and reopen with zstd-compressed tables.
    ReopenZstd,
}

fn key(i: u32) -> String {
    format!("key{i:04}")
}

fn value(i: u32, round: u32) -> String {
    format!("value-{i}-{round}-{}", "x".repeat((i % 7) as usize * 5))
}

/// The deterministic data set: puts, overwrites, deletes, a far-future TTL and an expired
/// one, spread over a flushed uncompressed table, a flushed zstd table and the log.
pub fn steps() -> Vec<Step> {
    let mut s = Vec::new();
    for chunk in 0..4u32 {
        let mut b = WriteBatch::new();
        for i in chunk * 50..chunk * 50 + 50 {
            b.put(key(i), value(i, 0));
        }
        s.push(Step::Write(b));
    }
    let mut b = WriteBatch::new();
    for i in (0..200).step_by(5) {
        b.delete(key(i));
    }
    s.push(Step::Write(b));
    s.push(Step::Flush);
    s.push(Step::ReopenZstd);
    let mut b = WriteBatch::new();
    for i in (0..200).step_by(3) {
        b.put(key(i), value(i, 1));
    }
    b.put_with_ttl("ttl/far", "lives a century", FAR_TTL);
    b.put_with_ttl("ttl/short", "expired long ago", Duration::from_millis(10));
    s.push(Step::Write(b));
    s.push(Step::Advance(1_000));
    s.push(Step::Flush);
    let mut b = WriteBatch::new();
    for i in (1..200).step_by(10) {
        b.delete(key(i));
    }
    b.put("wal/only", "never flushed");
    b.delete("key0003");
    s.push(Step::Write(b));
    s.push(Step::Write({
        let mut b = WriteBatch::new();
        b.put("key0003", "resurrected in the log");
        b
    }));
    s
}

/// What a reader must see in the fixture (at any time before the far TTL runs out).
pub fn expected_contents() -> Model {
    let mut m = Model::new();
    for step in steps() {
        if let Step::Write(b) = step {
            m.apply(&b);
        }
    }
    m.delete(b"ttl/short");
    m
}

/// Options the fixture is written with: small blocks so each table has several, and no
/// automatic compaction so both tables stay as flushed.
pub fn fixture_options(clock: Arc<MockClock>, compression: Compression) -> Options {
    Options {
        sync_policy: SyncPolicy::Always,
        disable_auto_compactions: true,
        table: TableOptions { block_size: 256, restart_interval: 4, bloom_bits_per_key: 10, compression },
        clock,
        ..Options::default()
    }
}

/// Writes the fixture database into `dir` (which must not hold one) with the real file
/// system, and removes the `LOCK` file, which is no part of the format.
pub fn generate(dir: &Path) -> kvd::Result<()> {
    let clock = Arc::new(MockClock::new(FIXTURE_CLOCK_MILLIS));
    let mut db = Db::open(dir, fixture_options(clock.clone(), Compression::None))?;
    for step in steps() {
        match step {
            Step::Write(b) => {
                db.write(b)?;
            }
            Step::Advance(ms) => clock.advance(ms),
            Step::Flush => db.flush()?,
            Step::ReopenZstd => {
                db.close()?;
                drop(db);
                db = Db::open(dir, fixture_options(clock.clone(), Compression::Zstd { level: 3 }))?;
            }
        }
    }
    db.close()?;
    drop(db);
    let _ = std::fs::remove_file(dir.join(kvd_base::file_names::LOCK));
    Ok(())
}

/// Copies the files of directory `from` into `to` (created if missing); not recursive.
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}
