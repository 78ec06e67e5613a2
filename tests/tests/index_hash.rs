//! Hashes as documents: a hash at `namespace/id` is queried by field and indexed like a JSON
//! document, and every typed write to it (`hset`, `hdel`, `hincrby`, `del`, expiry changes)
//! keeps the indexes in step in the same atomic batch.

use std::sync::Arc;
use std::time::Duration;

use kvd::index::{FieldType, IndexSpec};
use kvd::query::QueryOptions;
use kvd::{Db, Error, Options};
use kvd_base::clock::MockClock;
use serde_json::{json, Value};

fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    (dir, db)
}

/// `(key, document)` of every row, by the planner's plan and by a forced full scan, which
/// must agree (in key order when the query has no ORDER BY, whose order is the plan's).
fn rows(db: &Db, sql: &str) -> Vec<(String, Value)> {
    let get = |full: bool| -> Vec<(String, Value)> {
        let opts = QueryOptions { force_full_scan: full, ..Default::default() };
        let mut rows: Vec<_> = db
            .query_with(sql, &opts)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .map(|r| r.unwrap())
            .map(|r| (r.key.unwrap_or_default(), r.value))
            .collect();
        if !sql.contains("ORDER BY") {
            rows.sort_by(|a, b| a.0.cmp(&b.0));
        }
        rows
    };
    let (planned, full) = (get(false), get(true));
    assert_eq!(planned.len(), full.len(), "{sql}: the index plan and the full scan differ");
    assert!(planned == full, "{sql}: the index plan and the full scan differ");
    planned
}

fn keys(rows: &[(String, Value)]) -> Vec<&str> {
    rows.iter().map(|(k, _)| k.as_str()).collect()
}

fn consistent(db: &Db) {
    let report = db.verify_indexes().unwrap();
    assert!(report.is_consistent(), "{:?}", report.problems);
}

#[test]
fn hash_fields_read_as_typed_json() {
    let (_d, db) = open();
    db.hset(b"u/1", &[("name", "ada"), ("age", "36"), ("score", "1.5"), ("zip", "02134"), ("n", "-7")]).unwrap();
    let doc = db.get_doc("u/1").unwrap().unwrap();
    assert_eq!(doc, json!({"name": "ada", "age": 36, "score": 1.5, "zip": "02134", "n": -7}));
    // Numbers written other than JSON writes them stay strings, so they read back unchanged.
    db.hset(b"u/2", &[("a", "1e3"), ("b", "+1"), ("c", "1.50"), ("d", "true")]).unwrap();
    assert_eq!(db.get_doc("u/2").unwrap().unwrap(), json!({"a": "1e3", "b": "+1", "c": "1.50", "d": "true"}));
    // A field named by bytes that are not UTF-8 is no member; a value that is not reads lossily.
    db.hset(b"u/3", &[(&b"\xff"[..], &b"x"[..]), (&b"\xef\xbf\xbd"[..], &b"y\xff"[..])]).unwrap();
    assert_eq!(db.get_doc("u/3").unwrap().unwrap(), json!({"\u{fffd}": "y\u{fffd}"}));
    db.create_index(IndexSpec::new("u", "by_replacement").field("\u{fffd}", FieldType::Any)).unwrap();
    db.hset(b"u/3", &[(&b"\xff"[..], &b"changed"[..])]).unwrap();
    db.hdel(b"u/3", &[&b"\xef\xbf\xbd"[..]]).unwrap();
    assert_eq!(db.get_doc("u/3").unwrap().unwrap(), json!({}));
    consistent(&db);
}

#[test]
fn a_namespace_of_hashes_alone_is_queryable_without_indexes() {
    let (_d, db) = open();
    db.hset(b"cfg/a", &[("level", "3")]).unwrap();
    db.hset(b"cfg/b", &[("level", "7")]).unwrap();
    assert_eq!(keys(&rows(&db, "SELECT * FROM cfg WHERE level > 5")), ["cfg/b"]);
    let e = db.query("SELECT * FROM nothing").err().unwrap();
    assert!(matches!(&e, Error::NotFound(m) if m.contains("unknown namespace")), "{e}");
}

#[test]
fn hashes_are_indexed_and_queried_with_json_documents() {
    let (_d, db) = open();
    db.create_index(IndexSpec::new("u", "by_age").field("age", FieldType::Int)).unwrap();
    db.hset(b"u/1", &[("name", "ada"), ("age", "36")]).unwrap();
    db.put_doc("u/2", &json!({"name": "bob", "age": 41})).unwrap();
    db.hset(b"u/3", &[("name", "cy"), ("age", "29")]).unwrap();
    db.hset(b"other/9", &[("age", "30")]).unwrap();
    db.hset(b"nodoc", &[("age", "30")]).unwrap();
    let sql = "SELECT * FROM u WHERE age >= 30 ORDER BY age";
    assert!(db.explain(sql).unwrap().to_string().starts_with("index scan"), "{}", db.explain(sql).unwrap());
    let got = rows(&db, sql);
    assert_eq!(
        got,
        vec![("u/1".into(), json!({"name": "ada", "age": 36})), ("u/2".into(), json!({"name": "bob", "age": 41}))]
    );
    consistent(&db);

    // hincrby moves the hash within the index.
    assert_eq!(db.hincrby(b"u/3", b"age", 20).unwrap(), 49);
    assert_eq!(keys(&rows(&db, sql)), ["u/1", "u/2", "u/3"]);
    // hdel of the indexed field makes it null; of the last field, deletes the hash.
    assert_eq!(db.hdel(b"u/1", &["age"]).unwrap(), 1);
    assert_eq!(keys(&rows(&db, sql)), ["u/2", "u/3"]);
    assert_eq!(keys(&rows(&db, "SELECT * FROM u WHERE age IS NULL")), ["u/1"]);
    assert_eq!(db.hdel(b"u/1", &["name"]).unwrap(), 1);
    assert_eq!(keys(&rows(&db, "SELECT * FROM u")), ["u/2", "u/3"]);
    consistent(&db);
    // del removes a hash and a JSON document with their entries.
    assert!(db.del(b"u/3").unwrap());
    assert!(db.del(b"u/2").unwrap());
    assert!(rows(&db, "SELECT * FROM u").is_empty());
    consistent(&db);
    let count = db.query("SELECT COUNT(*) AS n FROM u WHERE age > 0").unwrap().next().unwrap().unwrap().value;
    assert_eq!(count, json!({"n": 0}));
}

#[test]
fn covering_and_compound_indexes_over_hashes() {
    let (_d, db) = open();
    db.create_index(
        IndexSpec::new("p", "by_cat_price").field("cat", FieldType::String).field("price", FieldType::Float).covering(),
    )
    .unwrap();
    for i in 0..40 {
        let cat = ["a", "b"][i % 2];
        db.hset(
            format!("p/{i:02}").as_bytes(),
            &[("cat", cat.to_string()), ("price", format!("{}", i * 3)), ("tag", format!("t{i}"))],
        )
        .unwrap();
    }
    // A field that is not indexed changes the covering copy.
    db.hset(b"p/04", &[("tag", "new")]).unwrap();
    let sql = "SELECT * FROM p WHERE cat = 'a' AND price BETWEEN 10 AND 20";
    let plan = db.explain(sql).unwrap();
    assert!(plan.range_decides, "{plan}");
    let got = rows(&db, sql);
    assert_eq!(keys(&got), ["p/04", "p/06"]);
    assert_eq!(got[0].1, json!({"cat": "a", "price": 12, "tag": "new"}));
    // JSON rows hand the covering copy out as stored: the same documents.
    let mut q = db.query(sql).unwrap();
    let json: Vec<Value> = q.json().map(|r| serde_json::from_str(&r.unwrap().json).unwrap()).collect();
    assert_eq!(json, got.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>());
    let agg = rows(&db, "SELECT cat, COUNT(*) AS n, MAX(price) AS top FROM p GROUP BY cat");
    assert_eq!(
        agg.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
        vec![json!({"cat": "a", "n": 20, "top": 114}), json!({"cat": "b", "n": 20, "top": 117})]
    );
    consistent(&db);
}

#[test]
fn unique_and_typed_indexes_refuse_hash_writes_and_write_nothing() {
    let (_d, db) = open();
    db.create_index(IndexSpec::new("u", "by_email").field("email", FieldType::String).unique()).unwrap();
    db.create_index(IndexSpec::new("u", "by_age").field("age", FieldType::Int)).unwrap();
    db.hset(b"u/1", &[("email", "ada@x"), ("age", "36")]).unwrap();
    let dup = db.hset(b"u/2", &[("email", "ada@x"), ("age", "1")]).unwrap_err();
    assert!(matches!(&dup, Error::UniqueViolation { existing, .. } if existing == "u/1"), "{dup}");
    assert_eq!(db.hlen(b"u/2").unwrap(), 0, "nothing of the refused write was applied");
    let put = db.put_doc("u/3", &json!({"email": "ada@x"})).unwrap_err();
    assert!(matches!(put, Error::UniqueViolation { .. }), "{put}");
    let bad = db.hset(b"u/1", &[("age", "old")]).unwrap_err();
    assert!(matches!(&bad, Error::InvalidArgument(m) if m.contains("type mismatch")), "{bad}");
    assert_eq!(db.hget(b"u/1", b"age").unwrap().as_deref(), Some(&b"36"[..]));
    // Freeing the value (changing the field) lets another take it.
    db.hset(b"u/1", &[("email", "ada@y")]).unwrap();
    db.hset(b"u/2", &[("email", "ada@x")]).unwrap();
    assert_eq!(keys(&rows(&db, "SELECT * FROM u WHERE email = 'ada@x'")), ["u/2"]);
    consistent(&db);
}

#[test]
fn documents_replace_hashes_and_back() {
    let (_d, db) = open();
    db.create_index(IndexSpec::new("u", "by_age").field("age", FieldType::Int)).unwrap();
    db.hset(b"u/1", &[("age", "36")]).unwrap();
    // put_doc replaces the hash (as SET replaces any value in Redis).
    db.put_doc("u/1", &json!({"age": 50})).unwrap();
    assert_eq!(db.get_doc("u/1").unwrap(), Some(json!({"age": 50})));
    assert_eq!(db.type_of(b"u/1").unwrap(), Some(kvd::ValueType::String));
    assert_eq!(keys(&rows(&db, "SELECT * FROM u WHERE age = 50")), ["u/1"]);
    assert!(rows(&db, "SELECT * FROM u WHERE age = 36").is_empty());
    consistent(&db);
    // A hash operation on a JSON document is a type error.
    assert!(matches!(db.hset(b"u/1", &[("age", "1")]), Err(Error::WrongType(_))));
    // delete_doc removes a hash too.
    db.hset(b"u/2", &[("age", "7")]).unwrap();
    assert!(db.delete_doc("u/2").unwrap());
    assert_eq!(db.hlen(b"u/2").unwrap(), 0);
    assert_eq!(keys(&rows(&db, "SELECT * FROM u")), ["u/1"]);
    // A list is not a document.
    db.rpush(b"u/3", &["x"]).unwrap();
    assert!(matches!(db.put_doc("u/3", &json!({})), Err(Error::WrongType(_))));
    consistent(&db);
}

#[test]
fn index_builds_backfill_hashes_and_json_documents() {
    let (_d, db) = open();
    for i in 0..600u32 {
        let key = format!("m/{i:04}");
        if i % 3 == 0 {
            db.put_doc(&key, &json!({"v": i % 10, "kind": "json"})).unwrap();
        } else {
            db.hset(key.as_bytes(), &[("v", (i % 10).to_string()), ("kind", "hash".to_string())]).unwrap();
        }
    }
    db.rpush(b"m/list", &["not a document"]).unwrap();
    let def = db.create_index(IndexSpec::new("m", "by_v").field("v", FieldType::Int)).unwrap();
    assert_eq!(db.index_status("m", &def.name).unwrap().docs_scanned, 600);
    let got = rows(&db, "SELECT * FROM m WHERE v = 4");
    assert_eq!(got.len(), 60);
    assert_eq!(got.iter().filter(|(_, d)| d["kind"] == "hash").count(), 40);
    consistent(&db);
}

#[test]
fn hash_ttl_takes_its_index_entries_along() {
    let (_d, db, clock) = open_with_clock();
    db.create_index(IndexSpec::new("s", "by_owner").field("owner", FieldType::String).unique()).unwrap();
    db.create_index(IndexSpec::new("s", "by_n").field("n", FieldType::Int).covering()).unwrap();
    db.hset(b"s/a", &[("owner", "ada"), ("n", "1")]).unwrap();
    db.hset(b"s/b", &[("owner", "bob"), ("n", "2")]).unwrap();
    assert!(db.expire_type(b"s/a", Duration::from_secs(10)).unwrap());
    // A write to the hash keeps its expiry for the entries too.
    db.hset(b"s/a", &[("n", "5")]).unwrap();
    clock.advance(5_000);
    assert_eq!(keys(&rows(&db, "SELECT * FROM s WHERE n > 0")), ["s/a", "s/b"]);
    consistent(&db);
    clock.advance(6_000);
    // The session and its entries are gone together: no dangling entry, no error.
    assert_eq!(keys(&rows(&db, "SELECT * FROM s WHERE n > 0")), ["s/b"]);
    assert_eq!(keys(&rows(&db, "SELECT * FROM s WHERE owner = 'ada'")), Vec::<&str>::new());
    consistent(&db);
    // Its unique value is free again.
    db.hset(b"s/c", &[("owner", "ada"), ("n", "3")]).unwrap();
    // persist keeps a hash and its entries.
    db.expire_type(b"s/b", Duration::from_secs(1)).unwrap();
    db.persist_type(b"s/b").unwrap();
    clock.advance(10_000);
    assert_eq!(keys(&rows(&db, "SELECT * FROM s WHERE n > 0")), ["s/b", "s/c"]);
    consistent(&db);
    db.flush().unwrap();
    db.compact_range(None, None).unwrap();
    consistent(&db);
}

#[test]
fn indexed_json_documents_cannot_expire_but_del_removes_their_entries() {
    let (_d, db) = open();
    db.create_index(IndexSpec::new("u", "by_age").field("age", FieldType::Int)).unwrap();
    db.put_doc("u/1", &json!({"age": 3})).unwrap();
    let e = db.expire_type(b"u/1", Duration::from_secs(5)).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("TTL")), "{e}");
    assert_eq!(db.ttl_type(b"u/1").unwrap(), None, "the refused expiry changed nothing");
    // Outside indexed namespaces documents expire as any value.
    db.put_doc("free/1", &json!({"age": 3})).unwrap();
    assert!(db.expire_type(b"free/1", Duration::from_secs(5)).unwrap());
    assert!(db.del(b"u/1").unwrap());
    assert!(rows(&db, "SELECT * FROM u WHERE age = 3").is_empty());
    consistent(&db);
}

#[test]
fn hash_documents_survive_reopen_with_their_indexes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), Options { write_buffer_size: 32 << 10, ..Options::default() }).unwrap();
        db.create_index(IndexSpec::new("h", "by_g").field("g", FieldType::Int)).unwrap();
        for i in 0..2000u32 {
            db.hset(format!("h/{i:05}").as_bytes(), &[("g", (i % 7).to_string()), ("pad", "x".repeat(40))]).unwrap();
        }
        for i in (0..2000u32).step_by(5) {
            db.hincrby(format!("h/{i:05}").as_bytes(), b"g", 100).unwrap();
        }
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let n = |sql: &str| rows(&db, sql).len();
    assert_eq!(n("SELECT * FROM h WHERE g >= 100"), 400);
    assert_eq!(n("SELECT * FROM h WHERE g = 3"), (0..2000).filter(|i| i % 5 != 0 && i % 7 == 3).count());
    consistent(&db);
}

fn open_with_clock() -> (tempfile::TempDir, Db, Arc<MockClock>) {
    let clock = Arc::new(MockClock::new(1_000_000));
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options { clock: clock.clone(), ..Options::default() }).unwrap();
    (dir, db, clock)
}

#[test]
fn replacing_an_expiring_hash_with_a_document_keeps_its_entries_for_good() {
    let (_d, db, clock) = open_with_clock();
    db.create_index(IndexSpec::new("s", "by_n").field("n", FieldType::Int)).unwrap();
    db.create_index(IndexSpec::new("s", "by_u").field("u", FieldType::String).unique()).unwrap();
    db.hset(b"s/a", &[("n", "1"), ("u", "ada")]).unwrap();
    db.expire_type(b"s/a", Duration::from_secs(10)).unwrap();
    // Same indexed values: the entries must still lose the hash's expiry.
    db.put_doc("s/a", &json!({"n": 1, "u": "ada"})).unwrap();
    clock.advance(60_000);
    assert_eq!(keys(&rows(&db, "SELECT * FROM s WHERE n = 1")), ["s/a"]);
    assert_eq!(keys(&rows(&db, "SELECT * FROM s WHERE u = 'ada'")), ["s/a"]);
    assert!(matches!(db.hset(b"s/b", &[("u", "ada")]), Err(Error::UniqueViolation { .. })));
    consistent(&db);
}

#[test]
fn hashes_at_keys_that_are_no_document_keys_are_not_documents() {
    let (_d, db) = open();
    db.hset(b"u/\xff\xfe", &[("age", "1")]).unwrap();
    db.hset(b"u/", &[("age", "2")]).unwrap();
    db.hset(b"u/ok", &[("age", "3")]).unwrap();
    db.create_index(IndexSpec::new("u", "by_age").field("age", FieldType::Int)).unwrap();
    assert_eq!(keys(&rows(&db, "SELECT * FROM u")), ["u/ok"]);
    db.hset(b"u/", &[("age", "5")]).unwrap();
    assert_eq!(keys(&rows(&db, "SELECT * FROM u WHERE age > 0")), ["u/ok"]);
    consistent(&db);
}

#[test]
fn an_index_scan_goes_on_past_a_batch_of_documents_that_expired_under_it() {
    let (_d, db, clock) = open_with_clock();
    db.create_index(IndexSpec::new("s", "by_n").field("n", FieldType::Int)).unwrap();
    for i in 0..100 {
        let key = format!("s/{i:03}");
        db.hset(key.as_bytes(), &[("n", i.to_string())]).unwrap();
        db.expire_type(key.as_bytes(), Duration::from_secs(5)).unwrap();
    }
    db.hset(b"s/live", &[("n", "1000")]).unwrap();
    let sql = "SELECT * FROM s WHERE n >= 0";
    assert!(db.explain(sql).unwrap().to_string().starts_with("index scan"));
    // The entry scan starts before the clock moves; the hashes are read after it.
    let started = db.query(sql).unwrap();
    clock.advance(10_000);
    let got: Vec<String> = started.map(|r| r.unwrap().key.unwrap()).collect();
    assert_eq!(got, ["s/live"]);
}

#[test]
fn documents_given_a_ttl_before_their_index_expire_with_their_entries() {
    let (_d, db, clock) = open_with_clock();
    db.put_doc("j/a", &json!({"n": 1})).unwrap();
    db.put_doc("j/b", &json!({"n": 1})).unwrap();
    db.put_doc("j/c", &json!({"n": 2})).unwrap();
    // No index yet, so the namespace's documents may expire.
    db.expire_type(b"j/a", Duration::from_secs(5)).unwrap();
    db.expire_type(b"j/b", Duration::from_secs(5)).unwrap();
    db.create_index(IndexSpec::new("j", "by_n").field("n", FieldType::Int)).unwrap();
    consistent(&db);
    // Rewritten through the document API, b loses its TTL, and its entry with it.
    db.put_doc("j/b", &json!({"n": 1})).unwrap();
    clock.advance(10_000);
    assert_eq!(keys(&rows(&db, "SELECT * FROM j WHERE n = 1")), ["j/b"]);
    assert_eq!(keys(&rows(&db, "SELECT * FROM j WHERE n >= 1")), ["j/b", "j/c"]);
    consistent(&db);
}

#[test]
fn a_full_scan_skips_any_number_of_hashes_that_expired_under_it() {
    let (_d, db, clock) = open_with_clock();
    for i in 0..20_000u32 {
        let key = format!("e/{i:05}");
        db.hset(key.as_bytes(), &[("n", "1")]).unwrap();
        db.expire_type(key.as_bytes(), Duration::from_secs(5)).unwrap();
    }
    db.hset(b"e/zz", &[("n", "2")]).unwrap();
    let opts = QueryOptions { force_full_scan: true, ..Default::default() };
    // The metadata scan starts before the clock moves; each hash is read after it.
    let started = db.query_with("SELECT * FROM e", &opts).unwrap();
    clock.advance(10_000);
    let got: Vec<String> = started.map(|r| r.unwrap().key.unwrap()).collect();
    assert_eq!(got, ["e/zz"]);
}
