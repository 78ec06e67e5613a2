//! Model-based tests of the collection types: random operation sequences on lists, sets and
//! hashes, checked after every step against `VecDeque`, `BTreeSet` and `BTreeMap`, with
//! reopens, full compactions and garbage purges mixed in. `KVD_STRESS=1` runs more cases.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use kvd::{Db, Options};
use kvd_tests::env::scale;
use proptest::prelude::*;

/// A database with tiny memtables, so element keys spread over many tables.
struct Harness {
    dir: tempfile::TempDir,
    db: Option<Db>,
}

fn options() -> Options {
    Options { write_buffer_size: 4 << 10, ..Options::default() }
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = Some(Db::open(dir.path(), options()).unwrap());
        Harness { dir, db }
    }

    fn db(&self) -> &Db {
        self.db.as_ref().unwrap()
    }

    /// Housekeeping steps every model mixes in.
    fn maintain(&mut self, m: Maintenance) {
        match m {
            Maintenance::Reopen => {
                self.db.take().unwrap().close().unwrap();
                self.db = Some(Db::open(self.dir.path(), options()).unwrap());
            }
            Maintenance::Compact => self.db().compact_range(None, None).unwrap(),
            Maintenance::Purge => {
                self.db().purge_stale_elements(u64::MAX).unwrap();
            }
        }
    }

    /// After a full purge and compaction, the only element keys left belong to live
    /// collections: `expected` in all.
    fn assert_no_garbage(&mut self, expected: usize) {
        let db = self.db();
        db.purge_stale_elements(u64::MAX).unwrap();
        let elements = db.prefix_scan(b"\x00e").count();
        assert_eq!(elements, expected, "stale elements were left behind in {}", path(self.dir.path()));
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[derive(Debug, Clone, Copy)]
enum Maintenance {
    Reopen,
    Compact,
    Purge,
}

fn maintenance() -> impl Strategy<Value = Maintenance> {
    prop_oneof![Just(Maintenance::Reopen), Just(Maintenance::Compact), Just(Maintenance::Purge)]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> + Clone {
    prop::collection::vec(b'a'..b'e', 0..3)
}

fn key() -> impl Strategy<Value = usize> {
    0usize..2
}

const KEYS: [&[u8]; 2] = [b"k0", b"k1"];

// ---------------------------------------------------------------- lists

#[derive(Debug, Clone)]
enum ListOp {
    LPush(usize, Vec<Vec<u8>>),
    RPush(usize, Vec<Vec<u8>>),
    LPop(usize, usize),
    RPop(usize, usize),
    LSet(usize, i64, Vec<u8>),
    LTrim(usize, i64, i64),
    LRange(usize, i64, i64),
    LIndex(usize, i64),
    Del(usize),
    Maintain(Maintenance),
}

fn index() -> impl Strategy<Value = i64> {
    -8i64..8
}

fn list_op() -> impl Strategy<Value = ListOp> {
    let values = prop::collection::vec(bytes(), 0..5);
    prop_oneof![
        4 => (key(), values.clone()).prop_map(|(k, v)| ListOp::LPush(k, v)),
        4 => (key(), values).prop_map(|(k, v)| ListOp::RPush(k, v)),
        2 => (key(), 0usize..4).prop_map(|(k, n)| ListOp::LPop(k, n)),
        2 => (key(), 0usize..4).prop_map(|(k, n)| ListOp::RPop(k, n)),
        2 => (key(), index(), bytes()).prop_map(|(k, i, v)| ListOp::LSet(k, i, v)),
        1 => (key(), index(), index()).prop_map(|(k, a, b)| ListOp::LTrim(k, a, b)),
        2 => (key(), index(), index()).prop_map(|(k, a, b)| ListOp::LRange(k, a, b)),
        2 => (key(), index()).prop_map(|(k, i)| ListOp::LIndex(k, i)),
        1 => key().prop_map(ListOp::Del),
        1 => maintenance().prop_map(ListOp::Maintain),
    ]
}

/// Redis's clamped inclusive range over a model of length `len`.
fn model_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let s = if start < 0 { (start + len).max(0) } else { start };
    let e = if stop < 0 { stop + len } else { stop.min(len - 1) };
    (s <= e && s < len).then_some((s as usize, e as usize))
}

fn model_index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { i + len as i64 } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

fn run_list(ops: Vec<ListOp>) {
    let mut h = Harness::new();
    let mut model = [VecDeque::<Vec<u8>>::new(), VecDeque::new()];
    for op in ops {
        let db = h.db();
        match op {
            ListOp::LPush(k, vs) => {
                let n = db.lpush(KEYS[k], &vs).unwrap();
                vs.iter().for_each(|v| model[k].push_front(v.clone()));
                assert_eq!(n, model[k].len() as u64);
            }
            ListOp::RPush(k, vs) => {
                let n = db.rpush(KEYS[k], &vs).unwrap();
                model[k].extend(vs);
                assert_eq!(n, model[k].len() as u64);
            }
            ListOp::LPop(k, n) => {
                let want: Vec<_> = (0..n).map_while(|_| model[k].pop_front()).collect();
                assert_eq!(db.lpop(KEYS[k], n).unwrap(), want);
            }
            ListOp::RPop(k, n) => {
                let want: Vec<_> = (0..n).map_while(|_| model[k].pop_back()).collect();
                assert_eq!(db.rpop(KEYS[k], n).unwrap(), want);
            }
            ListOp::LSet(k, i, v) => {
                let r = db.lset(KEYS[k], i, &v);
                match (model[k].is_empty(), model_index(i, model[k].len())) {
                    (true, _) => assert!(matches!(r, Err(kvd::Error::NotFound(_))), "{r:?}"),
                    (false, None) => assert!(matches!(r, Err(kvd::Error::InvalidArgument(_))), "{r:?}"),
                    (false, Some(i)) => {
                        r.unwrap();
                        model[k][i] = v;
                    }
                }
            }
            ListOp::LTrim(k, a, b) => {
                db.ltrim(KEYS[k], a, b).unwrap();
                model[k] = match model_range(a, b, model[k].len()) {
                    Some((s, e)) => model[k].range(s..=e).cloned().collect(),
                    None => VecDeque::new(),
                };
            }
            ListOp::LRange(k, a, b) => {
                let want: Vec<_> = match model_range(a, b, model[k].len()) {
                    Some((s, e)) => model[k].range(s..=e).cloned().collect(),
                    None => Vec::new(),
                };
                assert_eq!(db.lrange(KEYS[k], a, b).unwrap(), want);
            }
            ListOp::LIndex(k, i) => {
                let want = model_index(i, model[k].len()).map(|i| model[k][i].clone());
                assert_eq!(db.lindex(KEYS[k], i).unwrap(), want);
            }
            ListOp::Del(k) => {
                assert_eq!(db.del(KEYS[k]).unwrap(), !model[k].is_empty());
                model[k].clear();
            }
            ListOp::Maintain(m) => h.maintain(m),
        }
        for k in 0..2 {
            let all: Vec<_> = model[k].iter().cloned().collect();
            assert_eq!(h.db().lrange(KEYS[k], 0, -1).unwrap(), all);
            assert_eq!(h.db().llen(KEYS[k]).unwrap(), model[k].len() as u64);
            let ty = h.db().type_of(KEYS[k]).unwrap();
            assert_eq!(ty, (!model[k].is_empty()).then_some(kvd::ValueType::List));
        }
    }
    h.assert_no_garbage(model.iter().map(VecDeque::len).sum());
}

// ---------------------------------------------------------------- sets

#[derive(Debug, Clone)]
enum SetOp {
    SAdd(usize, Vec<Vec<u8>>),
    SRem(usize, Vec<Vec<u8>>),
    SIsMember(usize, Vec<u8>),
    Store(u8, usize),
    Del(usize),
    Maintain(Maintenance),
}

fn set_op() -> impl Strategy<Value = SetOp> {
    let members = prop::collection::vec(bytes(), 0..5);
    prop_oneof![
        5 => (key(), members.clone()).prop_map(|(k, m)| SetOp::SAdd(k, m)),
        3 => (key(), members).prop_map(|(k, m)| SetOp::SRem(k, m)),
        2 => (key(), bytes()).prop_map(|(k, m)| SetOp::SIsMember(k, m)),
        1 => (0u8..3, key()).prop_map(|(a, k)| SetOp::Store(a, k)),
        1 => key().prop_map(SetOp::Del),
        1 => maintenance().prop_map(SetOp::Maintain),
    ]
}

fn run_set(ops: Vec<SetOp>) {
    let mut h = Harness::new();
    let mut model = [BTreeSet::<Vec<u8>>::new(), BTreeSet::new()];
    for op in ops {
        let db = h.db();
        match op {
            SetOp::SAdd(k, ms) => {
                let want = ms.iter().filter(|m| model[k].insert((*m).clone())).count();
                assert_eq!(db.sadd(KEYS[k], &ms).unwrap(), want as u64);
            }
            SetOp::SRem(k, ms) => {
                let want = ms.iter().filter(|m| model[k].remove(*m)).count();
                assert_eq!(db.srem(KEYS[k], &ms).unwrap(), want as u64);
            }
            SetOp::SIsMember(k, m) => assert_eq!(db.sismember(KEYS[k], &m).unwrap(), model[k].contains(&m)),
            SetOp::Store(algebra, dest) => {
                let result: BTreeSet<Vec<u8>> = match algebra {
                    0 => model[0].intersection(&model[1]).cloned().collect(),
                    1 => model[0].union(&model[1]).cloned().collect(),
                    _ => model[0].difference(&model[1]).cloned().collect(),
                };
                let n = match algebra {
                    0 => db.sinterstore(KEYS[dest], &KEYS).unwrap(),
                    1 => db.sunionstore(KEYS[dest], &KEYS).unwrap(),
                    _ => db.sdiffstore(KEYS[dest], &KEYS).unwrap(),
                };
                assert_eq!(n, result.len() as u64);
                model[dest] = result;
            }
            SetOp::Del(k) => {
                assert_eq!(db.del(KEYS[k]).unwrap(), !model[k].is_empty());
                model[k].clear();
            }
            SetOp::Maintain(m) => h.maintain(m),
        }
        let db = h.db();
        for k in 0..2 {
            assert_eq!(db.smembers(KEYS[k]).unwrap(), model[k].iter().cloned().collect::<Vec<_>>());
            assert_eq!(db.scard(KEYS[k]).unwrap(), model[k].len() as u64);
        }
        let collect = |s: std::collections::btree_set::Intersection<'_, Vec<u8>>| s.cloned().collect::<Vec<_>>();
        assert_eq!(db.sinter(&KEYS).unwrap(), collect(model[0].intersection(&model[1])));
        assert_eq!(db.sunion(&KEYS).unwrap(), model[0].union(&model[1]).cloned().collect::<Vec<_>>());
        assert_eq!(db.sdiff(&KEYS).unwrap(), model[0].difference(&model[1]).cloned().collect::<Vec<_>>());
        assert_eq!(db.sdiff(&[KEYS[1], KEYS[0]]).unwrap(), model[1].difference(&model[0]).cloned().collect::<Vec<_>>());
    }
    h.assert_no_garbage(model.iter().map(BTreeSet::len).sum());
}

// ---------------------------------------------------------------- hashes

#[derive(Debug, Clone)]
enum HashOp {
    HSet(usize, Vec<(Vec<u8>, Vec<u8>)>),
    HDel(usize, Vec<Vec<u8>>),
    HGet(usize, Vec<u8>),
    HIncrBy(usize, Vec<u8>, i64),
    Del(usize),
    Maintain(Maintenance),
}

fn hash_op() -> impl Strategy<Value = HashOp> {
    prop_oneof![
        5 => (key(), prop::collection::vec((bytes(), bytes()), 0..4)).prop_map(|(k, p)| HashOp::HSet(k, p)),
        3 => (key(), prop::collection::vec(bytes(), 0..4)).prop_map(|(k, f)| HashOp::HDel(k, f)),
        2 => (key(), bytes()).prop_map(|(k, f)| HashOp::HGet(k, f)),
        2 => (key(), bytes(), -5i64..5).prop_map(|(k, f, d)| HashOp::HIncrBy(k, f, d)),
        1 => key().prop_map(HashOp::Del),
        1 => maintenance().prop_map(HashOp::Maintain),
    ]
}

fn run_hash(ops: Vec<HashOp>) {
    let mut h = Harness::new();
    let mut model = [BTreeMap::<Vec<u8>, Vec<u8>>::new(), BTreeMap::new()];
    for op in ops {
        let db = h.db();
        match op {
            HashOp::HSet(k, pairs) => {
                let before = model[k].clone();
                model[k].extend(pairs.iter().cloned());
                let added = model[k].keys().filter(|f| !before.contains_key(*f)).count();
                assert_eq!(db.hset(KEYS[k], &pairs).unwrap(), added as u64);
            }
            HashOp::HDel(k, fields) => {
                let want = fields.iter().filter(|f| model[k].remove(*f).is_some()).count();
                assert_eq!(db.hdel(KEYS[k], &fields).unwrap(), want as u64);
            }
            HashOp::HGet(k, f) => {
                assert_eq!(db.hget(KEYS[k], &f).unwrap(), model[k].get(&f).cloned());
                assert_eq!(db.hexists(KEYS[k], &f).unwrap(), model[k].contains_key(&f));
            }
            HashOp::HIncrBy(k, f, d) => {
                let parse = |v: &Vec<u8>| std::str::from_utf8(v).ok().and_then(|s| s.parse::<i64>().ok());
                let r = db.hincrby(KEYS[k], &f, d);
                match model[k].get(&f) {
                    Some(v) if parse(v).is_none() => {
                        assert!(matches!(r, Err(kvd::Error::InvalidArgument(_))), "{r:?}")
                    }
                    current => {
                        let n = current.and_then(parse).unwrap_or(0) + d;
                        assert_eq!(r.unwrap(), n);
                        model[k].insert(f, n.to_string().into_bytes());
                    }
                }
            }
            HashOp::Del(k) => {
                assert_eq!(db.del(KEYS[k]).unwrap(), !model[k].is_empty());
                model[k].clear();
            }
            HashOp::Maintain(m) => h.maintain(m),
        }
        for k in 0..2 {
            let all: Vec<_> = model[k].iter().map(|(f, v)| (f.clone(), v.clone())).collect();
            assert_eq!(h.db().hgetall(KEYS[k]).unwrap(), all);
            assert_eq!(h.db().hlen(KEYS[k]).unwrap(), model[k].len() as u64);
        }
    }
    h.assert_no_garbage(model.iter().map(BTreeMap::len).sum());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: scale(48, 1000), ..ProptestConfig::default() })]

    #[test]
    fn list_matches_vecdeque(ops in prop::collection::vec(list_op(), 1..60)) {
        run_list(ops);
    }

    #[test]
    fn set_matches_btreeset(ops in prop::collection::vec(set_op(), 1..60)) {
        run_set(ops);
    }

    #[test]
    fn hash_matches_btreemap(ops in prop::collection::vec(hash_op(), 1..60)) {
        run_hash(ops);
    }
}
