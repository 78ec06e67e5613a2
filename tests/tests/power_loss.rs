//! Simulated power loss and injected I/O faults, through the in-memory file system.
//!
//! - `SyncPolicy::Always`: every acknowledged batch survives a power loss at any moment,
//!   including while writes, flushes and log rotations are in flight.
//! - `Interval` and `Never`: the survivors are a prefix of the acknowledged batches (no
//!   holes, no partial batch) that includes everything acknowledged before an explicit
//!   `sync_wal()` or `flush()`.
//! - A power loss at every point of a flush and of recovery itself loses nothing.
//! - Failing the Nth file-system operation, for every N of a small workload, one-shot and
//!   persistent: the database reports the error (never panics), then either refuses writes or
//!   stays consistent, and after the fault clears a reopen finds every acknowledged batch
//!   whole.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kvd::{Db, Error, Options, SyncPolicy};
use kvd_tests::env::{db_dir, scale, seed, small_options, SimDisk};
use kvd_tests::ledger::{Ledger, Promise, Workload};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Memtables large enough that only explicit flushes happen (deterministic operation order),
/// or small enough that background flushes and log rotations run all the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Memtable {
    Large,
    Small,
}

fn options(disk: &SimDisk, policy: SyncPolicy, mem: Memtable) -> Options {
    let mut o = small_options(disk.fs());
    o.sync_policy = policy;
    o.write_buffer_size = match mem {
        Memtable::Large => 16 << 20,
        Memtable::Small => 4 << 10,
    };
    o.max_immutable_memtables = 4;
    o
}

fn open(disk: &SimDisk, policy: SyncPolicy, mem: Memtable) -> Db {
    Db::open(db_dir(), options(disk, policy, mem)).unwrap_or_else(|e| panic!("open: {e}"))
}

/// Writes up to `max` batches on a thread until told to stop or a write fails; returns the
/// ledger.
fn write_until_stopped(
    db: Arc<Db>,
    w: Workload,
    mut ledger: Ledger,
    stop: Arc<AtomicBool>,
    max: u64,
) -> std::thread::JoinHandle<Ledger> {
    std::thread::spawn(move || {
        let end = ledger.attempted + max;
        while !stop.load(Ordering::Relaxed) && ledger.attempted < end {
            let r = db.write(w.batch(ledger.attempted));
            ledger.record(&r);
            if r.is_err() {
                break;
            }
        }
        ledger
    })
}

/// Power loss at random moments while a writer runs, with every write synced.
fn always_survives(mem: Memtable) {
    let mut rng = StdRng::seed_from_u64(seed("always_survives"));
    let w = Workload::default();
    let disk = SimDisk::new();
    let mut ledger = Ledger::default();
    for round in 0..scale(25, 200) {
        let db = Arc::new(open(&disk, SyncPolicy::Always, mem));
        ledger.verify(&db, &w, Promise::AllAcked).unwrap_or_else(|e| panic!("round {round}: {e}"));
        if mem == Memtable::Large && rng.random_bool(0.3) {
            // With no writer running (the flush-while-writing case is the Small variant).
            db.flush().unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let writer = write_until_stopped(db.clone(), w, ledger.clone(), stop.clone(), 400);
        std::thread::sleep(Duration::from_micros(rng.random_range(0..8_000)));
        if mem == Memtable::Small && rng.random_bool(0.3) {
            db.flush().ok();
        }
        // Freeze the disk first: the writer sees errors (ambiguous writes) and stops.
        disk.fault.fail_after(0, true);
        stop.store(true, Ordering::Relaxed);
        ledger = writer.join().expect("writer thread");
        disk.crash(Arc::into_inner(db));
    }
    let db = open(&disk, SyncPolicy::Always, mem);
    ledger.verify(&db, &w, Promise::AllAcked).unwrap_or_else(|e| panic!("final: {e}"));
    assert!(ledger.acked.len() > 50, "the workload made progress: {} batches", ledger.acked.len());
}

#[test]
fn always_keeps_every_acknowledged_write() {
    always_survives(Memtable::Large);
}

#[test]
fn always_keeps_every_acknowledged_write_across_background_flushes() {
    always_survives(Memtable::Small);
}

/// `Interval`/`Never`: a power loss keeps a prefix of the writes, at least up to the last
/// explicit sync or flush.
fn prefix_survives(policy: SyncPolicy, mem: Memtable) {
    let mut rng = StdRng::seed_from_u64(seed("prefix_survives"));
    let w = Workload::default();
    let disk = SimDisk::new();
    let mut ledger = Ledger::default();
    for round in 0..scale(30, 300) {
        let db = open(&disk, policy, mem);
        ledger.verify(&db, &w, Promise::Prefix).unwrap_or_else(|e| panic!("round {round} ({policy:?}): {e}"));
        for _ in 0..rng.random_range(0..120) {
            let r = db.write(w.batch(ledger.attempted));
            ledger.record(&r);
            r.unwrap_or_else(|e| panic!("write: {e}"));
            match rng.random_range(0..100) {
                0..3 => {
                    db.sync_wal().unwrap();
                    ledger.mark_durable();
                }
                3 => {
                    db.flush().unwrap();
                    ledger.mark_durable();
                }
                _ => {}
            }
        }
        if rng.random_bool(0.1) {
            db.close().unwrap();
            ledger.mark_durable();
        }
        disk.crash(Some(db));
    }
    let db = open(&disk, policy, mem);
    ledger.verify(&db, &w, Promise::Prefix).unwrap_or_else(|e| panic!("final ({policy:?}): {e}"));
}

#[test]
fn never_recovers_a_prefix_including_every_synced_write() {
    prefix_survives(SyncPolicy::Never, Memtable::Large);
}

#[test]
fn interval_recovers_a_prefix_including_every_synced_write() {
    prefix_survives(SyncPolicy::Interval(Duration::from_millis(1)), Memtable::Large);
}

#[test]
fn never_recovers_a_prefix_across_background_flushes() {
    prefix_survives(SyncPolicy::Never, Memtable::Small);
    prefix_survives(SyncPolicy::Interval(Duration::from_millis(1)), Memtable::Small);
}

/// Fills a database with acknowledged batches, some flushed and some only in the log.
fn populate(disk: &SimDisk, w: &Workload, ledger: &mut Ledger, batches: u64) -> Db {
    let db = open(disk, SyncPolicy::Always, Memtable::Large);
    for i in 0..batches {
        let r = db.write(w.batch(ledger.attempted));
        ledger.record(&r);
        r.unwrap();
        if i == batches / 2 {
            db.flush().unwrap();
        }
    }
    db
}

#[test]
fn power_loss_at_every_step_of_a_flush() {
    let w = Workload::default();
    for n in 0.. {
        let disk = SimDisk::new();
        let mut ledger = Ledger::default();
        let db = populate(&disk, &w, &mut ledger, 40);
        let before = disk.fault.ops();
        disk.fault.fail_after(n, true);
        let flushed = db.flush();
        let used = disk.fault.ops() - before;
        disk.crash(Some(db));
        let db = open(&disk, SyncPolicy::Always, Memtable::Large);
        ledger
            .verify(&db, &w, Promise::AllAcked)
            .unwrap_or_else(|e| panic!("power loss after {n} ops of a flush: {e}"));
        if flushed.is_ok() && used <= n {
            assert!(n > 0, "a flush does some I/O");
            break;
        }
    }
}

#[test]
fn power_loss_at_every_step_of_recovery() {
    let w = Workload::default();
    let disk = SimDisk::new();
    let mut ledger = Ledger::default();
    let db = populate(&disk, &w, &mut ledger, 60);
    disk.crash(Some(db));
    // Each attempt recovers from the debris of the previous, crashed, recovery.
    let mut attempts = 0;
    for n in 0.. {
        disk.fault.fail_after(n, true);
        let opened = Db::open(db_dir(), options(&disk, SyncPolicy::Always, Memtable::Large));
        disk.fault.disarm();
        match opened {
            Ok(db) => {
                ledger
                    .verify(&db, &w, Promise::AllAcked)
                    .unwrap_or_else(|e| panic!("after {n} crashed recoveries: {e}"));
                break;
            }
            Err(e) => {
                assert!(e.is_injected(), "recovery failed for another reason than the fault: {e}");
                disk.crash(None);
                attempts += 1;
            }
        }
    }
    assert!(attempts > 5, "recovery does I/O worth crashing in ({attempts} points)");
    // And a crash right after a successful recovery loses nothing either.
    disk.crash(None);
    let db = open(&disk, SyncPolicy::Always, Memtable::Large);
    ledger.verify(&db, &w, Promise::AllAcked).unwrap();
}

/// Counts panics on kvd's own threads (background flush, log sync), which would otherwise
/// only be printed.
fn watch_engine_panics() -> Arc<AtomicUsize> {
    static COUNT: std::sync::OnceLock<Arc<AtomicUsize>> = std::sync::OnceLock::new();
    COUNT
        .get_or_init(|| {
            let count = Arc::new(AtomicUsize::new(0));
            let c = count.clone();
            let prev = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if std::thread::current().name().is_some_and(|n| n.starts_with("kvd-")) {
                    c.fetch_add(1, Ordering::SeqCst);
                }
                prev(info);
            }));
            count
        })
        .clone()
}

/// The fault-sweep workload: open, batches, a flush, more batches, a close. Returns the
/// ledger; panics only on a broken promise (an error is an allowed outcome of every step).
fn faulty_workload(disk: &SimDisk, w: &Workload) -> Ledger {
    let mut ledger = Ledger::default();
    let db = match Db::open(db_dir(), options(disk, SyncPolicy::Always, Memtable::Large)) {
        Ok(db) => db,
        Err(_) => return ledger,
    };
    let mut first_error: Option<Error> = None;
    for i in 0..24 {
        let r = db.write(w.batch(ledger.attempted));
        ledger.record(&r);
        match (r, &first_error) {
            (Err(e), None) => first_error = Some(e),
            (Err(e), Some(_)) => {
                assert!(!e.is_corruption(), "a write after a fault reported corruption: {e}");
            }
            (Ok(_), Some(first)) => {
                // Kept working after an error: what it shows must be consistent.
                assert!(
                    !matches!(first, Error::Poisoned(_)),
                    "a write succeeded after the database reported poisoning: {first}"
                );
            }
            (Ok(_), None) => {}
        }
        if i == 12 {
            if let Err(e) = db.flush() {
                first_error.get_or_insert(e);
            }
        }
        if let Some(Error::Poisoned(_)) = &first_error {
            let again = db.write(w.batch(ledger.attempted));
            ledger.record(&again);
            assert!(matches!(again, Err(Error::Poisoned(_))), "a poisoned database accepted a write: {again:?}");
        }
    }
    // Reads on the live handle agree with what was acknowledged.
    let mut live = ledger.clone();
    if let Err(e) = live.verify(&db, w, Promise::AllAcked) {
        let read_error = e.starts_with("scan failed") || (e.starts_with("get ") && !e.contains(" disagrees "));
        assert!(read_error, "a database hit by a fault returned wrong data instead of an error: {e}");
    }
    let _ = db.close();
    ledger
}

fn fault_sweep(persistent: bool, count_reads: bool) {
    let panics = watch_engine_panics();
    let w = Workload { keys_per_batch: 3, shared_keys: 1, value_len: 300 };
    let total = {
        let disk = SimDisk::new();
        disk.fault.set_count_reads(count_reads);
        faulty_workload(&disk, &w);
        disk.fault.ops()
    };
    assert!(total > 40, "the workload does I/O: {total} operations");
    let step = (total / scale(400, u64::MAX)).max(1);
    let mut injected = 0;
    for n in (0..total + 2).step_by(step as usize) {
        let disk = SimDisk::new();
        disk.fault.set_count_reads(count_reads);
        disk.fault.fail_after(n, persistent);
        let mut ledger = faulty_workload(&disk, &w);
        injected += disk.fault.failures().min(1);
        disk.fault.disarm();
        disk.fault.set_count_reads(false);
        // Every acknowledged write was synced: it survives even a power loss now.
        disk.mem.power_loss();
        let db = Db::open(db_dir(), options(&disk, SyncPolicy::Always, Memtable::Large))
            .unwrap_or_else(|e| panic!("reopen after a fault at op {n} (persistent {persistent}): {e}"));
        ledger
            .verify(&db, &w, Promise::AllAcked)
            .unwrap_or_else(|e| panic!("after a fault at op {n} (persistent {persistent}, reads {count_reads}): {e}"));
    }
    assert!(injected > total / step / 2, "faults were injected ({injected})");
    assert_eq!(panics.load(Ordering::SeqCst), 0, "an engine thread panicked");
}

#[test]
fn one_shot_fault_at_every_operation() {
    fault_sweep(false, false);
}

#[test]
fn persistent_fault_at_every_operation() {
    fault_sweep(true, false);
}

#[test]
fn failing_reads_are_errors_not_panics_or_loss() {
    fault_sweep(false, true);
}
