//! Process-crash test: a child process writes batches with `SyncPolicy::Always` into a real
//! directory and reports each acknowledged batch on stdout; the parent SIGKILLs it at a random
//! moment (while it recovers, writes, flushes or rotates logs), reopens the directory and
//! checks that every acknowledged batch is present and none is partly visible. Then it starts
//! the next child on the same directory.
//!
//! The child is this test binary itself, re-executed to run only
//! [`child_process_entry_point`] with `KVD_CRASH_CHILD_DIR` set.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kvd::{Db, Error, Options, SyncPolicy, TableOptions};
use kvd_tests::env::{scale, seed};
use kvd_tests::ledger::{Ledger, Promise, Workload};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CHILD_DIR: &str = "KVD_CRASH_CHILD_DIR";
const CHILD_START: &str = "KVD_CRASH_CHILD_START";
const CHILD_MEMTABLE: &str = "KVD_CRASH_CHILD_MEMTABLE";

const WORKLOAD: Workload = Workload { keys_per_batch: 4, shared_keys: 2, value_len: 100 };

fn options(write_buffer_size: usize) -> Options {
    Options {
        write_buffer_size,
        sync_policy: SyncPolicy::Always,
        table: TableOptions { block_size: 1024, ..TableOptions::default() },
        ..Options::default()
    }
}

/// The child's work; does nothing in a normal test run (the variable is unset).
///
/// Opens the database, prints `KVD-CHILD-READY`, then writes batch after batch from
/// `KVD_CRASH_CHILD_START` on, printing `ACK <id>` once each write has returned `Ok`. With a
/// large memtable it flushes every 40 batches itself (from the writing thread); with a small
/// one background flushes and log rotations happen under the writes.
#[test]
fn child_process_entry_point() {
    let Ok(dir) = std::env::var(CHILD_DIR) else { return };
    let start: u64 = std::env::var(CHILD_START).expect("start id").parse().expect("start id");
    let memtable: usize = std::env::var(CHILD_MEMTABLE).expect("memtable").parse().expect("memtable");
    let db = Db::open(&dir, options(memtable)).expect("child open");
    let mut out = std::io::stdout().lock();
    writeln!(out, "KVD-CHILD-READY").and_then(|()| out.flush()).expect("stdout");
    for id in start.. {
        db.write(WORKLOAD.batch(id)).expect("child write");
        writeln!(out, "ACK {id}").and_then(|()| out.flush()).expect("stdout");
        if memtable > 1 << 20 && id % 40 == 39 {
            db.flush().expect("child flush");
        }
    }
}

/// What one child run reported before it was killed.
#[derive(Debug, Default)]
struct ChildReport {
    ready: bool,
    acked: Vec<u64>,
}

/// When to kill a child.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// This long after it was spawned (possibly while it still recovers).
    AfterSpawn(Duration),
    /// Once it has acknowledged this many batches (so every cycle makes progress however
    /// slow the disk's fsync), plus this long.
    AfterAcks(u64, Duration),
}

/// Runs a child from batch `start` and SIGKILLs it as `kill` says. With `check_lock`, also
/// checks that this process cannot open the directory while the child holds it.
fn run_child(dir: &Path, start: u64, memtable: usize, kill: KillAt, check_lock: bool) -> ChildReport {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args(["child_process_entry_point", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_START, start.to_string())
        .env(CHILD_MEMTABLE, memtable.to_string())
        .env_remove("KVD_SEED")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    // One message when the child is ready, then one per acknowledged batch.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut report = ChildReport::default();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // libtest prints its own text on the same line before the marker.
            if line.ends_with("KVD-CHILD-READY") {
                report.ready = true;
                let _ = tx.send(());
            } else if let Some(id) = line.strip_prefix("ACK ") {
                report.acked.push(id.parse().expect("ACK id"));
                let _ = tx.send(());
            }
        }
        report
    });
    match kill {
        KillAt::AfterSpawn(d) => std::thread::sleep(d),
        KillAt::AfterAcks(n, d) => {
            rx.recv_timeout(Duration::from_secs(30)).expect("the child opened the database");
            if check_lock {
                match Db::open(dir, options(64 << 20)) {
                    Err(Error::Locked(_)) => {}
                    Err(e) => panic!("a second opener got {e}, not Locked"),
                    Ok(_) => panic!("a second process opened a database the child holds"),
                }
            }
            for _ in 0..n {
                rx.recv_timeout(Duration::from_secs(30)).expect("the child acknowledges batches");
            }
            std::thread::sleep(d);
        }
    }
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap the child");
    let report = reader.join().expect("reader thread");
    assert!(!status.success(), "the child ran to completion instead of being killed: {status}");
    report
}

fn kill_cycles(memtable: usize) {
    let mut rng = StdRng::seed_from_u64(seed("kill_cycles"));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db");
    let mut ledger = Ledger::default();
    let cycles = scale(24, 200);
    let started = Instant::now();
    let mut killed_while_ready = 0;
    for cycle in 0..cycles {
        // Mostly kill mid-write; sometimes early, while the child may still be recovering.
        let kill = if rng.random_bool(0.2) {
            KillAt::AfterSpawn(Duration::from_millis(rng.random_range(0..40)))
        } else {
            KillAt::AfterAcks(rng.random_range(0..60), Duration::from_micros(rng.random_range(0..5_000)))
        };
        let report = run_child(&path, ledger.attempted, memtable, kill, killed_while_ready == 0);
        killed_while_ready += usize::from(report.ready);
        if let Some(&last) = report.acked.last() {
            assert_eq!(report.acked.first().copied(), Some(ledger.attempted), "the child starts where it was told");
            ledger.acked.extend(report.acked.iter().copied());
            // The batch after the last acknowledged one may have been in flight.
            ledger.attempted = last + 2;
        } else if report.ready {
            ledger.attempted += 1;
        }
        let db =
            Db::open(&path, options(memtable)).unwrap_or_else(|e| panic!("cycle {cycle}: reopen after SIGKILL: {e}"));
        ledger.verify(&db, &WORKLOAD, Promise::AllAcked).unwrap_or_else(|e| {
            panic!(
                "cycle {cycle}: {e} (child ready {}, acknowledged {:?}..={:?}, killed {kill:?})",
                report.ready,
                report.acked.first(),
                report.acked.last()
            )
        });
        db.close().expect("close");
    }
    eprintln!(
        "{cycles} kill cycles in {:?}: {} batches survive, {} in flight at a kill were lost",
        started.elapsed(),
        ledger.acked.len(),
        ledger.lost.len()
    );
    assert!(killed_while_ready > cycles / 2, "most kills land while writing ({killed_while_ready} of {cycles})");
    assert!(
        ledger.acked.len() as u64 > cycles as u64 * 5,
        "the children made progress: {} batches",
        ledger.acked.len()
    );
}

#[test]
fn sigkill_never_loses_an_acknowledged_batch() {
    kill_cycles(64 << 20);
}

#[test]
fn sigkill_never_loses_an_acknowledged_batch_across_background_flushes() {
    kill_cycles(4 << 10);
}
