//! Unique indexes, declared types, transactions and the catalog: a refused write writes
//! nothing (not the document, not another index's entry), concurrent writers of one unique
//! value leave exactly one winner, and query errors name the problem and its position.

use std::sync::{Arc, Barrier};

use kvd::index::{FieldType, IndexSpec, IndexState};
use kvd::{Db, Error, Options};
use serde_json::json;

fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options { write_buffer_size: 32 << 10, ..Options::default() }).unwrap();
    (dir, db)
}

fn entries(db: &Db) -> usize {
    db.prefix_scan(b"\x00x").count()
}

#[test]
fn unique_violations_write_nothing() {
    let (_dir, db) = open();
    db.create_index(IndexSpec::new("u", "by_email").field("email", FieldType::String).unique()).unwrap();
    db.create_index(IndexSpec::new("u", "by_age").field("age", FieldType::Int)).unwrap();
    db.put_doc("u/1", &json!({"email": "a@x", "age": 30})).unwrap();
    let before = (db.latest_seqno(), entries(&db));
    match db.put_doc("u/2", &json!({"email": "a@x", "age": 40})) {
        Err(Error::UniqueViolation { index, value, existing }) => {
            assert_eq!((index.as_str(), value.as_str(), existing.as_str()), ("u.by_email", "\"a@x\"", "u/1"));
        }
        other => panic!("expected a unique violation, got {other:?}"),
    }
    assert_eq!((db.latest_seqno(), entries(&db)), before, "a refused write wrote something");
    assert_eq!(db.get_doc("u/2").unwrap(), None);

    // The holder may rewrite its own value; nulls and missing fields never collide.
    db.put_doc("u/1", &json!({"email": "a@x", "age": 31})).unwrap();
    db.put_doc("u/3", &json!({"age": 1})).unwrap();
    db.put_doc("u/4", &json!({"email": null})).unwrap();
    // Moving the value frees the old one.
    db.put_doc("u/1", &json!({"email": "b@x"})).unwrap();
    db.put_doc("u/2", &json!({"email": "a@x"})).unwrap();
    assert!(matches!(db.put_doc("u/5", &json!({"email": "b@x"})), Err(Error::UniqueViolation { .. })));
    assert!(db.delete_doc("u/1").unwrap());
    db.put_doc("u/5", &json!({"email": "b@x"})).unwrap();
    assert!(db.verify_indexes().unwrap().is_consistent());
}

#[test]
fn type_mismatches_write_nothing() {
    let (_dir, db) = open();
    db.create_index(IndexSpec::new("u", "by_age").field("age", FieldType::Int)).unwrap();
    let before = db.latest_seqno();
    let e = db.put_doc("u/1", &json!({"age": "old"})).unwrap_err().to_string();
    assert!(e.contains("type mismatch") && e.contains("u.by_age") && e.contains("int"), "{e}");
    assert!(db.put_doc("u/1", &json!({"age": 1.5})).is_err());
    assert!(db.put_doc("u/1", &json!([1])).is_err(), "documents are objects");
    assert!(db.put_doc("nonamespace", &json!({})).is_err());
    assert_eq!(db.latest_seqno(), before);
    db.put_doc("u/1", &json!({"age": null})).unwrap();
    // A build over documents of the wrong type fails and leaves no index behind.
    db.put_doc("u/2", &json!({"name": 7})).unwrap();
    let e = db.create_index(IndexSpec::new("u", "by_name").field("name", FieldType::String)).unwrap_err();
    assert!(e.to_string().contains("type mismatch"), "{e}");
    assert_eq!(db.list_indexes(Some("u")).unwrap().len(), 1);
    assert!(db.verify_indexes().unwrap().is_consistent());
}

#[test]
fn transactions_maintain_indexes_atomically() {
    let (_dir, db) = open();
    db.create_index(IndexSpec::new("u", "by_email").field("email", FieldType::String).unique()).unwrap();
    let mut txn = db.transaction();
    txn.put_doc("u/1", &json!({"email": "a"})).unwrap();
    txn.put_doc("u/1", &json!({"email": "b"})).unwrap();
    assert!(matches!(txn.put_doc("u/2", &json!({"email": "b"})), Err(Error::UniqueViolation { .. })));
    txn.put_doc("u/2", &json!({"email": "a"})).unwrap();
    assert_eq!(db.get_doc("u/1").unwrap(), None, "nothing visible before commit");
    txn.commit().unwrap();
    let rows: Vec<_> = db.query("SELECT _id, email FROM u ORDER BY email").unwrap().map(|r| r.unwrap().value).collect();
    assert_eq!(rows, vec![json!({"_id": "2", "email": "a"}), json!({"_id": "1", "email": "b"})]);

    // A transaction that lost the unique slot to a concurrent writer conflicts.
    let mut txn = db.transaction();
    txn.put_doc("u/3", &json!({"email": "c"})).unwrap();
    db.put_doc("u/4", &json!({"email": "c"})).unwrap();
    assert!(matches!(txn.commit(), Err(Error::Conflict(_))));
    // Rolled back: nothing of it remains.
    let mut txn = db.transaction();
    txn.delete_doc("u/1").unwrap();
    drop(txn);
    assert!(db.get_doc("u/1").unwrap().is_some());
    assert!(db.verify_indexes().unwrap().is_consistent());
}

#[test]
fn concurrent_writers_of_one_unique_value_leave_one_winner() {
    let (_dir, db) = open();
    let db = Arc::new(db);
    db.create_index(IndexSpec::new("u", "by_email").field("email", FieldType::String).unique()).unwrap();
    for round in 0..20 {
        let barrier = Arc::new(Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let (db, barrier) = (db.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    db.put_doc(&format!("u/{round}-{t}"), &json!({ "email": format!("e{round}") }))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "round {round}: {results:?}");
        assert!(results.iter().all(|r| matches!(r, Ok(()) | Err(Error::UniqueViolation { .. }))), "{results:?}");
    }
    let n = db.query("SELECT COUNT(*) AS n FROM u").unwrap().next().unwrap().unwrap().value["n"].clone();
    assert_eq!(n, json!(20));
    assert!(db.verify_indexes().unwrap().is_consistent());
}

#[test]
fn catalog_lists_drops_and_reports() {
    let (_dir, db) = open();
    for i in 0..50 {
        db.put_doc(&format!("p/{i:03}"), &json!({"x": i % 5, "y": i})).unwrap();
    }
    let def =
        db.create_index(IndexSpec::new("p", "by_xy").field("x", FieldType::Int).field("y", FieldType::Int)).unwrap();
    assert_eq!(def.state, IndexState::Ready);
    let status = db.index_status("p", "by_xy").unwrap();
    assert_eq!(status.docs_scanned, 50);
    let dup = db.create_index(IndexSpec::new("p", "by_xy").field("x", FieldType::Any));
    assert!(matches!(&dup, Err(Error::AlreadyExists(m)) if m.contains("p.by_xy")), "duplicate name: {dup:?}");
    let bad = db.create_index(IndexSpec::new("p", "bad name").field("x", FieldType::Any));
    assert!(matches!(bad, Err(Error::InvalidArgument(_))), "{bad:?}");
    assert!(matches!(db.create_index(IndexSpec::new("p", "none")), Err(Error::InvalidArgument(_))), "no fields");
    assert_eq!(db.list_indexes(None).unwrap().len(), 1);
    let plan = db.explain("SELECT * FROM p WHERE x = 2 AND y > 10 ORDER BY y DESC").unwrap().to_string();
    assert!(plan.starts_with("index scan of p.by_xy (x, y) range: x = 2 AND y > 10 (descending)"), "{plan}");
    assert!(plan.contains("order from the scan"), "{plan}");
    db.drop_index("p", "by_xy").unwrap();
    assert_eq!(entries(&db), 0, "drop removes every entry");
    assert!(matches!(db.drop_index("p", "by_xy"), Err(Error::NotFound(_))));
    assert!(db.explain("SELECT * FROM p WHERE x = 2").unwrap().to_string().starts_with("full scan"));
    // A new index of the same name gets a new id and sees only current documents.
    db.create_index(IndexSpec::new("p", "by_xy").field("x", FieldType::Int)).unwrap();
    assert_eq!(entries(&db), 50);
    assert!(db.verify_indexes().unwrap().is_consistent());
}

#[test]
fn query_errors_name_the_problem_and_position() {
    let (_dir, db) = open();
    db.create_index(IndexSpec::new("u", "by_age").field("age", FieldType::Int)).unwrap();
    let err = |sql: &str| db.query(sql).err().unwrap_or_else(|| panic!("{sql} should fail")).to_string();
    let e = err("SELECT * FROM nope");
    assert!(e.contains("unknown namespace \"nope\" at line 1, column 15"), "{e}");
    let e = err("SELECT * FROM u WHERE age = 'x'");
    assert!(e.contains("type mismatch at line 1, column 23: field age is int (index u.by_age)"), "{e}");
    let e = err("SELECT * FROM u WHERE age LIKE 'x%'");
    assert!(e.contains("type mismatch"), "{e}");
    let e = err("SELECT * FROM u WHERE age >");
    assert!(e.contains("syntax error"), "{e}");
    let e = err("SELECT name FROM u GROUP BY age");
    assert!(e.contains("must appear in GROUP BY"), "{e}");
    let e = err("SELECT * FROM u\nWHERE age = other");
    assert!(e.contains("line 2, column 7"), "{e}");
    let e = err("SELECT * FROM u ORDER BY age LIMIT 'x'");
    assert!(e.contains("non-negative integer"), "{e}");
    let e = err("UPDATE u SET age = 1");
    assert!(e.contains("statements other than SELECT"), "{e}");
}
