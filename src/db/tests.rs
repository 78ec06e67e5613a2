//! Unit tests of the engine through its public API on the in-memory file system.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kvd_base::clock::MockClock;
use kvd_base::fs::MemFs;

use crate::{Db, Error, Options, ReadOptions, WriteBatch};

fn mem_opts(fs: &MemFs) -> Options {
    Options { fs: Arc::new(fs.clone()), write_buffer_size: 4 << 10, ..Options::default() }
}

fn keys(scan: crate::Scan) -> Vec<String> {
    scan.map(|r| String::from_utf8(r.unwrap().0).unwrap()).collect()
}

#[test]
fn put_get_delete_and_reopen() {
    let fs = MemFs::new();
    let dir = Path::new("/db");
    {
        let db = Db::open(dir, mem_opts(&fs)).unwrap();
        db.put(b"a", b"1").unwrap();
        db.put(b"b", b"2").unwrap();
        db.delete(b"a").unwrap();
        assert_eq!(db.get(b"a").unwrap(), None);
        assert_eq!(db.get(b"b").unwrap().as_deref(), Some(&b"2"[..]));
        db.close().unwrap();
    }
    let db = Db::open(dir, mem_opts(&fs)).unwrap();
    assert_eq!(db.get(b"a").unwrap(), None);
    assert_eq!(db.get(b"b").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(db.latest_seqno(), 3);
}

#[test]
fn flushes_and_reads_across_memtables_and_tables() {
    let fs = MemFs::new();
    let db = Db::open("/db", mem_opts(&fs)).unwrap();
    for i in 0..2000u32 {
        db.put(format!("k{i:05}").as_bytes(), format!("v{i}").as_bytes()).unwrap();
    }
    for i in (0..2000u32).step_by(3) {
        db.delete(format!("k{i:05}").as_bytes()).unwrap();
    }
    db.flush().unwrap();
    let st = db.stats();
    assert!(st.flushes > 1, "{st:?}");
    assert!(st.levels.iter().map(|l| l.files).sum::<usize>() >= 1, "{st:?}");
    for i in 0..2000u32 {
        let want = (i % 3 != 0).then(|| format!("v{i}").into_bytes());
        assert_eq!(db.get(format!("k{i:05}").as_bytes()).unwrap(), want, "key {i}");
    }
    let st = db.stats();
    assert!(st.table_reader_bytes > 0, "open readers hold their indexes and filters: {st:?}");
    assert!(st.block_cache_bytes > 0 && st.block_cache_bytes <= 8 << 20, "the reads filled the cache: {st:?}");
    let fwd = keys(db.scan(None, None));
    assert_eq!(fwd.len(), 2000 - 667);
    let mut rev = keys(db.scan_opt(None, None, true, None));
    rev.reverse();
    assert_eq!(fwd, rev);
    let bounded = keys(db.scan(Some(b"k00010"), Some(b"k00020")));
    assert_eq!(bounded, vec!["k00010", "k00011", "k00013", "k00014", "k00016", "k00017", "k00019"]);
    let back = keys(db.scan_opt(Some(b"k00010"), Some(b"k00020"), true, None));
    assert_eq!(back.first().map(String::as_str), Some("k00019"));
    assert_eq!(back.len(), 7);
}

#[test]
fn iterator_switches_direction() {
    let fs = MemFs::new();
    let db = Db::open("/db", mem_opts(&fs)).unwrap();
    for k in ["a", "b", "c", "d"] {
        db.put(k.as_bytes(), k.as_bytes()).unwrap();
    }
    db.delete(b"c").unwrap();
    let mut it = db.iter(&ReadOptions::default());
    it.seek(b"b");
    assert_eq!(it.key(), b"b");
    it.next();
    assert_eq!(it.key(), b"d");
    it.prev();
    assert_eq!(it.key(), b"b");
    it.prev();
    assert_eq!(it.key(), b"a");
    it.prev();
    assert!(!it.valid());
    it.seek_for_prev(b"c");
    assert_eq!(it.key(), b"b");
    it.seek_to_last();
    assert_eq!(it.key(), b"d");
}

#[test]
fn snapshots_read_old_state_across_flush() {
    let fs = MemFs::new();
    let db = Db::open("/db", mem_opts(&fs)).unwrap();
    db.put(b"k", b"old").unwrap();
    let snap = db.snapshot();
    db.put(b"k", b"new").unwrap();
    db.put(b"k2", b"x").unwrap();
    db.flush().unwrap();
    let at = ReadOptions { snapshot: Some(&snap), ..Default::default() };
    assert_eq!(db.get_opt(b"k", &at).unwrap().as_deref(), Some(&b"old"[..]));
    assert_eq!(db.get_opt(b"k2", &at).unwrap(), None);
    assert_eq!(keys(db.scan_opt(None, None, false, Some(&snap))), vec!["k"]);
    assert_eq!(db.stats().live_snapshots, 1);
    drop(snap);
    assert_eq!(db.stats().live_snapshots, 0);
}

#[test]
fn ttl_expires_with_the_clock() {
    let fs = MemFs::new();
    let clock = Arc::new(MockClock::new(1_000_000));
    let db = Db::open("/db", Options { clock: clock.clone(), ..mem_opts(&fs) }).unwrap();
    db.put_with_ttl(b"t", b"v", Duration::from_secs(10)).unwrap();
    assert!(db.get(b"t").unwrap().is_some());
    clock.advance(10_000);
    assert_eq!(db.get(b"t").unwrap(), None);
    assert!(keys(db.scan(None, None)).is_empty());
}

#[test]
fn batches_are_atomic_and_limits_are_errors() {
    let fs = MemFs::new();
    let db = Db::open("/db", Options { max_key_size: 8, max_value_size: 8, ..mem_opts(&fs) }).unwrap();
    let mut b = WriteBatch::new();
    b.put("ok", "1").put("toolongkey", "2");
    assert!(matches!(db.write(b), Err(Error::InvalidArgument(_))));
    assert_eq!(db.get(b"ok").unwrap(), None);
    assert!(matches!(db.put(b"", b"x"), Err(Error::InvalidArgument(_))));
    assert!(matches!(db.put(b"k", b"123456789"), Err(Error::InvalidArgument(_))));
}

#[test]
fn second_opener_is_locked_out() {
    let fs = MemFs::new();
    let db = Db::open("/db", mem_opts(&fs)).unwrap();
    assert!(matches!(Db::open("/db", mem_opts(&fs)), Err(Error::Locked(_))));
    db.close().unwrap();
    assert!(matches!(db.put(b"a", b"b"), Err(Error::Closed)));
    Db::open("/db", mem_opts(&fs)).unwrap();
}

fn small_tree_opts(fs: &MemFs) -> Options {
    let mut o = mem_opts(fs);
    o.compaction.max_bytes_for_level_base = 64 << 10;
    o.compaction.target_file_size = 16 << 10;
    o
}

#[test]
fn compaction_keeps_l0_bounded_and_data_intact() {
    let fs = MemFs::new();
    let db = Db::open("/db", small_tree_opts(&fs)).unwrap();
    for round in 0..10u32 {
        for i in 0..500u32 {
            let k = format!("k{:05}", (i * 7919 + round * 13) % 3000);
            db.put(k.as_bytes(), format!("v{round}-{i}").as_bytes()).unwrap();
        }
    }
    db.flush().unwrap();
    db.compact_range(None, None).unwrap();
    let st = db.stats();
    assert!(st.compactions > 0, "{st:?}");
    assert_eq!(st.levels[0].files, 0, "{st:?}");
    assert!(st.write_amplification >= 1.0);
    let mut model = std::collections::BTreeMap::new();
    for round in 0..10u32 {
        for i in 0..500u32 {
            model.insert(format!("k{:05}", (i * 7919 + round * 13) % 3000), format!("v{round}-{i}"));
        }
    }
    let got: Vec<(String, String)> = db
        .scan(None, None)
        .map(|r| {
            let (k, v) = r.unwrap();
            (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap())
        })
        .collect();
    let want: Vec<(String, String)> = model.into_iter().collect();
    assert_eq!(got, want);
}

#[test]
fn deleting_everything_and_compacting_reclaims_space() {
    let fs = MemFs::new();
    let db = Db::open("/db", small_tree_opts(&fs)).unwrap();
    for i in 0..5000u32 {
        db.put(format!("k{i:05}").as_bytes(), &[7u8; 100]).unwrap();
    }
    db.flush().unwrap();
    let full: u64 = db.stats().levels.iter().map(|l| l.bytes).sum();
    for i in 0..5000u32 {
        db.delete(format!("k{i:05}").as_bytes()).unwrap();
    }
    db.compact_range(None, None).unwrap();
    let after: u64 = db.stats().levels.iter().map(|l| l.bytes).sum();
    assert!(full > 400_000, "{full}");
    assert_eq!(after, 0, "{:?}", db.stats());
    assert_eq!(db.scan(None, None).count(), 0);
}

#[test]
fn snapshot_survives_full_compaction() {
    let fs = MemFs::new();
    let db = Db::open("/db", small_tree_opts(&fs)).unwrap();
    for i in 0..2000u32 {
        db.put(format!("k{i:05}").as_bytes(), b"old").unwrap();
    }
    let snap = db.snapshot();
    for i in 0..2000u32 {
        if i % 2 == 0 {
            db.delete(format!("k{i:05}").as_bytes()).unwrap();
        } else {
            db.put(format!("k{i:05}").as_bytes(), b"new").unwrap();
        }
    }
    db.compact_range(None, None).unwrap();
    let old: Vec<_> = db.scan_opt(None, None, false, Some(&snap)).map(|r| r.unwrap().1).collect();
    assert_eq!(old.len(), 2000);
    assert!(old.iter().all(|v| v == b"old"));
    assert_eq!(db.scan(None, None).count(), 1000);
    drop(snap);
    db.compact_range(None, None).unwrap();
    assert_eq!(db.scan(None, None).count(), 1000);
}

#[test]
fn expired_data_is_compacted_away() {
    let fs = MemFs::new();
    let clock = Arc::new(MockClock::new(1_000_000));
    let db = Db::open("/db", Options { clock: clock.clone(), ..small_tree_opts(&fs) }).unwrap();
    for i in 0..3000u32 {
        db.put_with_ttl(format!("k{i:05}").as_bytes(), &[1u8; 100], Duration::from_secs(5)).unwrap();
    }
    db.compact_range(None, None).unwrap();
    assert!(db.stats().levels.iter().map(|l| l.bytes).sum::<u64>() > 300_000);
    clock.advance(5_000);
    assert_eq!(db.scan(None, None).count(), 0);
    db.compact_range(None, None).unwrap();
    assert_eq!(db.stats().levels.iter().map(|l| l.bytes).sum::<u64>(), 0, "{:?}", db.stats());
}

#[test]
fn ttl_expire_persist() {
    let fs = MemFs::new();
    let clock = Arc::new(MockClock::new(1_000_000));
    let db = Db::open("/db", Options { clock: clock.clone(), ..mem_opts(&fs) }).unwrap();
    assert!(matches!(db.ttl(b"missing"), Err(Error::NotFound(_))));
    db.put(b"k", b"v").unwrap();
    assert_eq!(db.ttl(b"k").unwrap(), None);
    assert!(db.expire(b"k", Duration::from_secs(30)).unwrap());
    clock.advance(10_000);
    assert_eq!(db.ttl(b"k").unwrap(), Some(Duration::from_secs(20)));
    assert!(db.persist(b"k").unwrap());
    clock.advance(60_000);
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    assert!(db.expire(b"k", Duration::from_secs(1)).unwrap());
    clock.advance(1_000);
    assert!(matches!(db.ttl(b"k"), Err(Error::NotFound(_))));
    assert!(!db.expire(b"k", Duration::from_secs(1)).unwrap());
    assert!(!db.persist(b"nope").unwrap());
}

#[test]
fn write_if_detects_conflicts() {
    let fs = MemFs::new();
    let db = Db::open("/db", mem_opts(&fs)).unwrap();
    db.put(b"a", b"1").unwrap();
    let read_seq = db.latest_seqno();
    db.put(b"a", b"2").unwrap();
    let mut b = WriteBatch::new();
    b.put("a", "3");
    let pre = crate::Precondition { read_seq, keys: vec![b"a".to_vec()], ranges: vec![] };
    assert!(matches!(db.write_if(b.clone(), pre, Default::default()), Err(Error::Conflict(_))));
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"2"[..]));
    let pre = crate::Precondition { read_seq: db.latest_seqno(), keys: vec![b"a".to_vec()], ranges: vec![] };
    db.write_if(b.clone(), pre, Default::default()).unwrap();
    let stale = db.latest_seqno();
    db.put(b"m", b"x").unwrap();
    let pre = crate::Precondition { read_seq: stale, keys: vec![], ranges: vec![(b"l".to_vec(), Some(b"n".to_vec()))] };
    assert!(matches!(db.write_if(b.clone(), pre, Default::default()), Err(Error::Conflict(_))));
    let pre = crate::Precondition { read_seq: stale, keys: vec![], ranges: vec![(b"n".to_vec(), None)] };
    db.write_if(b, pre, Default::default()).unwrap();
}

#[test]
fn history_floor_keeps_old_versions_through_compaction() {
    let fs = MemFs::new();
    let db = Db::open("/db", small_tree_opts(&fs)).unwrap();
    db.put(b"k", b"v0").unwrap();
    db.set_history_floor(db.latest_seqno()).unwrap();
    let mut seqs = Vec::new();
    for i in 1..=50u32 {
        db.put(b"k", format!("v{i}").as_bytes()).unwrap();
        seqs.push((db.latest_seqno(), format!("v{i}")));
    }
    db.compact_range(None, None).unwrap();
    for (seq, want) in &seqs {
        let got = db.get_opt(b"k", &ReadOptions { seqno: Some(*seq), ..Default::default() }).unwrap();
        assert_eq!(got.as_deref(), Some(want.as_bytes()));
    }
    assert!(db.set_history_floor(0).is_err());
    db.set_history_floor(seqs[40].0).unwrap();
    db.compact_range(None, None).unwrap();
    let r = db.get_opt(b"k", &ReadOptions { seqno: Some(seqs[10].0), ..Default::default() });
    assert!(matches!(r, Err(Error::InvalidArgument(_))));
    let got = db.get_opt(b"k", &ReadOptions { seqno: Some(seqs[45].0), ..Default::default() }).unwrap();
    assert_eq!(got.as_deref(), Some(&b"v46"[..]));
}

#[test]
fn checkpoint_is_a_consistent_openable_copy() {
    let fs = MemFs::new();
    let db = Db::open("/db", small_tree_opts(&fs)).unwrap();
    for i in 0..3000u32 {
        db.put(format!("k{i:05}").as_bytes(), format!("v{i}").as_bytes()).unwrap();
    }
    let seq = db.checkpoint(Path::new("/cp")).unwrap();
    assert_eq!(seq, db.latest_seqno());
    db.put(b"after", b"x").unwrap();
    db.compact_range(None, None).unwrap();
    assert!(db.checkpoint(Path::new("/cp")).is_err());
    let cp = Db::open("/cp", small_tree_opts(&fs)).unwrap();
    assert_eq!(cp.latest_seqno(), seq);
    assert_eq!(cp.get(b"after").unwrap(), None);
    assert_eq!(cp.scan(None, None).count(), 3000);
    assert_eq!(cp.get(b"k01234").unwrap().as_deref(), Some(&b"v1234"[..]));
}

/// `get_versioned_if_cached` answers from memtables and cached blocks only, says when it
/// would need a file read, and agrees with `get_versioned` whenever it answers.
#[test]
fn cached_reads_answer_without_io_or_say_they_cannot() {
    let fs = MemFs::new();
    // No background compaction: one replacing the table between the reads below would make
    // the second read need I/O again.
    let opts = || Options { disable_auto_compactions: true, ..mem_opts(&fs) };
    {
        let db = Db::open("/db", opts()).unwrap();
        for i in 0..500u32 {
            db.put(format!("k{i:04}").as_bytes(), format!("v{i}").as_bytes()).unwrap();
        }
        db.delete(b"k0007").unwrap();
        db.close().unwrap();
    }
    let db = Db::open("/db", opts()).unwrap();
    db.flush().unwrap();
    // Reopened: the tables are not open yet, so a key in them needs I/O.
    assert!(db.get_versioned_if_cached(b"k0100", None).unwrap().is_none());
    let read = db.get_versioned(b"k0100", None).unwrap().unwrap();
    // Now the table is open and the block cached.
    let cached = db.get_versioned_if_cached(b"k0100", None).unwrap().expect("answered from the cache").unwrap();
    assert_eq!((cached.value, cached.seqno), (read.value, read.seqno));
    // Memtable hits, tombstones and keys every filter rules out need nothing from files.
    db.put(b"fresh", b"1").unwrap();
    assert_eq!(db.get_versioned_if_cached(b"fresh", None).unwrap().unwrap().unwrap().value, b"1");
    db.get_versioned(b"k0007", None).unwrap();
    assert_eq!(db.get_versioned_if_cached(b"k0007", None).unwrap(), Some(None));
    for i in 0..500u32 {
        let key = format!("k{i:04}");
        if let Some(answer) = db.get_versioned_if_cached(key.as_bytes(), None).unwrap() {
            assert_eq!(answer, db.get_versioned(key.as_bytes(), None).unwrap(), "{key}");
        }
    }
}

#[test]
fn wait_for_compactions_returns_once_the_tree_is_in_shape() {
    let fs = MemFs::new();
    let db = Db::open("/db", small_tree_opts(&fs)).unwrap();
    let value = [7u8; 200];
    for i in 0..4_000u32 {
        db.put(format!("k{:05}", (i * 7919) % 4_000).as_bytes(), &value).unwrap();
    }
    db.wait_for_compactions().unwrap();
    let st = db.stats();
    assert_eq!(st.immutable_memtables, 0, "{st:?}");
    assert!(st.compactions > 0, "{st:?}");
    assert!(st.levels[0].files < Options::default().compaction.l0_compaction_trigger, "{st:?}");
    assert_eq!(st.pending_compaction_bytes, 0, "no level over its target: {st:?}");
    assert_eq!(db.scan(None, None).count(), 4_000);
    db.close().unwrap();
    assert!(matches!(db.wait_for_compactions(), Err(Error::Closed)));
}

/// Memtable entries live in the memtable's arena: an iterator opened before a flush keeps
/// reading them after the memtable is flushed, replaced and written past, and values on both
/// sides of the arena's own-mapping threshold (256 KiB) survive flush and reopen intact.
#[test]
fn memtable_entries_outlive_the_flush_for_open_iterators() {
    let fs = MemFs::new();
    let opts = || Options { write_buffer_size: 1 << 20, ..mem_opts(&fs) };
    let db = Db::open("/db", opts()).unwrap();
    let value = |i: usize| vec![(i % 251) as u8; [0, 1, 100, 4096, 256 << 10, (256 << 10) + 1, 1 << 20][i % 7]];
    for i in 0..21 {
        db.put(format!("k{i:02}").as_bytes(), &value(i)).unwrap();
    }
    let mut it = db.scan(None, None);
    let first = it.next().unwrap().unwrap();
    db.flush().unwrap();
    for i in 0..21 {
        db.put(format!("k{i:02}").as_bytes(), b"newer").unwrap();
    }
    db.flush().unwrap();
    assert_eq!(first, (b"k00".to_vec(), value(0)));
    for (i, entry) in it.enumerate() {
        let (k, v) = entry.unwrap();
        assert_eq!((k, v), (format!("k{:02}", i + 1).into_bytes(), value(i + 1)), "the iterator's snapshot");
    }
    // Replayed from the log into a fresh memtable's arena at reopen.
    for i in 0..21 {
        db.put(format!("r{i:02}").as_bytes(), &value(i)).unwrap();
    }
    drop(db);
    let db = Db::open("/db", opts()).unwrap();
    assert_eq!(db.get(b"k05").unwrap(), Some(b"newer".to_vec()));
    for i in 0..21 {
        assert_eq!(db.get(format!("r{i:02}").as_bytes()).unwrap(), Some(value(i)), "r{i:02}");
    }
}
