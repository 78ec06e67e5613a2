//! `SyncPolicy::Interval`: a background thread syncs what was appended, without being asked,
//! and stops promptly on close.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kvd_wal::{RecoveryMode, SyncPolicy};

/// Polls `cond` for up to five seconds.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn appends_are_synced_in_the_background() {
    let fs = mem_fs();
    let wal = create_wal(fs.clone(), SyncPolicy::Interval(Duration::from_millis(2)));
    let before = wal.syncs();
    wal.append(b"one", false).unwrap();
    assert_eq!(wal.syncs(), before, "append itself must not sync");
    eventually("a background sync", || wal.syncs() > before);
    fs.power_loss();
    assert_eq!(read_log(&*fs, 1, RecoveryMode::AbsoluteConsistency).unwrap().0, [b"one"]);
}

#[test]
fn an_idle_log_is_not_synced() {
    let fs = mem_fs();
    let wal = create_wal(fs, SyncPolicy::Interval(Duration::from_millis(1)));
    wal.append(b"one", false).unwrap();
    eventually("a background sync", || wal.syncs() == 2);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(wal.syncs(), 2, "nothing appended since the last sync");
}

#[test]
fn close_does_not_wait_for_the_interval() {
    let fs = mem_fs();
    let wal = create_wal(fs.clone(), SyncPolicy::Interval(Duration::from_secs(3600)));
    wal.append(b"one", false).unwrap();
    let t = Instant::now();
    wal.close().unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "close took {:?}", t.elapsed());
    fs.power_loss();
    assert_eq!(read_log(&*fs, 1, RecoveryMode::AbsoluteConsistency).unwrap().0, [b"one"]);
    // Dropping an open one is just as prompt.
    let wal = create_wal(mem_fs(), SyncPolicy::Interval(Duration::from_secs(3600)));
    let t = Instant::now();
    drop(wal);
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn always_syncs_each_append_and_a_sync_request_overrides_the_interval() {
    let wal = create_wal(mem_fs(), SyncPolicy::Always);
    let before = wal.syncs();
    wal.append(b"a", false).unwrap();
    wal.append(b"b", false).unwrap();
    assert_eq!(wal.syncs(), before + 2);

    let wal = create_wal(mem_fs(), SyncPolicy::Interval(Duration::from_secs(3600)));
    let before = wal.syncs();
    wal.append(b"a", true).unwrap();
    assert_eq!(wal.syncs(), before + 1);
}
