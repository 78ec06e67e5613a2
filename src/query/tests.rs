//! Tests of the executor: batched document reads through an index, covering entries, JSON
//! rows and snapshots.

use serde_json::{json, Value};

use super::{QueryOptions, Row};
use crate::index::{FieldType, IndexSpec};
use crate::{Db, Options};

fn rows(db: &Db, sql: &str, full: bool) -> Vec<Row> {
    let opts = QueryOptions { force_full_scan: full, ..Default::default() };
    db.query_with(sql, &opts).unwrap().map(|r| r.unwrap()).collect()
}

/// Documents whose `v` order differs from their key order, so an index range hands the
/// documents out in an order the batched read must restore after reading them sorted.
fn db_with_docs(dir: &std::path::Path, n: u64) -> Db {
    let db = Db::open(dir, Options::default()).unwrap();
    for i in 0..n {
        db.put_doc(&format!("d/{i:05}"), &json!({"v": (i * 7919) % 1000, "i": i})).unwrap();
    }
    db.create_index(IndexSpec::new("d", "by_v").field("v", FieldType::Int)).unwrap();
    db
}

#[test]
fn batched_index_reads_keep_index_order_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_docs(dir.path(), 3000);
    db.flush().unwrap();
    // Some documents newer than the flushed ones, so reads span the memtable and a table.
    for i in (0..3000).step_by(10) {
        db.put_doc(&format!("d/{i:05}"), &json!({"v": (i * 7919) % 1000, "i": i, "new": true})).unwrap();
    }
    for sql in [
        "SELECT * FROM d WHERE v >= 100 AND v < 900",
        "SELECT * FROM d WHERE v >= 100 AND v < 900 ORDER BY v DESC",
        "SELECT i FROM d WHERE v = 5",
        "SELECT * FROM d WHERE v > 10 LIMIT 20 OFFSET 3",
    ] {
        assert!(db.explain(sql).unwrap().to_string().contains("index scan"), "{sql}");
        let indexed = rows(&db, sql, false);
        let mut full = rows(&db, sql, true);
        // The full scan comes in key order; the index in (v, key) order, either direction.
        let v = |r: &Row| r.value.get("v").cloned().unwrap_or(Value::Null).as_u64().unwrap_or(0);
        if !sql.contains("LIMIT") && !sql.contains("ORDER") {
            full.sort_by_key(|r| (v(r), r.key.clone()));
        }
        if sql.contains("LIMIT") {
            assert_eq!(indexed.len(), 20);
            continue;
        }
        assert_eq!(indexed, full, "{sql}");
    }
    // Paging through the batches gives the same rows as one pass.
    let sql = "SELECT * FROM d WHERE v >= 100 AND v < 900";
    let all = rows(&db, sql, false);
    let mut paged = Vec::new();
    let mut token = None;
    loop {
        let opts = QueryOptions { page_size: Some(700), continuation: token.take(), ..Default::default() };
        let mut page = db.query_with(sql, &opts).unwrap();
        paged.extend(page.by_ref().map(|r| r.unwrap()));
        match page.continuation() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(paged, all);
}

#[test]
fn an_entry_naming_a_missing_document_is_corruption_after_the_rows_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_docs(dir.path(), 100);
    // Remove a document behind the index's back: its entry now names nothing.
    let victim = (0..100u64).find(|i| (i * 7919) % 1000 == 5 * 7919 % 1000).unwrap();
    let before: Vec<Row> = rows(&db, "SELECT * FROM d WHERE v >= 0", false);
    let pos = before.iter().position(|r| r.key.as_deref() == Some(&format!("d/{victim:05}"))).unwrap();
    db.delete(format!("d/{victim:05}").as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut err = None;
    for r in db.query("SELECT * FROM d WHERE v >= 0").unwrap() {
        match r {
            Ok(row) => got.push(row),
            Err(e) => err = Some(e),
        }
    }
    assert_eq!(got, before[..pos], "the rows before the broken entry come out first");
    let err = err.expect("an error");
    assert!(err.is_corruption() && err.to_string().contains("missing document"), "{err}");
}

/// A covering index hands out the documents stored in its entries: they must follow every
/// change to the document, not only changes to the indexed field, and vanish with it.
#[test]
fn covering_index_rows_follow_document_changes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for i in 0..50u64 {
        db.put_doc(&format!("c/{i:03}"), &json!({"k": i % 5, "n": i})).unwrap();
    }
    let spec = IndexSpec::new("c", "by_k").field("k", FieldType::Int).covering();
    assert!(db.create_index(spec.clone().unique()).is_err(), "unique and covering are exclusive");
    db.create_index(spec).unwrap();
    let sql = "SELECT * FROM c WHERE k = 3";
    let plan = db.explain(sql).unwrap().to_string();
    assert!(plan.contains("covering"), "{plan}");
    // Change a non-indexed field, move one document out of the range and one in, delete one.
    db.put_doc("c/003", &json!({"k": 3, "n": 3, "edited": true})).unwrap();
    db.put_doc("c/008", &json!({"k": 4, "n": 8})).unwrap();
    db.put_doc("c/010", &json!({"k": 3, "n": 10})).unwrap();
    db.delete_doc("c/013").unwrap();
    let covered = rows(&db, sql, false);
    assert_eq!(covered, rows(&db, sql, true), "covering plan and full scan agree");
    let edited: Vec<&Value> = covered.iter().filter(|r| r.key.as_deref() == Some("c/003")).map(|r| &r.value).collect();
    assert_eq!(edited, [&json!({"k": 3, "n": 3, "edited": true})]);
    assert!(db.verify_indexes().unwrap().is_consistent());
}

fn json_rows(db: &Db, sql: &str, opts: &QueryOptions) -> (Vec<Row>, Option<String>) {
    let mut rows = db.query_with(sql, opts).unwrap();
    let out = rows
        .json()
        .map(|r| {
            let r = r.unwrap();
            Row { key: r.key, value: serde_json::from_str(&r.json).unwrap() }
        })
        .collect();
    (out, rows.continuation().map(str::to_string))
}

/// Through a covering index whose range decides the WHERE clause, `Rows::json` hands out
/// the stored documents unparsed; they must be the rows `Rows` gives, with OFFSET, LIMIT
/// and paging applied the same way, and a residual filter must still be applied.
#[test]
fn json_rows_through_a_covering_index_equal_parsed_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for i in 0..400u64 {
        db.put_doc(&format!("c/{i:03}"), &json!({"k": i % 7, "n": i, "s": format!("é{i}")})).unwrap();
    }
    db.create_index(IndexSpec::new("c", "by_k").field("k", FieldType::Int).covering()).unwrap();
    db.flush().unwrap();
    db.put_doc("c/007", &json!({"k": 0, "n": 7, "moved": true})).unwrap();
    let decided = db.explain("SELECT * FROM c WHERE k >= 2 AND k < 5").unwrap();
    assert!(decided.range_decides, "{decided}");
    let residual = db.explain("SELECT * FROM c WHERE k = 3 AND n > 100").unwrap();
    assert!(!residual.range_decides, "{residual}");
    for sql in [
        "SELECT * FROM c WHERE k = 0",
        "SELECT * FROM c WHERE k >= 2 AND k < 5",
        "SELECT * FROM c WHERE k = 3 AND n > 100",
        "SELECT * FROM c WHERE k = 1 LIMIT 9 OFFSET 4",
        "SELECT n FROM c WHERE k = 2",
        "SELECT * FROM c WHERE k = 4 ORDER BY n DESC",
        "SELECT k, COUNT(*) AS c FROM c WHERE k < 3 GROUP BY k",
    ] {
        let (json, _) = json_rows(&db, sql, &QueryOptions::default());
        assert_eq!(json, rows(&db, sql, false), "{sql}");
        assert!(!json.is_empty(), "{sql}");
    }
    let sql = "SELECT * FROM c WHERE k >= 2 AND k < 5";
    let mut paged = Vec::new();
    let mut token = None;
    loop {
        let opts = QueryOptions { page_size: Some(23), continuation: token.take(), ..Default::default() };
        let (page, next) = json_rows(&db, sql, &opts);
        assert!(page.len() <= 23);
        paged.extend(page);
        match next {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(paged, rows(&db, sql, false));
}

#[test]
fn rows_report_the_seqno_of_their_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_docs(dir.path(), 10);
    let at = db.latest_seqno();
    let rows = db.query("SELECT * FROM d WHERE v >= 0").unwrap();
    db.put_doc("d/99999", &json!({"v": 1})).unwrap();
    assert_eq!(rows.seqno(), at);
    assert_eq!(rows.count(), 10, "a write after the query started is not seen");
    assert!(db.query("SELECT * FROM d").unwrap().seqno() > at);
}
