//! The `kvd.v1.Query` service end to end: documents, indexes (single, compound, unique),
//! streamed queries, paging, plans, aggregates, error codes, and online builds.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::TestServer;
use kvd::index::{FieldType, IndexSpec, IndexState};
use kvd_server::client::{ClientError, DocBatch, QueryOptions, QueryPage};
use kvd_server::proto::{self, explain_response};
use kvd_server::KvdClient;
use serde_json::{json, Value};

const CITIES: [&str; 4] = ["Oslo", "Lima", "Pune", "Kyiv"];

fn user(i: usize) -> Value {
    json!({"name": format!("u{i:03}"), "city": CITIES[i % 4], "age": 20 + (i * 7) % 50, "email": format!("u{i}@x.org")})
}

/// 100 users through WriteDocs, plus indexes: by_age, by_city_age (compound), by_email (unique).
async fn load_users(c: &KvdClient) {
    let mut b = DocBatch::new();
    for i in 0..100 {
        b.put(format!("users/{i:03}"), &user(i));
    }
    c.write_docs(&b).await.unwrap();
    c.create_index(&IndexSpec::new("users", "by_age").field("age", FieldType::Int)).await.unwrap();
    let compound = IndexSpec::new("users", "by_city_age").field("city", FieldType::String).field("age", FieldType::Int);
    let ready = c.create_index(&compound).await.unwrap();
    assert_eq!((ready.def.state, ready.docs_scanned), (IndexState::Ready, 100));
    assert_eq!(ready.def.fields, compound.fields);
    c.create_index(&IndexSpec::new("users", "by_email").field("email", FieldType::String).unique()).await.unwrap();
}

async fn run(c: &KvdClient, sql: &str) -> QueryPage {
    c.query(QueryOptions::new(sql)).await.unwrap().collect_page().await.unwrap()
}

fn values(p: &QueryPage) -> Vec<Value> {
    p.rows.iter().map(|r| r.value.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_use_indexes_and_match_a_full_scan() {
    let server = TestServer::start().await;
    let c = server.client().await;
    load_users(&c).await;

    let sql = "SELECT name, age FROM users WHERE city = 'Oslo' AND age > 40 ORDER BY age DESC LIMIT 5";
    let page = run(&c, sql).await;
    assert_eq!(page.columns, ["name", "age"]);
    assert!(page.keyed && page.continuation.is_none() && page.seqno_exact);
    assert_eq!(page.seqno, c.stats().await.unwrap().header.unwrap().seqno, "no write since");
    let mut want: Vec<(usize, String)> = (0..100)
        .filter(|i| i % 4 == 0 && 20 + (i * 7) % 50 > 40)
        .map(|i| (20 + (i * 7) % 50, format!("users/{i:03}")))
        .collect();
    want.sort_by(|a, b| b.cmp(a));
    want.truncate(5);
    let got: Vec<(usize, String)> =
        page.rows.iter().map(|r| (r.value["age"].as_u64().unwrap() as usize, r.key.clone().unwrap())).collect();
    assert_eq!(got, want);

    // The plan names the compound index; forcing a full scan gives the same rows.
    let plan = c.explain(sql).await.unwrap();
    assert_eq!(plan.access, explain_response::Access::IndexScan as i32);
    assert_eq!(plan.index, "users.by_city_age");
    assert_eq!(plan.index_fields, ["city", "age"]);
    assert!(plan.plan.starts_with("index scan of users.by_city_age"), "{}", plan.plan);
    assert!(plan.reverse && !plan.sort, "{plan:?}");
    let full = c.query(QueryOptions::new(sql).force_full_scan()).await.unwrap().collect_page().await.unwrap();
    assert_eq!(values(&full), values(&page));
    assert_eq!(c.explain_opt(sql, true).await.unwrap().access, explain_response::Access::FullScan as i32);

    // EXPLAIN through Query streams the plan's lines.
    let lines = run(&c, &format!("EXPLAIN {sql}")).await;
    assert_eq!((lines.columns.as_slice(), lines.keyed), (&["plan".to_string()][..], false));
    assert!(lines.rows[0].value["plan"].as_str().unwrap().contains("users.by_city_age"));

    // A single-field range uses by_age; dropping it falls back to a full scan.
    let by_age = "SELECT * FROM users WHERE age BETWEEN 30 AND 32";
    assert_eq!(c.explain(by_age).await.unwrap().index, "users.by_age");
    let before = values(&run(&c, by_age).await);
    assert!(!before.is_empty() && before.iter().all(|d| (30..=32).contains(&d["age"].as_u64().unwrap())));
    c.drop_index("users", "by_age").await.unwrap();
    let plan = c.explain(by_age).await.unwrap();
    assert_eq!(plan.access, explain_response::Access::FullScan as i32);
    assert!(plan.plan.starts_with("full scan of namespace users"), "{}", plan.plan);
    let mut after = values(&run(&c, by_age).await);
    let mut before = before;
    let by_name = |a: &Value, b: &Value| a["name"].as_str().cmp(&b["name"].as_str());
    after.sort_by(by_name);
    before.sort_by(by_name);
    assert_eq!(after, before);
    let names: Vec<String> = c.list_indexes(Some("users")).await.unwrap().into_iter().map(|s| s.def.name).collect();
    assert_eq!(names, ["by_city_age", "by_email"]);

    // Documents: get, overwrite (the index follows), delete.
    assert_eq!(c.get_doc("users/007").await.unwrap(), Some(user(7)));
    c.put_doc("users/007", &json!({"name": "moved", "city": "Rome", "age": 99})).await.unwrap();
    let rome = run(&c, "SELECT name FROM users WHERE city = 'Rome'").await;
    assert_eq!(values(&rome), [json!({"name": "moved"})]);
    assert!(c.delete_doc("users/007").await.unwrap());
    assert!(!c.delete_doc("users/007").await.unwrap());
    assert_eq!(c.get_doc("users/007").await.unwrap(), None);
    assert!(run(&c, "SELECT name FROM users WHERE city = 'Rome'").await.rows.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_group_and_order() {
    let server = TestServer::start().await;
    let c = server.client().await;
    load_users(&c).await;
    let page = run(&c, "SELECT city, COUNT(*) AS n, MAX(age) AS oldest FROM users GROUP BY city ORDER BY city").await;
    assert_eq!(page.columns, ["city", "n", "oldest"]);
    assert!(!page.keyed && page.rows.iter().all(|r| r.key.is_none()));
    let mut want: Vec<Value> = CITIES
        .iter()
        .enumerate()
        .map(|(k, city)| {
            let ages: Vec<usize> = (0..100).filter(|i| i % 4 == k).map(|i| 20 + (i * 7) % 50).collect();
            json!({"city": city, "n": ages.len(), "oldest": ages.iter().max()})
        })
        .collect();
    want.sort_by(|a, b| a["city"].as_str().cmp(&b["city"].as_str()));
    assert_eq!(values(&page), want);
    // Counting over a covered index range reads no document.
    let count = "SELECT COUNT(*) AS n FROM users WHERE city = 'Lima'";
    assert!(c.explain(count).await.unwrap().index_only);
    assert_eq!(values(&run(&c, count).await), [json!({"n": 25})]);
    // Aggregates ignore the page size.
    let all = c.query(QueryOptions::new(count).page_size(1)).await.unwrap().collect_page().await.unwrap();
    assert_eq!(all.continuation, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_returns_every_row_exactly_once() {
    let server = TestServer::start().await;
    let c = server.client().await;
    load_users(&c).await;
    // Key order, index order, and a sort.
    for sql in [
        "SELECT name FROM users",
        "SELECT name FROM users WHERE city = 'Pune' ORDER BY age",
        "SELECT name, age FROM users WHERE age >= 25 ORDER BY name DESC",
    ] {
        let whole = values(&run(&c, sql).await);
        let mut paged = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut opts = QueryOptions::new(sql).page_size(7);
            opts.continuation = token.take();
            let page = c.query(opts).await.unwrap().collect_page().await.unwrap();
            assert!(page.rows.len() <= 7);
            paged.extend(values(&page));
            pages += 1;
            match page.continuation {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(paged, whole, "{sql}");
        assert_eq!(pages, whole.len().div_ceil(7).max(1), "{sql}");
        let distinct: BTreeSet<String> = paged.iter().map(Value::to_string).collect();
        assert_eq!(distinct.len(), paged.len(), "{sql}: a row came twice");
    }
    // A token belongs to its query.
    let first = c.query(QueryOptions::new("SELECT name FROM users").page_size(3)).await.unwrap();
    let token = first.collect_page().await.unwrap().continuation.unwrap();
    let e = c.query(QueryOptions::new("SELECT age FROM users").continuation(token)).await.unwrap_err();
    assert!(matches!(&e, ClientError::InvalidArgument(m) if m.contains("continuation token")), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_violations_are_already_exists_and_write_nothing() {
    let server = TestServer::start().await;
    let c = server.client().await;
    load_users(&c).await;
    let seq = c.stats().await.unwrap().header.unwrap().seqno;
    let dup = json!({"name": "dup", "email": "u3@x.org"});
    let e = c.put_doc("users/200", &dup).await.unwrap_err();
    assert!(matches!(&e, ClientError::UniqueViolation(m) if m.contains("users.by_email") && m.contains("users/003")));
    assert_eq!(e.code(), tonic::Code::AlreadyExists);
    // In a batch: the error names the operation, and the batch's other writes are not applied.
    let mut b = DocBatch::new();
    b.put("users/201", &json!({"name": "fine", "email": "new@x.org"})).delete("users/004").put("users/202", &dup);
    let e = c.write_docs(&b).await.unwrap_err();
    assert!(matches!(&e, ClientError::UniqueViolation(m) if m.starts_with("ops[2]:")), "{e}");
    assert_eq!(c.get_doc("users/200").await.unwrap(), None);
    assert_eq!(c.get_doc("users/201").await.unwrap(), None);
    assert_eq!(c.get_doc("users/004").await.unwrap(), Some(user(4)));
    assert_eq!(c.stats().await.unwrap().header.unwrap().seqno, seq, "nothing was written");
    // A unique index over duplicates fails to build and is dropped again.
    let e = c.create_index(&IndexSpec::new("users", "by_city").field("city", FieldType::String).unique()).await;
    assert_eq!(e.unwrap_err().code(), tonic::Code::AlreadyExists);
    assert!(matches!(c.index_status("users", "by_city").await, Err(ClientError::NotFound(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_precise_codes() {
    let server = TestServer::start().await;
    let c = server.client().await;
    load_users(&c).await;
    let invalid = |e: ClientError| match e {
        ClientError::InvalidArgument(m) => m,
        other => panic!("expected INVALID_ARGUMENT, got {other}"),
    };
    // Parse errors name the position, in Query and in Explain.
    let m = invalid(c.query(QueryOptions::new("SELECT * FROM users WHERE = 3")).await.unwrap_err());
    assert!(m.to_lowercase().contains("line: 1, column: 27"), "{m}");
    let m = invalid(c.explain("SELECT * FROM users JOIN x ON a = b").await.unwrap_err());
    assert!(m.contains("line 1, column") && m.contains("joins"), "{m}");
    // Type mismatches against a declared field type.
    let m = invalid(c.query(QueryOptions::new("SELECT * FROM users WHERE city = 3")).await.unwrap_err());
    assert!(m.contains("type mismatch"), "{m}");
    let m = invalid(c.put_doc("users/300", &json!({"city": 5})).await.unwrap_err());
    assert!(m.contains("type mismatch"), "{m}");
    // Bad documents and keys, an empty query, an existing index name.
    invalid(c.put_doc("nokey", &json!({})).await.unwrap_err());
    invalid(c.put_doc("users/301", &json!([1, 2])).await.unwrap_err());
    let raw = proto::PutDocRequest { key: "users/302".into(), json: "{not json".into() };
    let e: ClientError = c.raw_query().put_doc(raw).await.unwrap_err().into();
    assert!(invalid(e).starts_with("json: not JSON text"));
    invalid(c.query(QueryOptions::new("  ")).await.unwrap_err());
    let e = c.create_index(&IndexSpec::new("users", "by_email").field("email", FieldType::String)).await.unwrap_err();
    assert!(matches!(&e, ClientError::AlreadyExists(m) if m.contains("users.by_email already exists")), "{e}");
    assert_eq!(e.code(), tonic::Code::AlreadyExists);
    invalid(c.write_docs(&DocBatch::new()).await.unwrap_err());
    // Unknown namespace and index.
    let e = c.query(QueryOptions::new("SELECT * FROM nope")).await.unwrap_err();
    assert!(matches!(&e, ClientError::NotFound(m) if m.contains("unknown namespace \"nope\"")), "{e}");
    assert!(matches!(c.explain("SELECT * FROM nope").await, Err(ClientError::NotFound(_))));
    assert!(matches!(c.drop_index("users", "nope").await, Err(ClientError::NotFound(_))));
    assert!(matches!(c.index_status("users", "nope").await, Err(ClientError::NotFound(_))));
    assert!(c.list_indexes(Some("nope")).await.unwrap().is_empty());
    // Unknown enum values are refused.
    let raw = proto::CreateIndexRequest {
        namespace: "users".into(),
        name: "odd".into(),
        fields: vec![proto::IndexField { path: "age".into(), r#type: 9 }],
        unique: false,
        covering: false,
    };
    let e: ClientError = c.raw_query().create_index(raw).await.unwrap_err().into();
    invalid(e);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_results_stream_in_chunks_and_builds_show_progress() {
    const N: usize = 30_000;
    let server = TestServer::start().await;
    let c = server.client().await;
    for start in (0..N).step_by(5_000) {
        let mut b = DocBatch::new();
        for i in start..start + 5_000 {
            b.put(format!("big/{i:06}"), &json!({"n": i, "tag": format!("t{}", i % 10)}));
        }
        c.write_docs(&b).await.unwrap();
    }

    // 30k rows come in several messages, in key order, each once.
    let mut stream = c.query(QueryOptions::new("SELECT * FROM big")).await.unwrap();
    let mut n = 0;
    while let Some(row) = stream.next_row().await {
        let row = row.unwrap();
        assert_eq!(row.key.as_deref(), Some(format!("big/{n:06}").as_str()));
        assert_eq!(row.value["n"], n);
        n += 1;
    }
    assert_eq!(n, N);
    assert!(stream.messages() >= N / 1000, "{} messages", stream.messages());
    let mut raw = c
        .raw_query()
        .query(proto::QueryRequest {
            sql: "SELECT n FROM big WHERE n >= 5000".into(),
            chunk_size: 2500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut sizes = Vec::new();
    while let Some(m) = raw.message().await.unwrap() {
        sizes.push(m.rows.len());
    }
    assert_eq!(sizes, vec![2500; 10]);

    // An online build: its progress is visible while it runs, then it is ready.
    let builder = {
        let c = c.clone();
        tokio::spawn(
            async move { c.create_index(&IndexSpec::new("big", "by_tag").field("tag", FieldType::String)).await },
        )
    };
    let mut seen_building = false;
    loop {
        match c.index_status("big", "by_tag").await {
            Ok(s) if s.def.state == IndexState::Building => {
                assert!(s.docs_scanned <= N as u64, "scanned {} of {N}", s.docs_scanned);
                let listed = c.list_indexes(None).await.unwrap();
                assert!(listed.iter().any(|l| l.def.name == "by_tag"), "{listed:?}");
                seen_building = true;
            }
            Ok(s) => {
                assert_eq!((s.def.state, s.docs_scanned), (IndexState::Ready, N as u64));
                break;
            }
            Err(ClientError::NotFound(_)) => {}
            Err(e) => panic!("{e}"),
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let ready = builder.await.unwrap().unwrap();
    assert_eq!(ready.def.state, IndexState::Ready);
    assert!(seen_building, "the build of {N} documents finished before a status call saw it");
    assert_eq!(c.explain("SELECT * FROM big WHERE tag = 't3'").await.unwrap().index, "big.by_tag");
    let count = run(&c, "SELECT COUNT(*) AS n FROM big WHERE tag = 't3'").await;
    assert_eq!(values(&count), [json!({"n": N / 10})]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn covering_indexes_over_grpc() {
    let server = TestServer::start().await;
    let c = server.client().await;
    load_users(&c).await;
    let covering = IndexSpec::new("users", "by_city").field("city", FieldType::String).covering();
    let ready = c.create_index(&covering).await.unwrap();
    assert!(ready.def.covering && ready.def.state == IndexState::Ready);
    let listed = c.list_indexes(Some("users")).await.unwrap();
    assert_eq!(listed.iter().filter(|i| i.def.covering).count(), 1, "{listed:?}");

    let sql = "SELECT * FROM users WHERE city = 'Lima'";
    let plan = c.explain(sql).await.unwrap();
    assert!(plan.plan.contains("covering"), "{}", plan.plan);
    let through_index = run(&c, sql).await;
    let full = c.query(QueryOptions::new(sql).force_full_scan()).await.unwrap().collect_page().await.unwrap();
    assert_eq!(values(&through_index), values(&full));
    assert_eq!(through_index.rows.len(), 25);

    let bad = IndexSpec::new("users", "bad").field("city", FieldType::String).unique().covering();
    let err = c.create_index(&bad).await.unwrap_err();
    assert!(matches!(err, ClientError::InvalidArgument(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashes_written_through_types_are_queried_and_indexed() {
    let server = TestServer::start().await;
    let c = server.client().await;
    c.create_index(&IndexSpec::new("carts", "by_items").field("items", FieldType::Int)).await.unwrap();
    for i in 0..20i64 {
        c.hset(format!("carts/{i:02}"), &[("owner", format!("o{i}")), ("items", (i % 5).to_string())]).await.unwrap();
    }
    c.hincrby("carts/03", "items", 10).await.unwrap();
    c.hdel("carts/04", &["items"]).await.unwrap();
    let sql = "SELECT owner, items FROM carts WHERE items >= 4 ORDER BY items";
    assert!(c.explain(sql).await.unwrap().plan.starts_with("index scan"));
    let page = run(&c, sql).await;
    let full = c.query(QueryOptions::new(sql).force_full_scan()).await.unwrap().collect_page().await.unwrap();
    assert_eq!(values(&page), values(&full));
    assert_eq!(
        values(&page),
        [
            json!({"owner": "o9", "items": 4}),
            json!({"owner": "o14", "items": 4}),
            json!({"owner": "o19", "items": 4}),
            json!({"owner": "o3", "items": 13})
        ]
    );
    // A wrong-typed field is refused by the index, with nothing written.
    let err = c.hset("carts/00", &[("items", "many")]).await.unwrap_err();
    assert!(matches!(err, ClientError::InvalidArgument(_)), "{err:?}");
    let count = run(&c, "SELECT COUNT(*) AS n FROM carts WHERE items IS NULL").await;
    assert_eq!(values(&count), [json!({"n": 1})]);
}
