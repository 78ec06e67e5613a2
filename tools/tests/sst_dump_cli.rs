//! `kvd-sst-dump` on tables the engine wrote, and on files that are not (good) tables.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{files_with_suffix, flip_byte, run};
use kvd::{Db, Options, WriteBatch};
use kvd_tools::bytes::{parse_hex, Encoding};
use kvd_tools::sst_dump::{self, DumpOptions};

const BIN: &str = env!("CARGO_BIN_EXE_kvd-sst-dump");

/// `(key, seq, kind, value, expires)` as the engine stored them.
type Model = BTreeSet<(Vec<u8>, u64, String, Vec<u8>, bool)>;

/// Writes puts, deletes, expiring puts and overwrites over several flushes; returns the dir
/// and every entry written (nothing is compacted away: compaction is off).
fn engine_tables(dir: &Path) -> Model {
    let opts = Options { write_buffer_size: 16 << 10, disable_auto_compactions: true, ..Options::default() };
    let db = Db::open(dir, opts).unwrap();
    let mut model = Model::new();
    for round in 0..3u32 {
        for i in 0..600u32 {
            let key =
                if i == 7 { b"bin\x00\xff\\key".to_vec() } else { format!("k{:04}", (i * 37) % 700).into_bytes() };
            let mut b = WriteBatch::new();
            let (kind, value, expires) = match (i + round) % 6 {
                0 => {
                    b.delete(key.clone());
                    ("delete", Vec::new(), false)
                }
                1 => {
                    let v = format!("ttl-{round}-{i}").into_bytes();
                    b.put_with_ttl(key.clone(), v.clone(), Duration::from_secs(3600));
                    ("put_with_expiry", v, true)
                }
                _ => {
                    let mut v = format!("v{round}-{i}-").repeat(i as usize % 9 + 1).into_bytes();
                    v.extend_from_slice(b"\x00\x01\xfe\xff\\");
                    b.put(key.clone(), v.clone());
                    ("put", v, false)
                }
            };
            let seq = db.write(b).unwrap();
            model.insert((key, seq, kind.to_string(), value, expires));
        }
        db.flush().unwrap();
    }
    db.close().unwrap();
    model
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}"))).collect()
}

fn args<'a>(mut a: Vec<&'a str>, files: &'a [PathBuf]) -> Vec<&'a str> {
    a.extend(files.iter().map(|p| p.to_str().unwrap()));
    a
}

#[test]
fn dumps_every_entry_the_engine_wrote_and_json_parses() {
    let tmp = tempfile::tempdir().unwrap();
    let model = engine_tables(tmp.path());
    let tables = files_with_suffix(tmp.path(), ".sst");
    assert!(tables.len() >= 3, "{tables:?}");

    let (code, out, err) = run(BIN, &args(vec!["--json", "--hex"], &tables));
    assert_eq!(code, 0, "{err}");
    let docs = json_lines(&out);
    assert_eq!(docs.len(), tables.len());
    let mut dumped = Model::new();
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    for d in &docs {
        let props = &d["properties"];
        let entries = d["entries"].as_array().unwrap();
        assert_eq!(props["entries"].as_u64().unwrap(), entries.len() as u64);
        assert_eq!(d["footer"]["format_version"], 1);
        assert!(d["bloom"]["present"].as_bool().unwrap());
        assert_eq!(d["index"].as_array().unwrap().len() as u64, props["data_blocks"].as_u64().unwrap());
        for e in entries {
            let key = parse_hex(e["key"].as_str().unwrap()).unwrap();
            let value = e["value"].as_str().map(|v| parse_hex(v).unwrap()).unwrap_or_default();
            let expires = e["expires_at_ms"].as_u64();
            if let Some(x) = expires {
                assert!(x > now_ms, "expiry {x} is in the future");
            }
            assert_eq!(e["value_len"].as_u64().unwrap(), value.len() as u64);
            dumped.insert((
                key,
                e["seq"].as_u64().unwrap(),
                e["kind"].as_str().unwrap().to_string(),
                value,
                expires.is_some(),
            ));
        }
    }
    assert_eq!(dumped.len(), model.len());
    assert!(dumped == model, "dumped entries differ from what was written");

    // Text output of every section, and the escaped form of a binary key.
    let (code, out, err) = run(BIN, &args(vec![], &tables));
    assert_eq!(code, 0, "{err}");
    for section in ["footer:", "properties:", "index:", "bloom filter:", "entries:", "key range:", "compression: none"]
    {
        assert!(out.contains(section), "missing {section}");
    }
    assert!(out.contains("'bin\\x00\\xff\\\\key'"), "escaped binary key");

    // --verify, in text and JSON.
    let (code, out, _) = run(BIN, &args(vec!["--verify"], &tables));
    assert_eq!(code, 0);
    assert_eq!(out.matches(": OK").count(), tables.len());
    let (code, out, _) = run(BIN, &args(vec!["--verify", "--json"], &tables));
    assert_eq!(code, 0);
    assert!(json_lines(&out).iter().all(|v| v["status"] == "ok"));
}

#[test]
fn bounds_and_limit_select_entries() {
    let tmp = tempfile::tempdir().unwrap();
    engine_tables(tmp.path());
    let table = files_with_suffix(tmp.path(), ".sst").remove(0);
    let t = table.to_str().unwrap();
    let (code, out, err) = run(BIN, &["--entries", "--json", "--from", "k0100", "--to", "k0200", t]);
    assert_eq!(code, 0, "{err}");
    let doc = &json_lines(&out)[0];
    assert!(doc.get("footer").is_none(), "only the entries section");
    let entries = doc["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|e| {
        let k = e["key"].as_str().unwrap();
        ("k0100".."k0200").contains(&k)
    }));
    let (_, out, _) = run(BIN, &["--entries", "--json", "--limit", "3", t]);
    assert_eq!(json_lines(&out)[0]["entries"].as_array().unwrap().len(), 3);
    let (_, out, _) = run(BIN, &["--entries", "--hex", "--from", "6b30313030", "--limit", "1", "--json", t]);
    let first = &json_lines(&out)[0]["entries"][0]["key"];
    assert!(first.as_str().unwrap() >= "6b30313030", "{first}");
}

fn bad_inputs(dir: &Path, good: &Path) -> Vec<(PathBuf, &'static str)> {
    let data = std::fs::read(good).unwrap();
    let mut v = Vec::new();
    let mut put = |name: &str, bytes: &[u8], why: &'static str| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        v.push((p, why));
    };
    put("empty.sst", b"", "too short");
    put("garbage.sst", &(0..5000u32).map(|i| (i * 7 + 3) as u8).collect::<Vec<_>>(), "not a kvd table");
    put("half.sst", &data[..data.len() / 2], "not a kvd table");
    put("short-by-one.sst", &data[..data.len() - 1], "");
    put("tiny.sst", &data[data.len() - 10..], "too short");
    v
}

#[test]
fn garbage_empty_and_truncated_files_fail_with_a_message() {
    let tmp = tempfile::tempdir().unwrap();
    engine_tables(tmp.path());
    let good = files_with_suffix(tmp.path(), ".sst").remove(0);
    let bad_dir = tmp.path().join("bad");
    std::fs::create_dir(&bad_dir).unwrap();
    for (path, why) in bad_inputs(&bad_dir, &good) {
        let p = path.to_str().unwrap();
        for extra in [&[][..], &["--verify"], &["--json"]] {
            let mut a = extra.to_vec();
            a.push(p);
            let (code, out, err) = run(BIN, &a);
            assert_eq!(code, 1, "{p} {extra:?}: {out} {err}");
            assert!(err.contains(p) && err.contains(why), "{p}: {err}");
            assert!(!err.contains("panicked"), "{err}");
            if extra == ["--json"] {
                assert_eq!(json_lines(&out)[0]["corruption"], true);
            }
        }
    }
    // A flipped byte in a data block: dumping fails on reaching it, --verify names the offset.
    let flipped = bad_dir.join("flipped.sst");
    std::fs::copy(&good, &flipped).unwrap();
    flip_byte(&flipped, 20);
    let (code, _, err) = run(BIN, &["--entries", flipped.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = run(BIN, &["--verify", flipped.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("flipped.sst") && err.contains("offset 0") && err.contains("checksum"), "{err}");
    // One bad file among good ones: the good one is still shown, the exit code is the worst.
    let (code, out, _) = run(BIN, &["--verify", good.to_str().unwrap(), flipped.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains(": OK"));
    // Usage and I/O errors exit 2.
    assert_eq!(run(BIN, &[bad_dir.join("missing.sst").to_str().unwrap()]).0, 2);
    assert_eq!(run(BIN, &["--limit", "many", good.to_str().unwrap()]).0, 2);
    assert_eq!(run(BIN, &[]).0, 2);
    let (code, out, _) = run(BIN, &["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Exit codes"));
}

#[test]
fn every_truncation_and_flipped_byte_is_an_error_never_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let db = Db::open(tmp.path(), Options::default()).unwrap();
        for i in 0..40u32 {
            db.put(format!("key{i:03}").as_bytes(), b"value").unwrap();
        }
        db.delete(b"key005").unwrap();
        db.flush().unwrap();
        db.close().unwrap();
    }
    let good = files_with_suffix(tmp.path(), ".sst").remove(0);
    let data = std::fs::read(&good).unwrap();
    let fs = kvd::base::fs::MemFs::new();
    let path = Path::new("/t.sst");
    let opts = DumpOptions { encoding: Encoding::Hex, ..Default::default() };
    let check = |bytes: &[u8]| {
        use kvd::base::fs::Fs;
        fs.write_atomic(path, bytes).unwrap();
        let verified = sst_dump::verify(&fs, path);
        if let Ok(t) = sst_dump::open_table(&fs, path) {
            let _ = kvd_tools::sst_dump::TableDump::collect(&t, &opts, true);
        }
        verified.is_ok()
    };
    assert!(check(&data));
    for n in 0..data.len() {
        assert!(!check(&data[..n]), "truncated to {n} bytes must fail");
    }
    for i in 0..data.len() {
        let mut d = data.clone();
        d[i] ^= 0x10;
        assert!(!check(&d), "flipped byte {i} must be caught");
    }
}
