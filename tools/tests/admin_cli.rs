//! `kvd-admin` end to end: verify, wal-dump, manifest-dump, backup, list, verify-backup,
//! restore and delete, through the built binary.

mod common;

use std::path::Path;

use common::{files_with_suffix, fill, flip_byte, run, scan_at, small_opts};
use kvd::Db;

const BIN: &str = env!("CARGO_BIN_EXE_kvd-admin");

fn admin(args: &[&str]) -> (i32, String, String) {
    run(BIN, args)
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("bad JSON {s:?}: {e}"))
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A closed database with tables, and writes still only in its log.
fn make_db(dir: &Path) -> u64 {
    let db = Db::open(dir, small_opts()).unwrap();
    fill(&db, 0..2000, 40);
    db.delete(b"key000010").unwrap();
    db.put(b"in-the-log", b"\x00binary").unwrap();
    let seq = db.latest_seqno();
    db.close().unwrap();
    seq
}

#[test]
fn verify_reports_a_healthy_database_and_names_a_damaged_table() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    make_db(&dir);
    let (code, out, err) = admin(&["verify", p(&dir)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("healthy"), "{out}");
    let (code, out, _) = admin(&["verify", "--json", p(&dir)]);
    assert_eq!(code, 0);
    let v = json(&out);
    assert_eq!(v["healthy"], true);
    assert!(v["report"]["tables_checked"].as_u64().unwrap() >= 2);
    assert_eq!(v["report"]["logs_checked"], 1);

    let tables = files_with_suffix(&dir, ".sst");
    let victim = &tables[tables.len() / 2];
    flip_byte(victim, 10);
    let (code, out, err) = admin(&["verify", p(&dir)]);
    assert_eq!(code, 1, "{out}{err}");
    let name = victim.file_name().unwrap().to_str().unwrap();
    assert!(out.contains(name) && out.contains("NOT healthy"), "{out}");
    let (code, out, _) = admin(&["verify", "--json", "--quiet", p(&dir)]);
    assert_eq!(code, 1);
    let v = json(&out);
    assert_eq!(v["healthy"], false);
    assert!(v["report"]["problems"][0]["file"].as_str().unwrap().contains(name));

    // A table the manifest names but which is gone.
    std::fs::remove_file(victim).unwrap();
    let (code, out, _) = admin(&["verify", p(&dir)]);
    assert_eq!(code, 1);
    assert!(out.contains("missing"), "{out}");
    // Not a database, or an open one: usage errors.
    assert_eq!(admin(&["verify", p(&tmp.path().join("nope"))]).0, 2);
    let open = tmp.path().join("open");
    let _db = Db::open(&open, small_opts()).unwrap();
    let (code, _, err) = admin(&["verify", p(&open)]);
    assert_eq!(code, 2);
    assert!(err.contains("running database"), "{err}");
}

#[test]
fn wal_and_manifest_dumps_print_and_parse() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let seq = make_db(&dir);
    let logs = files_with_suffix(&dir, ".log");
    let log = logs.last().unwrap();
    let (code, out, err) = admin(&["wal-dump", "--json", "--hex", p(log)]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    let records = v["records"].as_array().unwrap();
    let entries: Vec<&serde_json::Value> = records.iter().flat_map(|r| r["entries"].as_array().unwrap()).collect();
    let last = entries.last().unwrap();
    assert_eq!(last["key"], kvd_tools::bytes::hex(b"in-the-log"));
    assert_eq!(last["seq"].as_u64().unwrap(), seq);
    assert!(entries.iter().any(|e| e["kind"] == "delete"));
    let (code, out, _) = admin(&["wal-dump", p(log)]);
    assert_eq!(code, 0);
    assert!(out.contains("'in-the-log'") && out.contains("'\\x00binary'"), "{out}");
    // A log that is not one.
    let junk = tmp.path().join("junk.log");
    std::fs::write(&junk, vec![7u8; 100]).unwrap();
    // Recovery's default mode drops it as a torn tail, and says so; the strict mode fails.
    let (code, out, _) = admin(&["wal-dump", p(&junk)]);
    assert_eq!(code, 0);
    assert!(out.contains("0 records") && out.contains("tail dropped at offset 0"), "{out}");
    let (code, _, err) = admin(&["wal-dump", "--mode", "absolute", p(&junk)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("junk.log"), "{err}");

    let (code, out, err) = admin(&["manifest-dump", "--json", p(&dir)]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    let files: u64 =
        v["state"]["levels"].as_array().unwrap().iter().map(|l| l["files"].as_array().unwrap().len() as u64).sum();
    assert_eq!(files as usize, files_with_suffix(&dir, ".sst").len());
    assert!(!v["records"].as_array().unwrap().is_empty());
    let (code, out, _) = admin(&["manifest-dump", p(&dir)]);
    assert_eq!(code, 0);
    assert!(out.contains("record 0 at offset 12") && out.contains("state:"), "{out}");
    let manifest = files_with_suffix(&dir, "").into_iter().find(|f| p(f).contains("MANIFEST-")).unwrap();
    assert_eq!(admin(&["manifest-dump", p(&manifest)]).0, 0);
    flip_byte(&manifest, 0);
    let (code, _, err) = admin(&["manifest-dump", p(&dir)]);
    assert_eq!(code, 1);
    assert!(err.contains("MANIFEST-"), "{err}");
}

#[test]
fn backup_list_verify_restore_and_delete_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    make_db(&dir);
    let store = tmp.path().join("backups");
    let (code, out, err) = admin(&["backup", "--json", p(&dir), p(&store)]);
    assert_eq!(code, 0, "{err}");
    let b1 = json(&out);
    assert_eq!(b1["id"], 1);
    assert_eq!(b1["bytes_copied"], b1["bytes_total"].as_u64().unwrap() - manifest_bytes(&store, 1));
    {
        let db = Db::open(&dir, small_opts()).unwrap();
        db.put(b"later", b"x").unwrap();
        db.close().unwrap();
    }
    let (code, out, _) = admin(&["backup", p(&dir), p(&store)]);
    assert_eq!(code, 0);
    assert!(out.starts_with("backup 2 at seqno"), "{out}");

    let (code, out, _) = admin(&["list", "--json", p(&store)]);
    assert_eq!(code, 0);
    let list = json(&out);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (code, out, _) = admin(&["list", p(&store)]);
    assert_eq!(code, 0);
    assert!(out.contains(" UTC"), "{out}");

    let (code, out, _) = admin(&["verify-backup", p(&store)]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches(": OK").count(), 2);

    let target = tmp.path().join("restored");
    let (code, out, err) = admin(&["restore", "--backup", "1", p(&store), p(&target)]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(admin(&["verify", p(&target)]).0, 0);
    let restored = Db::open(&target, small_opts()).unwrap();
    assert_eq!(restored.latest_seqno(), b1["seqno"].as_u64().unwrap());
    assert_eq!(restored.get(b"later").unwrap(), None);
    assert_eq!(restored.get(b"in-the-log").unwrap().as_deref(), Some(&b"\x00binary"[..]));
    let rows = scan_at(&restored, None);
    assert_eq!(rows.len(), 2000);
    drop(restored);
    let (code, _, err) = admin(&["restore", p(&store), p(&target)]);
    assert_eq!(code, 2, "non-empty target");
    assert!(err.contains("--force"), "{err}");

    let (code, out, _) = admin(&["delete", "--json", p(&store), "2"]);
    assert_eq!(code, 0);
    assert!(json(&out)["files_removed"].as_u64().unwrap() >= 1);
    assert_eq!(admin(&["delete", p(&store), "2"]).0, 2, "already deleted");

    // Damage in the store is found and named.
    let stored = files_with_suffix(&store.join("tables"), ".sst");
    flip_byte(&stored[0], 5);
    let (code, out, _) = admin(&["verify-backup", "--backup", "1", p(&store)]);
    assert_eq!(code, 1);
    assert!(out.contains(stored[0].file_name().unwrap().to_str().unwrap()), "{out}");
    let (code, _, err) = admin(&["restore", p(&store), p(&tmp.path().join("again"))]);
    assert_eq!(code, 1, "{err}");
    assert!(!tmp.path().join("again").exists());

    // A server address nobody listens on fails clearly, naming the address.
    let (code, _, err) = admin(&["backup", "http://127.0.0.1:1", p(&store)]);
    assert_eq!(code, 2);
    assert!(err.contains("checkpoint through the server at http://127.0.0.1:1"), "{err}");
}

fn manifest_bytes(store: &Path, id: u64) -> u64 {
    let meta = json(&std::fs::read_to_string(store.join(format!("backups/backup-{id:06}.json"))).unwrap());
    meta["manifest"]["size"].as_u64().unwrap()
}
