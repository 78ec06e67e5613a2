//! Secondary indexes and queries, measured end to end (not criterion: one run loads a million
//! documents, which does not fit criterion's repeat-everything model).
//!
//! 1. Selectivity: `KVD_QUERY_DOCS` documents (default 1,000,000) with a field `cat` uniform
//!    over 100 values; `SELECT * FROM d WHERE cat = 42` (1% of the rows) with the index and
//!    with a forced full scan, median of several runs, plus the online build time.
//!    The database is compacted first; a breakdown shows where the indexed query's time goes
//!    (entry scan, document reads one `get` each and as one `multi_get`, JSON parse). Then the
//!    same query through a covering index (`IndexSpec::covering`: the entries hold the
//!    documents) in place of the plain one, its rows taken as parsed values and as JSON
//!    text (`Rows::json`, what the server streams; the full scan is timed both ways).
//!    With `KVD_QUERY_PROFILE_SECS=s` the bench loops the covering query for `s` seconds
//!    and exits, for a profiler attached by pid.
//! 2. Write overhead: `KVD_QUERY_PUTS` single-document `put_doc` calls (default 100,000) into
//!    a namespace with 0, 1 and 3 indexes, and with 1 covering index.
//!
//! `cargo bench -p kvd-benches --bench query`; results go to stdout (and, with
//! `KVD_QUERY_JSON=1`, one JSON line).

use std::time::{Duration, Instant};

use kvd::index::{FieldType, IndexSpec};
use kvd::query::QueryOptions;
use kvd::{Db, Options};
use serde_json::json;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn doc(i: u64) -> serde_json::Value {
    // A multiplicative hash spreads categories and ages over the key space.
    let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    json!({
        "cat": (h >> 7) % 100,
        "age": (h >> 20) % 90,
        "city": format!("city{}", (h >> 33) % 500),
        "email": format!("user{i}@example.com"),
        "name": format!("user number {i}"),
        "score": ((h >> 40) % 10_000) as f64 / 100.0,
    })
}

fn open(dir: &std::path::Path) -> Db {
    Db::open(dir, Options::default()).expect("open")
}

fn load(db: &Db, n: u64) {
    const BATCH: u64 = 1000;
    for start in (0..n).step_by(BATCH as usize) {
        db.run_transaction(|txn| {
            for i in start..(start + BATCH).min(n) {
                txn.put_doc(&format!("d/{i:08}"), &doc(i))?;
            }
            Ok(())
        })
        .expect("load");
    }
}

/// How the timed query hands out its rows.
#[derive(Clone, Copy, PartialEq)]
enum Out {
    /// Parsed `Row` values (the embedding API's iterator).
    Values,
    /// JSON text (`Rows::json`, what the server streams); every row's text is touched.
    Json,
}

fn time_query(db: &Db, sql: &str, full: bool, runs: usize, out: Out) -> (Duration, usize) {
    let opts = QueryOptions { force_full_scan: full, ..Default::default() };
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..runs {
        let t = Instant::now();
        rows = 0;
        let mut q = db.query_with(sql, &opts).expect("query");
        if out == Out::Json {
            let mut bytes = 0;
            for r in q.json() {
                bytes += r.expect("row").json.len();
                rows += 1;
            }
            std::hint::black_box(bytes);
        } else {
            for r in q {
                std::hint::black_box(r.expect("row"));
                rows += 1;
            }
        }
        times.push(t.elapsed());
    }
    times.sort();
    (times[runs / 2], rows)
}

/// What the selectivity run measured.
struct Selectivity {
    load: Duration,
    build: Duration,
    indexed: Duration,
    full: Duration,
    covering: Duration,
    /// Rows as JSON text: the covering query and the full scan.
    covering_json: Duration,
    full_json: Duration,
    rows: usize,
}

fn selectivity(n: u64) -> Selectivity {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = open(dir.path());
    let t = Instant::now();
    load(&db, n);
    db.flush().expect("flush");
    let load_time = t.elapsed();
    let t = Instant::now();
    db.create_index(IndexSpec::new("d", "by_cat").field("cat", FieldType::Int)).expect("index");
    let build = t.elapsed();
    db.compact_range(None, None).expect("compact");
    let sql = "SELECT * FROM d WHERE cat = 42";
    breakdown(&db);
    println!("plan: {}", db.explain(sql).expect("explain").to_string().trim().replace('\n', " | "));
    let (indexed, rows) = time_query(&db, sql, false, 7, Out::Values);
    let (full, full_rows) = time_query(&db, sql, true, 3, Out::Values);
    let (full_json, _) = time_query(&db, sql, true, 3, Out::Json);
    assert_eq!(rows, full_rows);
    let count = "SELECT COUNT(*) FROM d WHERE cat = 42";
    let (count_indexed, _) = time_query(&db, count, false, 7, Out::Values);
    let (count_full, _) = time_query(&db, count, true, 3, Out::Values);
    println!(
        "{count}: index only {count_indexed:.2?}, full scan {count_full:.2?}, {:.0}x",
        count_full.as_secs_f64() / count_indexed.as_secs_f64()
    );
    db.drop_index("d", "by_cat").expect("drop");
    let spec = IndexSpec::new("d", "by_cat_covering").field("cat", FieldType::Int).covering();
    db.create_index(spec).expect("covering index");
    db.compact_range(None, None).expect("compact");
    profile_loop(&db, sql);
    println!("plan: {}", db.explain(sql).expect("explain").to_string().trim().replace('\n', " | "));
    let (covering, covered_rows) = time_query(&db, sql, false, 7, Out::Values);
    assert_eq!(covered_rows, rows);
    let (covering_json, json_rows) = time_query(&db, sql, false, 7, Out::Json);
    assert_eq!(json_rows, rows);
    Selectivity { load: load_time, build, indexed, full, covering, covering_json, full_json, rows }
}

/// With `KVD_QUERY_PROFILE_SECS=s`, runs the indexed query in a loop for `s` seconds and
/// exits, so a profiler attached then (`perf record -p`) sees only that path.
fn profile_loop(db: &Db, sql: &str) {
    let secs = env("KVD_QUERY_PROFILE_SECS", 0);
    if secs == 0 {
        return;
    }
    println!("profiling: pid {}", std::process::id());
    let before = db.stats();
    let t = Instant::now();
    let mut runs = 0u64;
    while t.elapsed() < Duration::from_secs(secs) {
        for r in db.query(sql).expect("query") {
            r.expect("row");
        }
        runs += 1;
    }
    let after = db.stats();
    println!(
        "profiled {runs} runs, {:.2?} each; per run {} block cache hits, {} misses; files per level {:?}",
        t.elapsed() / runs.max(1) as u32,
        (after.block_cache_hits - before.block_cache_hits) / runs.max(1),
        (after.block_cache_misses - before.block_cache_misses) / runs.max(1),
        after.levels.iter().map(|l| l.files).collect::<Vec<_>>(),
    );
    std::process::exit(0);
}

/// Where the indexed query's time goes: the entry scan, the document reads (one `get` each,
/// or one sorted `multi_get`), the parsing. Each part is the median of 5 rounds, the two
/// ways of reading alternating so that neither inherits a cache the other warmed.
fn breakdown(db: &Db) {
    let def = &db.list_indexes(Some("d")).expect("list")[0];
    let mut prefix = kvd::index::keys::entry_prefix(def.id);
    prefix.extend_from_slice(&kvd::index::encoding::encoded(Some(&json!(42))));
    let end = kvd::prefix_successor(&prefix).expect("successor");
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (mut scans, mut gets, mut multis, mut parses) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut n = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let keys: Vec<Vec<u8>> = db
            .scan(Some(&prefix), Some(&end))
            .map(|r| [b"d/", &r.expect("entry").0[prefix.len()..]].concat())
            .collect();
        scans.push(t.elapsed());
        let t = Instant::now();
        let docs: Vec<Vec<u8>> = keys.iter().map(|k| db.get(k).expect("get").expect("doc")).collect();
        gets.push(t.elapsed());
        let t = Instant::now();
        let batched = db.multi_get(&keys, &kvd::ReadOptions::default()).expect("multi_get");
        multis.push(t.elapsed());
        assert!(batched.iter().zip(&docs).all(|(b, d)| b.as_ref() == Some(d)));
        let t = Instant::now();
        n = docs.iter().filter(|d| serde_json::from_slice::<serde_json::Value>(d).expect("json").is_object()).count();
        parses.push(t.elapsed());
    }
    println!(
        "breakdown over {n} rows: entry scan {:.2?}, document reads: one get each {:.2?}, one multi_get {:.2?}; \
         JSON parse {:.2?}",
        median(scans),
        median(gets),
        median(multis),
        median(parses),
    );
}

fn put_rate(puts: u64, indexes: usize, covering: bool) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = open(dir.path());
    if covering {
        db.create_index(IndexSpec::new("d", "by_cat").field("cat", FieldType::Int).covering()).expect("index");
    }
    let specs = [
        IndexSpec::new("d", "by_cat").field("cat", FieldType::Int),
        IndexSpec::new("d", "by_city_age").field("city", FieldType::String).field("age", FieldType::Int),
        IndexSpec::new("d", "by_email").field("email", FieldType::String).unique(),
    ];
    for s in specs.into_iter().take(indexes) {
        db.create_index(s).expect("index");
    }
    let t = Instant::now();
    for i in 0..puts {
        db.put_doc(&format!("d/{:08}", i.wrapping_mul(7919) % puts), &doc(i)).expect("put");
    }
    puts as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` probing
    }
    let n = env("KVD_QUERY_DOCS", 1_000_000);
    let puts = env("KVD_QUERY_PUTS", 100_000);
    let Selectivity { load, build, indexed, full, covering, covering_json, full_json, rows } = selectivity(n);
    let speedup = full.as_secs_f64() / indexed.as_secs_f64();
    let covering_speedup = full.as_secs_f64() / covering.as_secs_f64();
    let json_speedup = full_json.as_secs_f64() / covering_json.as_secs_f64();
    println!("{n} documents loaded in {load:.2?} (1000 per transaction); index built online in {build:.2?}");
    println!("cat = 42 ({rows} rows): indexed {indexed:.2?}, full scan {full:.2?}, {speedup:.0}x");
    println!("cat = 42 through a covering index: {covering:.2?}, {covering_speedup:.0}x");
    println!(
        "cat = 42 as JSON text (Rows::json, as the server streams): covering index {covering_json:.2?}, \
         full scan {full_json:.2?}, {json_speedup:.0}x"
    );
    let mut rates: Vec<f64> = [0, 1, 3].iter().map(|&k| put_rate(puts, k, false)).collect();
    for (k, r) in [0, 1, 3].iter().zip(&rates) {
        println!("put_doc with {k} index(es): {r:.0} docs/s ({:.0}% of no index)", r / rates[0] * 100.0);
    }
    let covering_rate = put_rate(puts, 0, true);
    println!(
        "put_doc with 1 covering index: {covering_rate:.0} docs/s ({:.0}% of no index)",
        covering_rate / rates[0] * 100.0
    );
    rates.push(covering_rate);
    if std::env::var("KVD_QUERY_JSON").is_ok() {
        println!(
            "{}",
            json!({"docs": n, "rows": rows, "indexed_ms": indexed.as_secs_f64() * 1e3, "full_ms": full.as_secs_f64() * 1e3,
                   "speedup": speedup, "covering_ms": covering.as_secs_f64() * 1e3, "covering_speedup": covering_speedup,
                   "covering_json_ms": covering_json.as_secs_f64() * 1e3, "full_json_ms": full_json.as_secs_f64() * 1e3,
                   "json_speedup": json_speedup,
                   "build_s": build.as_secs_f64(), "puts_per_s": rates})
        );
    }
}
