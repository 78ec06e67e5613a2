//! Helpers shared by the tools' integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use kvd::{Db, Options, ReadOptions};

/// Options that make small tables quickly: many flushes, several files.
pub fn small_opts() -> Options {
    Options { write_buffer_size: 32 << 10, ..Options::default() }
}

/// Every `(key, value)` visible at `seqno` (the latest when `None`).
pub fn scan_at(db: &Db, seqno: Option<u64>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut it = db.iter(&ReadOptions { seqno, ..Default::default() });
    it.seek_to_first();
    let mut out = Vec::new();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.next();
    }
    it.status().expect("scan");
    out
}

/// Sorted paths of the files in `dir` whose names end with `suffix`.
pub fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(suffix)))
        .collect();
    v.sort();
    v
}

/// XORs the byte at `offset` of `path` with `0x55`.
pub fn flip_byte(path: &Path, offset: usize) {
    let mut data = std::fs::read(path).expect("read");
    data[offset] ^= 0x55;
    std::fs::write(path, data).expect("write");
}

/// Writes `n` keys `key{i:06}` with values of about `len` bytes, flushing at the end.
pub fn fill(db: &Db, range: std::ops::Range<u32>, len: usize) {
    for i in range {
        let v = format!("value-{i}-").repeat(len / 8 + 1);
        db.put(format!("key{i:06}").as_bytes(), &v.as_bytes()[..len]).expect("put");
    }
    db.flush().expect("flush");
}

/// Runs a built binary, returning exit code, stdout and stderr.
pub fn run(bin: &str, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(bin).args(args).output().expect("spawn");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
