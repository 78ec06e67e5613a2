//! A failed write or sync poisons the log: every later write is refused with
//! `Error::Poisoned`, even when the fault was transient, because a failed fsync may have
//! dropped dirty pages and a retry could report success for lost data.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use kvd_base::fs::{FaultFs, MemFs};
use kvd_wal::{Error, RecoveryMode, SyncPolicy, Wal};

/// A Wal (log 1) over a fault-injecting MemFs, with the MemFs for inspection.
fn faulty(policy: SyncPolicy) -> (Arc<MemFs>, FaultFs, Wal) {
    let mem = mem_fs();
    let fault = FaultFs::new(mem.clone());
    let wal = Wal::create(Arc::new(fault.clone()), dir(), 1, policy).unwrap();
    (mem, fault, wal)
}

fn assert_refuses_writes(wal: &Wal) {
    assert!(wal.is_poisoned());
    assert!(matches!(wal.append(b"more", false), Err(Error::Poisoned)));
    assert!(matches!(wal.append(b"more", true), Err(Error::Poisoned)));
    assert!(matches!(wal.sync(), Err(Error::Poisoned)));
    assert!(matches!(wal.rotate(9), Err(Error::Poisoned)));
    assert!(matches!(wal.close(), Err(Error::Poisoned)));
}

#[test]
fn a_failed_sync_poisons_even_if_the_fault_was_transient() {
    let (mem, fault, wal) = faulty(SyncPolicy::Always);
    wal.append(b"acknowledged", false).unwrap();
    // The next append's write and flush succeed; its sync fails, once.
    fault.fail_after(2, false);
    let e = wal.append(b"not acknowledged", false).unwrap_err();
    assert!(matches!(&e, Error::Base(b) if b.is_injected()), "{e}");
    assert_eq!(fault.failures(), 1);
    assert_refuses_writes(&wal);
    assert_eq!(fault.failures(), 1, "a poisoned log must not touch the file again");
    // What was acknowledged survives; the failed record was never acknowledged.
    mem.power_loss();
    let (got, _) = read_log(&*mem, 1, RecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!(got, [b"acknowledged"]);
}

#[test]
fn a_failed_write_or_flush_poisons() {
    for skip in [0, 1] {
        // skip 0: the append itself fails; skip 1: the flush to the OS does.
        let (_mem, fault, wal) = faulty(SyncPolicy::Never);
        fault.fail_after(skip, false);
        assert!(wal.append(b"x", false).is_err());
        assert_refuses_writes(&wal);
    }
}

#[test]
fn a_failed_explicit_sync_poisons() {
    let (_mem, fault, wal) = faulty(SyncPolicy::Never);
    wal.append(b"x", false).unwrap();
    fault.fail_after(0, false);
    assert!(matches!(wal.sync(), Err(Error::Base(_))));
    assert_refuses_writes(&wal);
}

#[test]
fn a_failed_background_sync_poisons() {
    let (_mem, fault, wal) = faulty(SyncPolicy::Interval(Duration::from_millis(1)));
    let syncs = wal.syncs();
    fault.fail_after(2, false); // write and flush pass; the background sync fails
    wal.append(b"x", false).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !wal.is_poisoned() {
        assert!(Instant::now() < deadline, "background sync never failed");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(wal.syncs(), syncs);
    assert_refuses_writes(&wal);
}

#[test]
fn a_failed_rotation_poisons_but_a_refused_number_does_not() {
    let (_mem, fault, wal) = faulty(SyncPolicy::Never);
    assert!(matches!(wal.rotate(1), Err(Error::LogNumberNotIncreasing { .. })));
    assert!(!wal.is_poisoned());
    fault.fail_after(0, false); // creating log 2 fails
    assert!(matches!(wal.rotate(2), Err(Error::Base(_))));
    assert_eq!(wal.current_log_number(), 1);
    assert_refuses_writes(&wal);
}
