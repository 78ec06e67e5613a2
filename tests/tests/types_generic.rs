//! Typed values across types: wrong-type operations change nothing, O(1) delete with
//! garbage reclaimed later, TTL on whole collections, reserved keys, plain values shadowing
//! collections, and concurrent typed operations on one collection.

use std::sync::Arc;
use std::time::Duration;

use kvd::{Db, Error, Options, ValueType};
use kvd_base::clock::MockClock;

fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    (dir, db)
}

/// Every key and value, internal ones included.
fn dump(db: &Db) -> Vec<(Vec<u8>, Vec<u8>)> {
    db.scan(None, None).map(Result::unwrap).collect()
}

fn wrong<T: std::fmt::Debug>(r: kvd::Result<T>) {
    assert!(matches!(r, Err(Error::WrongType(_))), "{r:?}");
}

#[test]
fn wrong_type_operations_change_nothing() {
    let (_d, db) = open();
    db.put(b"str", b"hello").unwrap();
    db.rpush(b"list", &[b"a", b"b"]).unwrap();
    db.sadd(b"set", &[b"x"]).unwrap();
    db.hset(b"hash", &[(b"f", b"v")]).unwrap();
    let before = dump(&db);
    let seq = db.latest_seqno();
    for k in [&b"str"[..], b"set", b"hash"] {
        wrong(db.lpush(k, &[b"z"]));
        wrong(db.rpush(k, &[b"z"]));
        wrong(db.lpop(k, 1));
        wrong(db.rpop(k, 1));
        wrong(db.lset(k, 0, b"z"));
        wrong(db.ltrim(k, 0, 0));
        wrong(db.lrange(k, 0, -1));
        wrong(db.llen(k));
        wrong(db.lindex(k, 0));
    }
    for k in [&b"str"[..], b"list", b"hash"] {
        wrong(db.sadd(k, &[b"z"]));
        wrong(db.srem(k, &[b"z"]));
        wrong(db.sismember(k, b"z"));
        wrong(db.smembers(k));
        wrong(db.scard(k));
        wrong(db.sinter(&[&b"set"[..], k]));
        wrong(db.sunion(&[k, &b"set"[..]]));
        wrong(db.sdiff(&[&b"set"[..], k]));
        wrong(db.sinterstore(k, &[b"set"]));
        wrong(db.sunionstore(b"newdest", &[k]));
    }
    for k in [&b"str"[..], b"list", b"set"] {
        wrong(db.hset(k, &[(b"f", b"z")]));
        wrong(db.hget(k, b"f"));
        wrong(db.hdel(k, &[b"f"]));
        wrong(db.hgetall(k));
        wrong(db.hexists(k, b"f"));
        wrong(db.hlen(k));
        wrong(db.hincrby(k, b"f", 1));
    }
    for k in [&b"list"[..], b"set", b"hash"] {
        wrong(db.incr_by(k, 1));
        wrong(db.get_int(k));
    }
    assert_eq!(dump(&db), before);
    assert_eq!(db.latest_seqno(), seq, "nothing was written");
    assert_eq!(db.type_of(b"str").unwrap(), Some(ValueType::String));
    assert_eq!(db.type_of(b"list").unwrap(), Some(ValueType::List));
    assert_eq!(db.type_of(b"set").unwrap(), Some(ValueType::Set));
    assert_eq!(db.type_of(b"hash").unwrap(), Some(ValueType::Hash));
    assert_eq!(db.type_of(b"none").unwrap(), None);
}

#[test]
fn collections_are_invisible_to_the_plain_api_and_reserved_keys_are_refused() {
    let (_d, db) = open();
    db.rpush(b"list", &[b"a"]).unwrap();
    assert_eq!(db.get(b"list").unwrap(), None);
    let plain: Vec<_> = db.scan(Some(b"\x01"), None).collect();
    assert!(plain.is_empty(), "typed data lives only under the reserved 0x00 prefix");
    for bad in [&b""[..], b"\x00", b"\x00mlist"] {
        assert!(matches!(db.rpush(bad, &[b"a"]), Err(Error::InvalidArgument(_))));
        assert!(matches!(db.sadd(bad, &[b"a"]), Err(Error::InvalidArgument(_))));
        assert!(matches!(db.del(bad), Err(Error::InvalidArgument(_))));
    }
    // A plain put over a collection shadows it; `del` removes both.
    db.put(b"list", b"plain").unwrap();
    assert_eq!(db.type_of(b"list").unwrap(), Some(ValueType::String));
    wrong(db.llen(b"list"));
    assert!(db.del(b"list").unwrap());
    assert_eq!(db.type_of(b"list").unwrap(), None);
    assert_eq!(db.llen(b"list").unwrap(), 0);
    assert!(!db.del(b"list").unwrap());
}

#[test]
fn delete_is_constant_time_and_garbage_is_purged_later() {
    let (_d, db) = open();
    let values: Vec<Vec<u8>> = (0..5_000u32).map(|i| i.to_be_bytes().to_vec()).collect();
    db.rpush(b"big", &values).unwrap();
    db.sadd(b"keep", &[b"m"]).unwrap();
    let seq = db.latest_seqno();
    assert!(db.del(b"big").unwrap());
    assert_eq!(db.latest_seqno() - seq, 2, "delete wrote two tombstones, whatever the size");
    assert_eq!(db.llen(b"big").unwrap(), 0);
    // A new list under the same key does not see the old elements.
    db.rpush(b"big", &[b"fresh"]).unwrap();
    assert_eq!(db.lrange(b"big", 0, -1).unwrap(), vec![b"fresh".to_vec()]);
    assert_eq!(db.prefix_scan(b"\x00e").count(), 5_000 + 2);
    assert_eq!(db.purge_stale_elements(1_000).unwrap(), 1_000);
    assert_eq!(db.purge_stale_elements(u64::MAX).unwrap(), 4_000);
    assert_eq!(db.purge_stale_elements(u64::MAX).unwrap(), 0);
    assert_eq!(db.prefix_scan(b"\x00e").count(), 2);
    assert_eq!(db.lrange(b"big", 0, -1).unwrap(), vec![b"fresh".to_vec()]);
    assert_eq!(db.smembers(b"keep").unwrap(), vec![b"m".to_vec()]);
}

#[test]
fn ttl_applies_to_whole_collections() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(MockClock::new(1_000_000));
    let db = Db::open(dir.path(), Options { clock: clock.clone(), ..Options::default() }).unwrap();
    db.sadd(b"s", &[b"a", b"b"]).unwrap();
    db.hset(b"h", &[(b"f", b"v")]).unwrap();
    db.put(b"p", b"1").unwrap();
    assert!(matches!(db.ttl_type(b"s"), Ok(None)));
    assert!(db.expire_type(b"s", Duration::from_secs(10)).unwrap());
    assert!(db.expire_type(b"h", Duration::from_secs(10)).unwrap());
    assert!(db.expire_type(b"p", Duration::from_secs(10)).unwrap());
    assert!(!db.expire_type(b"missing", Duration::from_secs(10)).unwrap());
    assert_eq!(db.ttl_type(b"s").unwrap(), Some(Duration::from_secs(10)));
    assert!(db.persist_type(b"h").unwrap());
    assert_eq!(db.ttl_type(b"h").unwrap(), None);
    // Updates keep the collection's expiry.
    clock.advance(5_000);
    db.sadd(b"s", &[b"c"]).unwrap();
    assert_eq!(db.ttl_type(b"s").unwrap(), Some(Duration::from_secs(5)));
    clock.advance(5_001);
    assert_eq!(db.scard(b"s").unwrap(), 0, "expired as a whole");
    assert_eq!(db.smembers(b"s").unwrap(), Vec::<Vec<u8>>::new());
    assert_eq!(db.type_of(b"s").unwrap(), None);
    assert!(matches!(db.ttl_type(b"s"), Err(Error::NotFound(_))));
    assert_eq!(db.get(b"p").unwrap(), None);
    assert_eq!(db.hlen(b"h").unwrap(), 1, "persisted");
    // A new set under the expired key starts empty, and the old members are garbage.
    db.sadd(b"s", &[b"z"]).unwrap();
    assert_eq!(db.smembers(b"s").unwrap(), vec![b"z".to_vec()]);
    assert_eq!(db.purge_stale_elements(u64::MAX).unwrap(), 3);
}

#[test]
fn set_algebra_reads_one_snapshot_and_store_rejects_other_types() {
    let (_d, db) = open();
    db.sadd(b"a", &[b"1", b"2", b"3"]).unwrap();
    db.sadd(b"b", &[b"2", b"3", b"4"]).unwrap();
    assert_eq!(db.sinter(&[b"a", b"b"]).unwrap(), vec![b"2".to_vec(), b"3".to_vec()]);
    assert_eq!(db.sinter(&[&b"a"[..], b"b", b"missing"]).unwrap(), Vec::<Vec<u8>>::new());
    assert_eq!(db.sdiff(&[&b"a"[..], b"missing"]).unwrap().len(), 3);
    assert_eq!(db.sunion(&[&b"missing"[..], b"a"]).unwrap().len(), 3);
    assert_eq!(db.sinterstore(b"a", &[b"a", b"b"]).unwrap(), 2, "dest may be a source");
    assert_eq!(db.smembers(b"a").unwrap(), vec![b"2".to_vec(), b"3".to_vec()]);
    assert_eq!(db.sdiffstore(b"a", &[b"a", b"b"]).unwrap(), 0);
    assert_eq!(db.type_of(b"a").unwrap(), None, "an empty result deletes dest");
    db.rpush(b"l", &[b"x"]).unwrap();
    wrong(db.sunionstore(b"l", &[b"b"]));
    assert_eq!(db.lrange(b"l", 0, -1).unwrap(), vec![b"x".to_vec()]);
}

#[test]
fn concurrent_pushes_and_pops_lose_nothing() {
    let (_d, db) = open();
    let db = Arc::new(db);
    let pushers: Vec<_> = (0..4u32)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..500u32 {
                    let v = (t * 1_000 + i).to_be_bytes();
                    if i % 2 == 0 {
                        db.lpush(b"q", &[v]).unwrap();
                    } else {
                        db.rpush(b"q", &[v]).unwrap();
                    }
                    db.sadd(b"seen", &[v]).unwrap();
                    db.hincrby(b"counts", &t.to_be_bytes(), 1).unwrap();
                }
            })
        })
        .collect();
    let popper = {
        let db = db.clone();
        std::thread::spawn(move || {
            let mut popped = Vec::new();
            for _ in 0..400 {
                popped.extend(db.rpop(b"q", 2).unwrap());
            }
            popped
        })
    };
    for h in pushers {
        h.join().unwrap();
    }
    let mut all = popper.join().unwrap();
    all.extend(db.lrange(b"q", 0, -1).unwrap());
    all.sort();
    let unique: std::collections::BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), 2_000, "every pushed value is popped or still listed, once");
    assert_eq!(unique.len(), 2_000);
    assert_eq!(db.scard(b"seen").unwrap(), 2_000);
    for (_, v) in db.hgetall(b"counts").unwrap() {
        assert_eq!(v, b"500");
    }
}

#[test]
fn typed_operations_conflict_with_transactions() {
    let (_d, db) = open();
    let mut t = db.transaction();
    assert_eq!(t.get(b"n").unwrap(), None);
    t.put(b"n", b"100").unwrap();
    db.incr_by(b"n", 1).unwrap();
    assert!(matches!(t.commit(), Err(Error::Conflict(_))));
    assert_eq!(db.get_int(b"n").unwrap(), Some(1));
}
