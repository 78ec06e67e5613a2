//! Isolation anomalies and transaction semantics: lost update, write skew under both levels,
//! read-your-own-writes (point reads and scans in both directions), rollback, drop, timeout,
//! read-only commits, and the retry helper.

use std::time::Duration;

use kvd::{Db, Error, Isolation, Options, RetryOptions, TxnOptions};

fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    (dir, db)
}

fn opts(isolation: Isolation) -> TxnOptions {
    TxnOptions { isolation, ..TxnOptions::default() }
}

fn num(v: Option<Vec<u8>>) -> i64 {
    v.map_or(0, |v| String::from_utf8(v).unwrap().parse().unwrap())
}

fn is_conflict<T: std::fmt::Debug>(r: kvd::Result<T>) -> bool {
    matches!(r, Err(Error::Conflict(_)))
}

#[test]
fn lost_update_is_prevented_at_both_levels() {
    for iso in [Isolation::Snapshot, Isolation::Serializable] {
        let (_d, db) = open();
        db.put(b"counter", b"0").unwrap();
        let mut t1 = db.transaction_with(opts(iso));
        let mut t2 = db.transaction_with(opts(iso));
        let v1 = num(t1.get(b"counter").unwrap());
        let v2 = num(t2.get(b"counter").unwrap());
        t1.put(b"counter", (v1 + 1).to_string().as_bytes()).unwrap();
        t2.put(b"counter", (v2 + 1).to_string().as_bytes()).unwrap();
        t1.commit().unwrap();
        assert!(is_conflict(t2.commit()), "{iso:?}: the second writer must lose");
        assert_eq!(num(db.get(b"counter").unwrap()), 1);
    }
}

#[test]
fn blind_write_conflicts_with_a_plain_write_since_the_snapshot() {
    let (_d, db) = open();
    let mut t = db.transaction();
    db.put(b"k", b"outside").unwrap();
    t.put(b"k", b"inside").unwrap();
    t.put(b"other", b"x").unwrap();
    assert!(is_conflict(t.commit()));
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"outside"[..]));
    assert_eq!(db.get(b"other").unwrap(), None, "nothing of a failed commit is applied");
}

/// Two doctors on call; each goes off call if the other is still on. Serially, one stays.
fn write_skew(iso: Isolation) -> (kvd::Result<u64>, kvd::Result<u64>, Db, tempfile::TempDir) {
    let (d, db) = open();
    db.put(b"oncall/alice", b"1").unwrap();
    db.put(b"oncall/bob", b"1").unwrap();
    let mut t1 = db.transaction_with(opts(iso));
    let mut t2 = db.transaction_with(opts(iso));
    let on_call =
        |t: &kvd::Transaction<'_>| t.prefix_scan(b"oncall/").unwrap().filter(|r| r.as_ref().unwrap().1 == b"1").count();
    assert_eq!(on_call(&t1), 2);
    assert_eq!(on_call(&t2), 2);
    t1.put(b"oncall/alice", b"0").unwrap();
    t2.put(b"oncall/bob", b"0").unwrap();
    let r1 = t1.commit();
    let r2 = t2.commit();
    (r1, r2, db, d)
}

#[test]
fn write_skew_is_allowed_under_snapshot_isolation() {
    let (r1, r2, db, _d) = write_skew(Isolation::Snapshot);
    r1.unwrap();
    r2.unwrap();
    assert_eq!(db.get(b"oncall/alice").unwrap().as_deref(), Some(&b"0"[..]));
    assert_eq!(db.get(b"oncall/bob").unwrap().as_deref(), Some(&b"0"[..]), "both went off call: write skew");
}

#[test]
fn write_skew_is_prevented_under_serializable() {
    let (r1, r2, db, _d) = write_skew(Isolation::Serializable);
    r1.unwrap();
    assert!(is_conflict(r2));
    assert_eq!(db.get(b"oncall/bob").unwrap().as_deref(), Some(&b"1"[..]));
}

#[test]
fn serializable_point_reads_detect_skew_and_phantom_inserts() {
    let (_d, db) = open();
    db.put(b"x", b"1").unwrap();
    let mut t1 = db.transaction_with(opts(Isolation::Serializable));
    let mut t2 = db.transaction_with(opts(Isolation::Serializable));
    t1.get(b"x").unwrap();
    t1.get(b"absent").unwrap();
    t2.get(b"x").unwrap();
    t1.put(b"y", b"from t1").unwrap();
    t2.put(b"absent", b"now present").unwrap();
    t2.commit().unwrap();
    assert!(is_conflict(t1.commit()), "t1 read `absent` as missing; t2 inserted it");
}

#[test]
fn get_for_update_guards_a_read_under_snapshot_isolation() {
    let (_d, db) = open();
    db.put(b"a", b"1").unwrap();
    let mut t = db.transaction();
    t.get_for_update(b"a").unwrap();
    t.put(b"b", b"2").unwrap();
    db.put(b"a", b"changed").unwrap();
    assert!(is_conflict(t.commit()));
}

#[test]
fn read_your_own_writes_in_gets_and_scans() {
    let (_d, db) = open();
    for k in ["a", "c", "e", "g"] {
        db.put(k.as_bytes(), format!("db-{k}").as_bytes()).unwrap();
    }
    let mut t = db.transaction();
    t.put(b"b", b"txn-b").unwrap();
    t.put(b"c", b"txn-c").unwrap();
    t.delete(b"e").unwrap();
    t.put(b"h", b"txn-h").unwrap();
    t.put_with_ttl(b"f", b"txn-f", Duration::from_secs(60)).unwrap();
    db.put(b"d", b"after-snapshot").unwrap();
    assert_eq!(t.get(b"c").unwrap().as_deref(), Some(&b"txn-c"[..]));
    assert_eq!(t.get(b"e").unwrap(), None);
    assert_eq!(t.get(b"d").unwrap(), None, "reads see the snapshot, not later commits");
    let all = |rev: bool, lo: Option<&[u8]>, hi: Option<&[u8]>| -> Vec<(String, String)> {
        t.scan_opt(lo, hi, rev)
            .unwrap()
            .map(|r| r.unwrap())
            .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
            .collect()
    };
    let forward = all(false, None, None);
    let keys: Vec<&str> = forward.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c", "f", "g", "h"]);
    assert_eq!(forward[2].1, "txn-c");
    let mut backward = all(true, None, None);
    backward.reverse();
    assert_eq!(backward, forward);
    let bounded: Vec<String> = all(false, Some(b"b"), Some(b"g")).into_iter().map(|(k, _)| k).collect();
    assert_eq!(bounded, ["b", "c", "f"]);
    let bounded_rev: Vec<String> = all(true, Some(b"c"), Some(b"h")).into_iter().map(|(k, _)| k).collect();
    assert_eq!(bounded_rev, ["g", "f", "c"]);
    assert!(all(false, Some(b"x"), Some(b"a")).is_empty());
    t.commit().unwrap();
    assert_eq!(db.get(b"e").unwrap(), None);
    assert_eq!(db.get(b"h").unwrap().as_deref(), Some(&b"txn-h"[..]));
    assert!(db.ttl(b"f").unwrap().is_some());
}

#[test]
fn rollback_and_drop_apply_nothing() {
    let (_d, db) = open();
    db.put(b"k", b"v").unwrap();
    let mut t = db.transaction();
    t.put(b"k", b"changed").unwrap();
    t.put(b"new", b"x").unwrap();
    t.rollback();
    {
        let mut t = db.transaction();
        t.delete(b"k").unwrap();
    }
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(db.get(b"new").unwrap(), None);
    assert_eq!(db.stats().live_snapshots, 0, "transactions release their snapshots");
}

#[test]
fn expired_transaction_cannot_commit() {
    let (_d, db) = open();
    let mut t = db.transaction_with(TxnOptions { timeout: Duration::from_millis(30), ..TxnOptions::default() });
    t.put(b"k", b"v").unwrap();
    std::thread::sleep(Duration::from_millis(60));
    assert!(t.is_expired());
    let err = t.get(b"k").unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    let err = t.commit().unwrap_err();
    assert!(matches!(&err, Error::TransactionExpired(_)), "{err}");
    assert_eq!(db.get(b"k").unwrap(), None);
    // The retry helper does not re-run an attempt that expired.
    let mut runs = 0;
    let r = kvd::retry(
        &db,
        RetryOptions {
            txn: TxnOptions { timeout: Duration::from_millis(10), ..TxnOptions::default() },
            ..RetryOptions::default()
        },
        |t| {
            runs += 1;
            std::thread::sleep(Duration::from_millis(20));
            t.put(b"k", b"v")
        },
    );
    assert!(r.is_err());
    assert_eq!(runs, 1);
}

#[test]
fn read_only_transactions_commit_trivially() {
    let (_d, db) = open();
    db.put(b"k", b"1").unwrap();
    let t = db.transaction_with(opts(Isolation::Serializable));
    assert_eq!(t.get(b"k").unwrap().as_deref(), Some(&b"1"[..]));
    db.put(b"k", b"2").unwrap();
    assert_eq!(t.get(b"k").unwrap().as_deref(), Some(&b"1"[..]), "repeatable read");
    let seq = t.read_seq();
    assert_eq!(t.commit().unwrap(), seq);
}

#[test]
fn retry_reruns_on_conflict_until_commit() {
    let (_d, db) = open();
    let mut runs = 0;
    let v = db
        .run_transaction(|t| {
            runs += 1;
            let v = num(t.get(b"n")?);
            if runs < 3 {
                db.put(b"n", (v + 10).to_string().as_bytes())?; // a concurrent writer wins
            }
            t.put(b"n", (v + 1).to_string().as_bytes())?;
            Ok(v + 1)
        })
        .unwrap();
    assert_eq!(runs, 3);
    assert_eq!(v, 21);
    assert_eq!(num(db.get(b"n").unwrap()), 21);
    let r = kvd::retry(&db, RetryOptions { max_attempts: 2, ..RetryOptions::default() }, |t| {
        db.put(b"n", b"0")?;
        t.put(b"n", b"1")
    });
    assert!(matches!(r, Err(Error::Conflict(m)) if m.contains("2 attempts")));
}

#[test]
fn non_conflict_errors_are_not_retried() {
    let (_d, db) = open();
    let mut runs = 0;
    let r: kvd::Result<()> = db.run_transaction(|t| {
        runs += 1;
        t.put(b"", b"empty key")
    });
    assert!(matches!(r, Err(Error::InvalidArgument(_))));
    assert_eq!(runs, 1);
}
