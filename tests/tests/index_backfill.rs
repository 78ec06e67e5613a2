//! Online index builds under concurrent writers: while `create_index` backfills, threads keep
//! inserting, rewriting and deleting documents (half of them JSON, half hashes); the finished index must be exactly what a
//! fresh build over the final documents gives, and `verify_indexes` must find nothing wrong.
//! A unique build over duplicate data fails and leaves nothing behind.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use kvd::index::{FieldType, IndexSpec, IndexState};
use kvd::{prefix_successor, Db, Error, Options};
use kvd_tests::env::{scale, seed};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const DOCS: u64 = 3000;

fn doc(rng: &mut StdRng, i: u64) -> serde_json::Value {
    json!({"k": rng.random_range(0..50), "s": format!("s{}", rng.random_range(0..20)), "u": format!("u{i}"), "i": i})
}

/// Writes document `i`: odd ones as hashes (every field with `hset`), even ones as JSON.
fn write_doc(db: &Db, i: u64, doc: &serde_json::Value) -> kvd::Result<()> {
    let key = format!("d/{i:05}");
    if i.is_multiple_of(2) {
        return db.put_doc(&key, doc);
    }
    let text = |v: &serde_json::Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    let pairs: Vec<(String, String)> = doc.as_object().unwrap().iter().map(|(f, v)| (f.clone(), text(v))).collect();
    db.hset(key.as_bytes(), &pairs).map(|_| ())
}

/// Deletes document `i` in whichever form it is stored.
fn delete_doc(db: &Db, i: u64) -> kvd::Result<()> {
    let key = format!("d/{i:05}");
    if i.is_multiple_of(2) {
        db.delete_doc(&key).map(|_| ())
    } else {
        db.del(key.as_bytes()).map(|_| ())
    }
}

/// The entries of index `id` with the id prefix cut off (so two indexes compare).
fn entries_of(db: &Db, id: u64) -> BTreeSet<(Vec<u8>, Vec<u8>)> {
    let mut prefix = b"\x00x".to_vec();
    prefix.extend_from_slice(&id.to_be_bytes());
    let end = prefix_successor(&prefix).unwrap();
    db.scan(Some(&prefix), Some(&end)).map(|r| r.unwrap()).map(|(k, v)| (k[prefix.len()..].to_vec(), v)).collect()
}

fn build_under_writers(spec: IndexSpec, writers: usize) {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), Options { write_buffer_size: 256 << 10, ..Options::default() }).unwrap());
    let mut rng = StdRng::seed_from_u64(seed("index_backfill"));
    for chunk in 0..DOCS / 500 {
        db.run_transaction(|txn| {
            for i in (chunk * 500..(chunk + 1) * 500).step_by(2) {
                txn.put_doc(&format!("d/{i:05}"), &doc(&mut StdRng::seed_from_u64(i), i))?;
            }
            Ok(())
        })
        .unwrap();
    }
    for i in (1..DOCS).step_by(2) {
        write_doc(&db, i, &doc(&mut StdRng::seed_from_u64(i), i)).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..writers)
        .map(|t| {
            let (db, stop, writes) = (db.clone(), stop.clone(), writes.clone());
            let mut rng = StdRng::seed_from_u64(rng.random());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) || writes.load(Ordering::Relaxed) < 300 {
                    // Keys across the whole namespace, so writes land before and after the cursor.
                    let i = rng.random_range(0..DOCS + 500);
                    let r =
                        if rng.random_bool(0.2) { delete_doc(&db, i) } else { write_doc(&db, i, &doc(&mut rng, i)) };
                    match r {
                        Ok(()) => {}
                        Err(Error::UniqueViolation { .. }) => {}
                        Err(e) => panic!("writer {t}: {e}"),
                    }
                    writes.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    while writes.load(Ordering::Relaxed) < 50 {
        std::thread::yield_now();
    }
    let at_start = writes.load(Ordering::Relaxed);
    let def = db.create_index(spec.clone()).unwrap();
    let during = writes.load(Ordering::Relaxed) - at_start;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(def.state, IndexState::Ready);
    assert!(during > 0, "writers ran during the build");
    let mut fresh = spec;
    fresh.name += "_fresh";
    let fresh = db.create_index(fresh).unwrap();
    let (built, rebuilt) = (entries_of(&db, def.id), entries_of(&db, fresh.id));
    assert_eq!(built.len(), rebuilt.len(), "{during} writes during the build");
    assert!(built == rebuilt, "the online build differs from a fresh one ({during} writes during the build)");
    let report = db.verify_indexes().unwrap();
    assert!(report.is_consistent(), "{:?}", report.problems);
    let scanned = db.index_status("d", &def.name).unwrap().docs_scanned;
    assert!(scanned >= DOCS - 1000, "the build scanned {scanned} documents");
}

#[test]
fn online_build_equals_a_fresh_build() {
    for _ in 0..scale(1, 5) {
        build_under_writers(IndexSpec::new("d", "by_k_s").field("k", FieldType::Int).field("s", FieldType::String), 3);
    }
}

#[test]
fn online_unique_build_equals_a_fresh_build() {
    for _ in 0..scale(1, 5) {
        build_under_writers(IndexSpec::new("d", "by_u").field("u", FieldType::String).unique(), 2);
    }
}

#[test]
fn unique_build_over_duplicates_fails_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for i in 0..1000 {
        db.put_doc(&format!("d/{i:04}"), &json!({"v": if i == 777 { 3 } else { i }})).unwrap();
    }
    let e = db.create_index(IndexSpec::new("d", "by_v").field("v", FieldType::Int).unique()).unwrap_err();
    match e {
        Error::UniqueViolation { index, existing, .. } => {
            assert_eq!((index.as_str(), existing.as_str()), ("d.by_v", "d/0003"))
        }
        other => panic!("expected a unique violation, got {other}"),
    }
    assert!(db.list_indexes(Some("d")).unwrap().is_empty());
    assert_eq!(db.prefix_scan(b"\x00x").count(), 0, "the failed build's entries are gone");
    assert!(db.verify_indexes().unwrap().is_consistent());
}
