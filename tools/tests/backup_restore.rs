//! Backups through the library: consistency under concurrent writes, incrementality,
//! corruption detection before anything is restored, deletion with garbage collection.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::{files_with_suffix, fill, flip_byte, scan_at, small_opts};
use kvd::Db;
use kvd_tools::admin::backup::{backup_db, backup_dir};
use kvd_tools::admin::restore::{restore, verify_backups, RestoreOptions};
use kvd_tools::admin::store::BackupStore;
use kvd_tools::progress::Progress;
use kvd_tools::std_fs;

fn quiet() -> Progress {
    Progress::hidden()
}

#[test]
fn backup_under_concurrent_writes_restores_exactly_the_backup_seqno() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let db = Arc::new(Db::open(&src, small_opts()).unwrap());
    fill(&db, 0..3000, 40);
    // Keep every version from here on, so the source can be read exactly at the backup's
    // seqno after the writer has overwritten and deleted keys past it.
    db.set_history_floor(db.latest_seqno()).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (db, stop, writes) = (db.clone(), stop.clone(), writes.clone());
        std::thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("key{:06}", (i * 7919) % 4000);
                if i.is_multiple_of(5) {
                    db.delete(key.as_bytes()).unwrap();
                } else {
                    db.put(key.as_bytes(), format!("new-{i}").as_bytes()).unwrap();
                }
                i += 1;
                writes.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    while writes.load(Ordering::Relaxed) < 2000 {
        std::thread::yield_now();
    }
    let store = BackupStore::create(std_fs(), &tmp.path().join("backups")).unwrap();
    let before = writes.load(Ordering::Relaxed);
    let report = backup_db(&db, &store, &quiet()).unwrap();
    let during = writes.load(Ordering::Relaxed) - before;
    while writes.load(Ordering::Relaxed) < before + during + 2000 {
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(during > 0, "the writer should have run while the backup was taken");
    assert!(db.latest_seqno() > report.seqno, "writes continued past the backup");
    assert_eq!(report.tables_copied, report.tables, "first backup copies everything");

    let expected = scan_at(&db, Some(report.seqno));
    assert_ne!(expected, scan_at(&db, None), "the source changed after the backup");
    let target = tmp.path().join("restored");
    let r = restore(&store, &target, RestoreOptions::default(), &quiet()).unwrap();
    assert_eq!((r.id, r.seqno), (report.id, report.seqno));
    let restored = Db::open(&target, small_opts()).unwrap();
    assert_eq!(restored.latest_seqno(), report.seqno);
    let got = scan_at(&restored, None);
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "restored database differs from the source at seqno {}", report.seqno);
}

#[test]
fn second_backup_copies_only_new_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let opts = || kvd::Options { disable_auto_compactions: true, ..small_opts() };
    {
        let db = Db::open(&src, opts()).unwrap();
        fill(&db, 0..2000, 50);
        db.close().unwrap();
    }
    let store = BackupStore::create(std_fs(), &tmp.path().join("backups")).unwrap();
    let first = backup_dir(&src, &store, &quiet()).unwrap();
    assert!(first.tables >= 2, "{first:?}");
    assert_eq!(first.bytes_copied, store.get(Some(first.id)).unwrap().tables.iter().map(|t| t.size).sum::<u64>());

    {
        let db = Db::open(&src, opts()).unwrap();
        fill(&db, 5000..5010, 50);
        db.close().unwrap();
    }
    let second = backup_dir(&src, &store, &quiet()).unwrap();
    let (m1, m2) = (store.get(Some(first.id)).unwrap(), store.get(Some(second.id)).unwrap());
    let new_bytes: u64 = m2.tables.iter().filter(|t| !m1.tables.contains(t)).map(|t| t.size).sum();
    assert!(new_bytes > 0);
    assert_eq!(second.bytes_copied, new_bytes, "{second:?}");
    assert_eq!(second.tables_reused, first.tables, "every table of the first backup is reused");
    assert!(second.bytes_copied < second.bytes_total / 4, "{second:?}");
    assert_eq!(m2.bytes_copied, new_bytes);
    assert_eq!(second.seqno, first.seqno + 10);

    // A third backup with no writes in between copies nothing.
    let third = backup_dir(&src, &store, &quiet()).unwrap();
    assert_eq!((third.bytes_copied, third.tables_copied), (0, 0), "{third:?}");

    // Deleting the first backup frees nothing the others need; deleting all frees all.
    let gc = store.delete(first.id).unwrap();
    assert_eq!(gc.files_removed, 0);
    assert!(verify_backups(&store, None, &quiet()).unwrap().iter().all(|c| c.ok()));
    store.delete(second.id).unwrap();
    let gc = store.delete(third.id).unwrap();
    assert_eq!(gc.files_removed, m2.tables.len() as u64);
    assert!(files_with_suffix(&tmp.path().join("backups/tables"), ".sst").is_empty());
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn a_corrupt_backed_up_table_fails_verification_and_restore_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    {
        let db = Db::open(&src, small_opts()).unwrap();
        fill(&db, 0..1500, 30);
        db.close().unwrap();
    }
    let store = BackupStore::create(std_fs(), &tmp.path().join("backups")).unwrap();
    let b = backup_dir(&src, &store, &quiet()).unwrap();
    assert!(verify_backups(&store, Some(b.id), &quiet()).unwrap()[0].ok());

    let meta = store.get(None).unwrap();
    let victim = store.table_path(&meta.tables[0]);
    flip_byte(&victim, 100);
    let victim_name = victim.file_name().unwrap().to_str().unwrap().to_string();

    let checks = verify_backups(&store, None, &quiet()).unwrap();
    assert!(!checks[0].ok());
    assert_eq!(checks[0].problems.len(), 1, "{:?}", checks[0].problems);
    assert!(checks[0].problems[0].file.contains(&victim_name), "{:?}", checks[0].problems);
    assert!(checks[0].problems[0].what.contains(&meta.tables[0].name), "{:?}", checks[0].problems);

    // Into a missing directory: it is not even created.
    let missing = tmp.path().join("new");
    let e = restore(&store, &missing, RestoreOptions::default(), &quiet()).unwrap_err();
    assert!(e.is_corruption() && e.to_string().contains(&victim_name), "{e}");
    assert!(!missing.exists());
    // Into an empty directory: it stays empty, even with --force.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = restore(&store, &empty, RestoreOptions { force: true, backup: None }, &quiet()).unwrap_err();
    assert!(e.to_string().contains(&victim_name), "{e}");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}

#[test]
fn restore_refuses_a_non_empty_target_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    {
        let db = Db::open(&src, small_opts()).unwrap();
        fill(&db, 0..500, 20);
        db.close().unwrap();
    }
    let store = BackupStore::create(std_fs(), &tmp.path().join("backups")).unwrap();
    let b = backup_dir(&src, &store, &quiet()).unwrap();

    // The target holds another database, with a log the restore must not leave behind.
    let target = tmp.path().join("target");
    {
        let db = Db::open(&target, small_opts()).unwrap();
        db.put(b"zzz-other", b"x").unwrap();
        db.close().unwrap();
    }
    std::fs::write(target.join("notes.txt"), "keep me").unwrap();
    let e = restore(&store, &target, RestoreOptions::default(), &quiet()).unwrap_err();
    assert!(e.to_string().contains("not empty"), "{e}");
    restore(&store, &target, RestoreOptions { force: true, backup: Some(b.id) }, &quiet()).unwrap();
    assert!(target.join("notes.txt").exists());

    let src_db = Db::open(&src, small_opts()).unwrap();
    let restored = Db::open(&target, small_opts()).unwrap();
    assert_eq!(scan_at(&restored, None), scan_at(&src_db, None));
    assert_eq!(restored.get(b"zzz-other").unwrap(), None);
}

#[test]
fn backing_up_an_open_database_by_directory_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let db = Db::open(&src, small_opts()).unwrap();
    db.put(b"k", b"v").unwrap();
    let store = BackupStore::create(std_fs(), &tmp.path().join("backups")).unwrap();
    let e = backup_dir(&src, &store, &quiet()).unwrap_err();
    assert!(!e.is_corruption());
    assert!(e.to_string().contains("server"), "{e}");
    let e = backup_dir(&tmp.path().join("nothing"), &store, &quiet()).unwrap_err();
    assert!(!e.is_corruption(), "{e}");
    assert!(store.list().unwrap().is_empty());
}
