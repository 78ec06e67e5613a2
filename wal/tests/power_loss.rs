//! Power loss on MemFs: what the sync policy promised survives, and what does not survive
//! disappears cleanly (a shorter log, never a partial or corrupt record).

mod common;

use common::*;
use kvd_wal::format::BLOCK_SIZE;
use kvd_wal::{RecoveryMode, SyncPolicy, Wal};

/// Preallocation steps: none, smaller than some records (the reservation grows mid-log), and
/// the default.
const STEPS: [u64; 3] = [0, 4096, kvd_wal::DEFAULT_PREALLOCATE_BYTES];

fn records() -> Vec<Vec<u8>> {
    [10, 0, BLOCK_SIZE, 5000, 3 * BLOCK_SIZE + 1, 1].iter().enumerate().map(|(i, &n)| payload(i as u64, n)).collect()
}

#[test]
fn always_keeps_every_acknowledged_record() {
    let want = records();
    // Pull the plug after each acknowledgement in turn.
    for (n, step) in (1..=want.len()).flat_map(|n| STEPS.map(|s| (n, s))) {
        let fs = mem_fs();
        let wal = create_preallocated_wal(fs.clone(), SyncPolicy::Always, step);
        for p in &want[..n] {
            wal.append(p, false).unwrap();
        }
        fs.power_loss();
        for mode in MODES {
            let (got, r) = read_log(&*fs, 1, mode).unwrap();
            assert_eq!(got, want[..n], "{mode:?}, step {step}");
            assert_eq!(r.tail_dropped(), None);
        }
        drop(wal);
    }
}

#[test]
fn never_drops_only_an_unsynced_suffix() {
    let want = records();
    for (synced, step) in (0..=want.len()).flat_map(|n| STEPS.map(|s| (n, s))) {
        let fs = mem_fs();
        let wal = create_preallocated_wal(fs.clone(), SyncPolicy::Never, step);
        for (i, p) in want.iter().enumerate() {
            // The record at index `synced - 1` asks for a sync; nothing else does.
            wal.append(p, i + 1 == synced).unwrap();
        }
        // Every append was flushed to the OS: a process crash (no power loss) loses nothing.
        assert_eq!(read_log(&*fs, 1, RecoveryMode::AbsoluteConsistency).unwrap().0, want);
        fs.power_loss();
        // MemFs keeps exactly the synced prefix; a real disk may keep some more, never less.
        for mode in MODES {
            let (got, _) = read_log(&*fs, 1, mode).unwrap();
            assert_eq!(got, want[..synced], "synced {synced}, {mode:?}, step {step}");
        }
        drop(wal);
    }
}

#[test]
fn a_new_log_survives_power_loss_before_any_append() {
    let fs = mem_fs();
    let wal = Wal::create(fs.clone(), dir(), 8, SyncPolicy::Never).unwrap();
    fs.power_loss();
    let (got, r) = read_log(&*fs, 8, RecoveryMode::AbsoluteConsistency).unwrap();
    assert!(got.is_empty());
    assert_eq!(r.log_number(), Some(8));
    drop(wal);
}

#[test]
fn rotation_makes_the_old_log_and_the_new_entry_durable() {
    let fs = mem_fs();
    let wal = create_wal(fs.clone(), SyncPolicy::Never);
    wal.append(b"old", false).unwrap();
    wal.rotate(2).unwrap();
    wal.append(b"unsynced", false).unwrap();
    fs.power_loss();
    assert_eq!(read_log(&*fs, 1, RecoveryMode::AbsoluteConsistency).unwrap().0, [b"old"]);
    let (got, r) = read_log(&*fs, 2, RecoveryMode::AbsoluteConsistency).unwrap();
    assert!(got.is_empty());
    assert_eq!(r.log_number(), Some(2));
    drop(wal);
}

#[test]
fn close_and_drop_sync_even_under_never() {
    let fs = mem_fs();
    let wal = create_wal(fs.clone(), SyncPolicy::Never);
    wal.append(b"closed", false).unwrap();
    wal.close().unwrap();
    fs.power_loss();
    assert_eq!(read_log(&*fs, 1, RecoveryMode::AbsoluteConsistency).unwrap().0, [b"closed"]);

    let fs = mem_fs();
    let wal = create_wal(fs.clone(), SyncPolicy::Never);
    wal.append(b"dropped", false).unwrap();
    drop(wal);
    fs.power_loss();
    assert_eq!(read_log(&*fs, 1, RecoveryMode::AbsoluteConsistency).unwrap().0, [b"dropped"]);
}
