//! Compaction and MVCC: snapshots and iterators stay exact across flushes and full
//! compactions, deleted or expired data is reclaimed from disk, and a crash in the middle of a
//! compaction leaves a consistent database whose orphan outputs are deleted at open.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kvd::{Db, Options, ReadOptions, SyncPolicy};
use kvd_base::clock::MockClock;
use kvd_base::file_names::{parse_file_name, FileKind};
use kvd_base::fs::{FaultFs, Fs, MemFs};

fn stress() -> bool {
    std::env::var("KVD_STRESS").is_ok_and(|v| v == "1")
}

fn small(fs: Arc<dyn Fs>) -> Options {
    let mut o = Options { fs, write_buffer_size: 64 << 10, sync_policy: SyncPolicy::Never, ..Options::default() };
    o.compaction.max_bytes_for_level_base = 256 << 10;
    o.compaction.target_file_size = 64 << 10;
    o
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i:07}").into_bytes()
}

/// Bytes of every file but the write-ahead logs, which reserve their space up front
/// (`Options::wal_preallocate_bytes`) whatever the data.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn snapshot_before_100k_overwrites_and_deletes_reads_old_state_after_full_compaction() {
    let n = if stress() { 1_000_000 } else { 100_000 };
    let fs: Arc<dyn Fs> = Arc::new(MemFs::new());
    let db = Db::open("/db", small(fs)).unwrap();
    for i in 0..n {
        db.put(&key(i), format!("old{i}").as_bytes()).unwrap();
    }
    let snap = db.snapshot();
    for i in 0..n {
        if i % 3 == 0 {
            db.delete(&key(i)).unwrap();
        } else {
            db.put(&key(i), format!("new{i}").as_bytes()).unwrap();
        }
    }
    db.compact_range(None, None).unwrap();
    let mut count = 0u32;
    for item in db.scan_opt(None, None, false, Some(&snap)) {
        let (k, v) = item.unwrap();
        assert_eq!(k, key(count));
        assert_eq!(v, format!("old{count}").into_bytes());
        count += 1;
    }
    assert_eq!(count, n);
    let at = ReadOptions { snapshot: Some(&snap), ..Default::default() };
    assert_eq!(db.get_opt(&key(3), &at).unwrap(), Some(b"old3".to_vec()));
    assert_eq!(db.get(&key(3)).unwrap(), None);
    assert_eq!(db.scan(None, None).count() as u32, n - n.div_ceil(3));
}

#[test]
fn a_long_scan_survives_concurrent_compaction() {
    let fs: Arc<dyn Fs> = Arc::new(MemFs::new());
    let db = Arc::new(Db::open("/db", small(fs)).unwrap());
    for i in 0..20_000 {
        db.put(&key(i), b"v1").unwrap();
    }
    db.flush().unwrap();
    let mut scan = db.scan(None, None);
    let first = scan.next().unwrap().unwrap();
    assert_eq!(first.0, key(0));
    for i in 0..20_000 {
        db.put(&key(i), b"v2").unwrap();
    }
    db.compact_range(None, None).unwrap();
    let rest: Vec<_> = scan.map(|r| r.unwrap()).collect();
    assert_eq!(rest.len(), 19_999);
    assert!(rest.iter().all(|(_, v)| v == b"v1"), "the scan reads its own pinned view");
}

#[test]
fn deleting_everything_shrinks_the_directory() {
    let n = if stress() { 1_000_000 } else { 200_000 };
    let dir = tempfile::tempdir().unwrap();
    let mut opts = Options { write_buffer_size: 4 << 20, sync_policy: SyncPolicy::Never, ..Options::default() };
    opts.compaction.target_file_size = 4 << 20;
    let db = Db::open(dir.path(), opts).unwrap();
    let value = [b'v'; 100];
    for i in 0..n {
        db.put(&key(i), &value).unwrap();
    }
    db.compact_range(None, None).unwrap();
    let full = dir_bytes(dir.path());
    for i in 0..n {
        db.delete(&key(i)).unwrap();
    }
    db.compact_range(None, None).unwrap();
    let empty = dir_bytes(dir.path());
    println!("{n} keys: {full} bytes on disk; after deleting all and compacting: {empty} bytes");
    assert!(full > u64::from(n) * 100);
    assert!(empty < 64 << 10, "directory still holds {empty} bytes");
    assert_eq!(db.scan(None, None).count(), 0);
}

#[test]
fn expired_keys_are_reclaimed_by_ttl_compaction_without_manual_help() {
    let fs = MemFs::new();
    let clock = Arc::new(MockClock::new(1_000_000_000));
    let mut opts = small(Arc::new(fs.clone()));
    opts.clock = clock.clone();
    opts.ttl_check_interval = Duration::from_millis(10);
    let db = Db::open("/db", opts).unwrap();
    for i in 0..20_000 {
        db.put_with_ttl(&key(i), &[b'x'; 100], Duration::from_secs(60)).unwrap();
    }
    db.put(b"keeper", b"stays").unwrap();
    db.flush().unwrap();
    clock.advance(61_000);
    assert_eq!(db.scan(None, None).count(), 1, "expired keys are invisible at once");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let bytes: u64 = db.stats().levels.iter().map(|l| l.bytes).sum();
        if bytes < 10_000 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "expired data lingers: {:?}", db.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(db.get(b"keeper").unwrap(), Some(b"stays".to_vec()));
}

#[test]
fn crash_in_the_middle_of_a_compaction_leaves_a_consistent_database() {
    // Build one base database, then for many fault points: fail the Nth file-system
    // operation of a compact_range, "crash" (power loss), reopen, compare with the model and
    // check no orphan table is left behind.
    let mut model = BTreeMap::new();
    let base = MemFs::new();
    {
        let opts = Options {
            sync_policy: SyncPolicy::Always,
            disable_auto_compactions: true,
            ..small(Arc::new(base.clone()))
        };
        let db = Db::open("/db", opts).unwrap();
        for i in 0..6_000u32 {
            let k = key(i * 7 % 3000);
            if i % 5 == 4 {
                db.delete(&k).unwrap();
                model.remove(&k);
            } else {
                let v = format!("v{i}").into_bytes();
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
        }
        db.close().unwrap();
    }
    let mut points = 0;
    for n in 0..2000 {
        let mem = base.deep_clone();
        let fault = FaultFs::new(Arc::new(mem.clone()));
        let opts = Options { disable_auto_compactions: true, ..small(Arc::new(fault.clone())) };
        let db = Db::open("/db", opts).unwrap();
        fault.fail_after(n, true);
        let failed = db.compact_range(None, None).is_err();
        drop(db);
        mem.power_loss();
        fault.disarm();
        let db = Db::open("/db", Options { disable_auto_compactions: true, ..small(Arc::new(mem.clone())) }).unwrap();
        let got: BTreeMap<Vec<u8>, Vec<u8>> = db.scan(None, None).map(|r| r.unwrap()).collect();
        assert_eq!(got, model, "fault after {n} operations (compaction failed: {failed})");
        // Open deleted orphan outputs: every table in the directory is in the manifest.
        let referenced: usize = db.stats().levels.iter().map(|l| l.files).sum();
        let tables = mem
            .list_dir(Path::new("/db"))
            .unwrap()
            .iter()
            .filter(|n| matches!(parse_file_name(n), Some(FileKind::Table(_))))
            .count();
        assert_eq!(tables, referenced, "orphan tables left after a fault at operation {n}");
        db.close().unwrap();
        points += 1;
        if !failed {
            break;
        }
    }
    println!("checked {points} fault points");
    assert!(points > 3);
}

/// Regression: a trivial move gives the moved file a new `FileMeta` in the new version, and
/// the file used to be deleted once that one was compacted away, while a scan pinning an
/// older version (holding the old `FileMeta`) still had to open it: the scan failed with
/// "no such file". Scans held across moves and rewrites must read every file they pinned.
#[test]
fn scans_pinned_across_trivial_moves_and_rewrites_read_every_file() {
    let fs = MemFs::new();
    let db = Arc::new(Db::open("/db", small(Arc::new(fs))).unwrap());
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            // Ascending keys make disjoint files, which move down whole; overwrites spread
            // over the same keys then rewrite the moved files.
            let value = |round: u32, i: u32| format!("{round}-{i}-{}", "x".repeat(60));
            for i in 0..60_000 {
                db.put(&key(i), value(0, i).as_bytes()).unwrap();
            }
            for n in 0..120_000u32 {
                let i = n.wrapping_mul(7919) % 60_000;
                db.put(&key(i), value(1, i).as_bytes()).unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        let mut scans = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) || scans < 5 {
            // Slow scans, so that files they pinned are moved and rewritten meanwhile.
            let scan = db.scan(None, None);
            let mut last: Option<Vec<u8>> = None;
            for (n, item) in scan.enumerate() {
                if n % 2_000 == 0 {
                    std::thread::sleep(Duration::from_millis(2));
                }
                let (k, _) = item.unwrap_or_else(|e| panic!("scan {scans} failed: {e}"));
                assert!(last.as_ref().is_none_or(|l| *l < k), "keys out of order");
                last = Some(k);
            }
            scans += 1;
        }
        writer.join().unwrap();
    });
    let stats = db.stats();
    assert!(stats.trivial_moves > 0 && stats.compactions > 0, "the scenario needs moves and rewrites: {stats:?}");
}
