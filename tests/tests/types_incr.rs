//! Atomic integers: concurrent increments never lose one another, also against
//! transactions writing the same key; overflow and non-integers are errors that change
//! nothing; integers are plain decimal strings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kvd::{Db, Error, Options};

fn open() -> (tempfile::TempDir, Arc<Db>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
    (dir, db)
}

#[test]
fn sixteen_threads_times_ten_thousand_increments_are_exact() {
    let (_d, db) = open();
    let started = Instant::now();
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                for _ in 0..10_000 {
                    db.incr_by(b"counter", 1).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    eprintln!("160,000 increments in {:?}", started.elapsed());
    assert_eq!(db.get_int(b"counter").unwrap(), Some(160_000));
    assert_eq!(db.get(b"counter").unwrap().as_deref(), Some(&b"160000"[..]));
}

#[test]
fn increments_and_transactions_on_one_key_never_lose_updates() {
    let (_d, db) = open();
    let incrs: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                for _ in 0..2_000 {
                    db.incr_by(b"n", 1).unwrap();
                }
            })
        })
        .collect();
    let txns: Vec<_> = (0..2)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                for _ in 0..500 {
                    db.run_transaction(|t| {
                        let n: i64 = t.get(b"n")?.map_or(0, |v| String::from_utf8(v).unwrap().parse().unwrap());
                        t.put(b"n", (n + 10).to_string().as_bytes())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for h in incrs.into_iter().chain(txns) {
        h.join().unwrap();
    }
    assert_eq!(db.get_int(b"n").unwrap(), Some(4 * 2_000 + 2 * 500 * 10));
}

#[test]
fn overflow_and_non_integers_are_errors_that_change_nothing() {
    let (_d, db) = open();
    assert_eq!(db.incr_by(b"k", i64::MAX).unwrap(), i64::MAX);
    assert!(matches!(db.incr_by(b"k", 1), Err(Error::InvalidArgument(_))));
    assert_eq!(db.get_int(b"k").unwrap(), Some(i64::MAX));
    assert_eq!(db.decr_by(b"m", i64::MAX).unwrap(), -i64::MAX);
    assert!(matches!(db.decr_by(b"m", 2), Err(Error::InvalidArgument(_))));
    assert!(matches!(db.decr_by(b"m", i64::MIN), Err(Error::InvalidArgument(_))));
    assert_eq!(db.get_int(b"m").unwrap(), Some(-i64::MAX));

    db.put(b"s", b"12").unwrap();
    assert_eq!(db.incr_by(b"s", 30).unwrap(), 42, "a plain decimal string is an integer");
    for bad in [&b"abc"[..], b"1.5", b" 1", b"+1", b"", b"99999999999999999999"] {
        db.put(b"s", bad).unwrap();
        assert!(matches!(db.incr_by(b"s", 1), Err(Error::InvalidArgument(_))), "{bad:?}");
        assert!(matches!(db.get_int(b"s"), Err(Error::InvalidArgument(_))));
        assert_eq!(db.get(b"s").unwrap().as_deref(), Some(bad));
    }
    assert_eq!(db.get_int(b"missing").unwrap(), None);
}

#[test]
fn integers_on_collections_are_wrong_type_and_keep_ttls() {
    let (_d, db) = open();
    db.rpush(b"list", &[b"a"]).unwrap();
    assert!(matches!(db.incr_by(b"list", 1), Err(Error::WrongType(_))));
    assert!(matches!(db.get_int(b"list"), Err(Error::WrongType(_))));
    assert_eq!(db.lrange(b"list", 0, -1).unwrap(), vec![b"a".to_vec()]);
    assert!(matches!(db.incr_by(b"\x00m", 1), Err(Error::InvalidArgument(_))), "reserved keys are refused");

    db.put_with_ttl(b"t", b"1", Duration::from_secs(100)).unwrap();
    db.incr_by(b"t", 1).unwrap();
    let ttl = db.ttl(b"t").unwrap().unwrap();
    assert!(ttl > Duration::from_secs(90), "INCR keeps the TTL, as in Redis");
}
