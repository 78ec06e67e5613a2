//! An index build interrupted by a crash is finished by the next server start, with no
//! offline step: a child process loads documents and starts building an index, is SIGKILLed
//! while the build runs, and a server started on its directory brings the index to ready and
//! answers a query through it.
//!
//! The child is this test binary itself, re-executed to run only [`child_entry_point`].

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::test_config;
use kvd::index::{FieldType, IndexSpec, IndexState};
use kvd::{Db, Options, SyncPolicy};
use kvd_server::client::QueryOptions;
use kvd_server::{KvdClient, Server};
use serde_json::json;

const CHILD_DIR: &str = "KVD_INDEX_RESUME_CHILD_DIR";
const DOCS: usize = 40_000;
const TAGS: usize = 10;

fn options() -> Options {
    Options { sync_policy: SyncPolicy::Always, ..Options::default() }
}

/// The child's work; does nothing in a normal test run (the variable is unset).
#[test]
fn child_entry_point() {
    let Ok(dir) = std::env::var(CHILD_DIR) else { return };
    let db = std::sync::Arc::new(Db::open(&dir, options()).expect("child open"));
    for chunk in 0..DOCS / 1000 {
        db.run_transaction(|txn| {
            for i in chunk * 1000..(chunk + 1) * 1000 {
                txn.put_doc(&format!("d/{i:06}"), &json!({ "tag": (i % TAGS) as i64, "i": i as i64 }))?;
            }
            Ok(())
        })
        .expect("load");
    }
    let builder = {
        let db = db.clone();
        std::thread::spawn(move || db.create_index(IndexSpec::new("d", "by_tag").field("tag", FieldType::Int)))
    };
    // Report once the build has committed some progress, then wait to be killed.
    loop {
        if let Ok(s) = db.index_status("d", "by_tag") {
            if s.def.state == IndexState::Building && s.docs_scanned > 0 {
                println!("KVD-CHILD-BUILDING");
                break;
            }
            assert!(s.def.state == IndexState::Building, "the build finished before the kill; raise DOCS");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = builder.join();
    std::thread::sleep(Duration::from_secs(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_finishes_an_interrupted_index_build() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry_point", "--nocapture", "--test-threads", "1"])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let building = stdout.lines().map_while(Result::ok).any(|l| l.contains("KVD-CHILD-BUILDING"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(building, "the child never reported a build in progress");

    // The crash left the index building: queries must not use it yet.
    {
        let db = Db::open(dir.path(), options()).unwrap();
        let s = db.index_status("d", "by_tag").unwrap();
        assert_eq!(s.def.state, IndexState::Building);
        assert!((s.docs_scanned as usize) < DOCS);
        db.close().unwrap();
    }

    let server = Server::bind(test_config(dir.path())).await.unwrap();
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    let client = KvdClient::connect(addr.to_string()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = client.index_status("d", "by_tag").await.unwrap();
        if s.def.state == IndexState::Ready {
            assert_eq!(s.docs_scanned as usize, DOCS);
            break;
        }
        assert!(Instant::now() < deadline, "the interrupted build was not resumed: {s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let plan = client.explain("SELECT * FROM d WHERE tag = 3").await.unwrap();
    assert!(plan.plan.contains("by_tag"), "{}", plan.plan);
    let mut rows = client.query(QueryOptions::new("SELECT COUNT(*) FROM d WHERE tag = 3")).await.unwrap();
    let row = rows.next_row().await.unwrap().expect("one aggregate row");
    assert!(row.value.to_string().contains(&(DOCS / TAGS).to_string()), "{row:?}");

    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
