//! Process-crash test of index maintenance: a child process writes and deletes documents
//! (JSON objects, and hashes with `hset`/`hincrby`) in a namespace with a plain, a compound and a unique index under `SyncPolicy::Always`, and on its
//! first run also builds a further index online while it writes (and every other cycle builds
//! one over 50,000 documents under a concurrent writer, killed 2 to 25 ms in, so builds are
//! interrupted and later resumed); the parent SIGKILLs it at a
//! random moment, reopens the directory and checks with `verify_indexes` that no index entry
//! lacks its document and no document lacks an entry (the interrupted build's partial entries
//! included), finishes any interrupted build, checks again, and starts the next child.
//!
//! The child is this test binary itself, re-executed to run only [`child_process_entry_point`]
//! with `KVD_INDEX_CRASH_DIR` set.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use kvd::index::{FieldType, IndexSpec, IndexState};
use kvd::{Db, Error, Options, SyncPolicy};
use kvd_tests::env::{scale, seed};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const CHILD_DIR: &str = "KVD_INDEX_CRASH_CHILD_DIR";
const CHILD_SEED: &str = "KVD_INDEX_CRASH_CHILD_SEED";
const CHILD_BUILD: &str = "KVD_INDEX_CRASH_CHILD_BUILD";

fn options() -> Options {
    Options { write_buffer_size: 64 << 10, sync_policy: SyncPolicy::Always, ..Options::default() }
}

fn ensure_index(db: &Db, spec: IndexSpec) {
    match db.create_index(spec) {
        Ok(_) => {}
        Err(Error::AlreadyExists(m)) if m.contains("already exists") => {}
        Err(e) => panic!("create index: {e}"),
    }
}

/// The child's work; does nothing in a normal test run (the variable is unset).
#[test]
fn child_process_entry_point() {
    let Ok(dir) = std::env::var(CHILD_DIR) else { return };
    let seed: u64 = std::env::var(CHILD_SEED).expect("seed").parse().expect("seed");
    let db = std::sync::Arc::new(Db::open(&dir, options()).expect("child open"));
    ensure_index(&db, IndexSpec::new("c", "by_k").field("k", FieldType::Int));
    ensure_index(&db, IndexSpec::new("c", "by_s_k").field("s", FieldType::String).field("k", FieldType::Int));
    ensure_index(&db, IndexSpec::new("c", "by_u").field("u", FieldType::String).unique());
    let first_run = db.list_indexes(Some("c")).expect("list").iter().all(|d| d.name != "by_late");
    let mut out = std::io::stdout().lock();
    if std::env::var(CHILD_BUILD).is_ok() {
        build_under_kill(&db, &mut out, seed);
        return;
    }
    writeln!(out, "KVD-CHILD-READY").and_then(|()| out.flush()).expect("stdout");
    let builder = first_run.then(|| {
        let db = db.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let _ = db.create_index(IndexSpec::new("c", "by_late").field("s", FieldType::String));
        })
    });
    let mut rng = StdRng::seed_from_u64(seed);
    for n in 0u64.. {
        let i = rng.random_range(0..400);
        let key = format!("c/{i:04}");
        // Keys 300.. hold hashes, written field by field; the rest JSON documents.
        let hash = i >= 300;
        if rng.random_bool(0.15) {
            db.delete_doc(&key).expect("child delete");
        } else if hash && rng.random_bool(0.3) {
            match db.hincrby(key.as_bytes(), b"k", rng.random_range(-2..3)) {
                Ok(_) | Err(Error::InvalidArgument(_)) => {}
                Err(e) => panic!("child hincrby: {e}"),
            }
        } else {
            // `u` values collide now and then: those writes are refused, writing nothing.
            let (k, s, u) = (
                rng.random_range(0..30),
                format!("s{}", rng.random_range(0..8)),
                format!("u{}", rng.random_range(0..2000)),
            );
            let r = if hash {
                db.hset(key.as_bytes(), &[("k", k.to_string()), ("s", s), ("u", u)]).map(|_| ())
            } else {
                db.put_doc(&key, &json!({"k": k, "s": s, "u": u}))
            };
            match r {
                Ok(()) | Err(Error::UniqueViolation { .. }) => {}
                Err(e) => panic!("child put: {e}"),
            }
        }
        if n % 50 == 0 {
            writeln!(out, "ACK {n}").and_then(|()| out.flush()).expect("stdout");
        }
    }
    drop(builder);
}

/// Loads a larger namespace (50,000 documents) once, then builds an index over it (killed meanwhile) while
/// another thread keeps writing to it.
fn build_under_kill(db: &std::sync::Arc<Db>, out: &mut impl Write, seed: u64) {
    if db.query("SELECT COUNT(*) AS n FROM big").is_err() {
        for chunk in 0..50 {
            db.run_transaction(|txn| {
                for i in chunk * 1000..(chunk + 1) * 1000 {
                    txn.put_doc(&format!("big/{i:05}"), &json!({"v": i % 97, "w": format!("w{}", i % 13)}))?;
                }
                Ok(())
            })
            .expect("bulk load");
        }
    }
    let name = format!("by_v{seed}");
    writeln!(out, "KVD-CHILD-READY").and_then(|()| out.flush()).expect("stdout");
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || {
            let mut rng = StdRng::seed_from_u64(seed);
            loop {
                let i = rng.random_range(0..50_000);
                db.put_doc(&format!("big/{i:05}"), &json!({"v": rng.random_range(0..97), "w": "x"})).expect("write");
            }
        })
    };
    db.create_index(IndexSpec::new("big", &name).field("v", FieldType::Int).field("w", FieldType::String))
        .expect("build");
    writeln!(out, "BUILT").and_then(|()| out.flush()).expect("stdout");
    drop(writer);
    std::thread::sleep(Duration::from_secs(60));
}

fn run_child(dir: &Path, seed: u64, kill_after: Duration, build: bool) -> bool {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args(["child_process_entry_point", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_SEED, seed.to_string())
        .envs(build.then_some((CHILD_BUILD, "1")))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut acks = 0;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.ends_with("KVD-CHILD-READY") {
                let _ = tx.send(());
            } else if line.starts_with("ACK ") {
                acks += 1;
            }
        }
        acks
    });
    let ready = rx.recv_timeout(Duration::from_secs(60)).is_ok();
    std::thread::sleep(kill_after);
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap the child");
    let _acks = reader.join().expect("reader");
    assert!(!status.success(), "the child ran to completion instead of being killed");
    ready
}

#[test]
fn indexes_match_documents_after_sigkill() {
    let mut rng = StdRng::seed_from_u64(seed("index_crash"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let cycles = scale(6, 40);
    let mut interrupted_builds = 0;
    for cycle in 0..cycles {
        // The first kill lands early, often inside the online build of by_late.
        // Every other cycle the child builds an index over 50,000 documents while writing, and
        // is killed during the build.
        let build = cycle % 2 == 1;
        let after = if build { rng.random_range(2..25) } else { rng.random_range(10..300) };
        let ready = run_child(&path, rng.random::<u32>().into(), Duration::from_millis(after), build);
        assert!(ready, "cycle {cycle}: the child opened");
        let db = Db::open(&path, options()).unwrap_or_else(|e| panic!("cycle {cycle}: reopen: {e}"));
        let report = db.verify_indexes().unwrap();
        assert!(report.is_consistent(), "cycle {cycle}, killed after {after} ms: {:?}", report.problems);
        let building = db.list_indexes(None).unwrap().iter().filter(|d| d.state == IndexState::Building).count();
        interrupted_builds += building;
        db.resume_index_builds().unwrap();
        assert!(db.list_indexes(None).unwrap().iter().all(|d| d.state == IndexState::Ready));
        let report = db.verify_indexes().unwrap();
        assert!(report.is_consistent(), "cycle {cycle} after resuming builds: {:?}", report.problems);
        assert!(report.documents > 0, "cycle {cycle}: the child wrote documents");
        db.close().unwrap();
    }
    eprintln!("{cycles} kill cycles, {interrupted_builds} interrupted index builds resumed");
    assert!(interrupted_builds > 0, "no kill landed during an index build");
}
