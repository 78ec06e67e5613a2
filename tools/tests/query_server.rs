//! `kvd-admin query <server address>` and `kvd-admin indexes <server address>`: the same
//! output as over a database directory, through a running server's Query service.

mod common;

use kvd::index::{FieldType, IndexSpec};
use kvd_server::client::DocBatch;
use kvd_tools::admin::{query, query_remote};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_kvd-admin");

#[test]
fn queries_and_indexes_through_a_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    let server = common::TestServer::start(&tmp.path().join("data"));
    let addr = server.addr.clone();
    let client = server.client();
    server.runtime.block_on(async {
        let mut b = DocBatch::new();
        for (id, name, age) in [(1, "ada", 36), (2, "grace", 45), (3, "alan", 41)] {
            b.put(format!("users/{id}"), &json!({"name": name, "age": age}));
        }
        client.write_docs(&b).await.unwrap();
        client.create_index(&IndexSpec::new("users", "by_age").field("age", FieldType::Int)).await.unwrap();
    });

    let q = query_remote::run(&addr, "SELECT name, age FROM users WHERE age > 40 ORDER BY age", None, None).unwrap();
    let mut text = Vec::new();
    query::write_table(&mut text, &q).unwrap();
    assert_eq!(
        String::from_utf8(text).unwrap(),
        "_key     name   age\n-------  -----  ---\nusers/3  alan   41\nusers/2  grace  45\n(2 rows)\n"
    );
    let page = query_remote::run(&addr, "SELECT * FROM users", Some(2), None).unwrap();
    assert_eq!(page.columns, ["_key", "age", "name"]);
    let rest = query_remote::run(&addr, "SELECT * FROM users", Some(2), page.continuation.clone()).unwrap();
    assert_eq!((rest.rows.len(), rest.continuation), (1, None));
    let plan = query_remote::run(&addr, "EXPLAIN SELECT * FROM users WHERE age = 1", None, None).unwrap();
    assert_eq!(plan.columns, ["plan"]);
    assert!(plan.rows[0]["plan"].as_str().unwrap().starts_with("index scan of users.by_age"));
    let e = query_remote::run(&addr, "SELECT * FROM nope", None, None).unwrap_err().to_string();
    assert!(e.contains("unknown namespace"), "{e}");
    let r = query_remote::indexes(&addr, false, false).unwrap();
    assert_eq!((r.indexes[0].index.as_str(), r.indexes[0].state.as_str()), ("users.by_age", "ready"));
    assert_eq!(r.indexes[0].docs_scanned, 3);
    assert!(query_remote::indexes(&addr, false, true).unwrap_err().to_string().contains("--verify"));

    // Through the binary, with the address on the command line.
    let (code, out, err) = common::run(BIN, &["--json", "query", &addr, "SELECT COUNT(*) AS n FROM users"]);
    assert_eq!(code, 0, "{err}");
    let out: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(out["rows"], json!([{"n": 3}]));
    let (code, out, err) = common::run(BIN, &["indexes", &addr]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("users.by_age  (age:int)  ready  3 documents scanned"), "{out}");

    server.stop();
}
