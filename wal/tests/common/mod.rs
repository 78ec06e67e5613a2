//! Helpers shared by the integration tests. Each test file uses a different subset.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kvd_base::file_names::wal_path;
use kvd_base::fs::{Fs, FsRef, MemFs};
use kvd_wal::{LogReader, RecoveryMode, SyncPolicy, Wal};

/// The database directory used by every test.
pub const DIR: &str = "/db";

/// Every recovery mode.
pub const MODES: [RecoveryMode; 3] =
    [RecoveryMode::TolerateCorruptedTail, RecoveryMode::AbsoluteConsistency, RecoveryMode::PointInTime];

pub fn dir() -> &'static Path {
    Path::new(DIR)
}

pub fn log_path(n: u64) -> PathBuf {
    wal_path(dir(), n)
}

/// A fresh MemFs with the database directory.
pub fn mem_fs() -> Arc<MemFs> {
    let fs = Arc::new(MemFs::new());
    fs.create_dir_all(dir()).unwrap();
    fs
}

/// Log 1 on `fs` under `policy`, without preallocation, so the file's size is what was
/// written and tests can find records by it.
pub fn create_wal(fs: FsRef, policy: SyncPolicy) -> Wal {
    Wal::create_with_preallocation(fs, dir(), 1, policy, 0).unwrap()
}

/// Log 1 on `fs` under `policy`, reserving space `step` bytes at a time.
pub fn create_preallocated_wal(fs: FsRef, policy: SyncPolicy, step: u64) -> Wal {
    Wal::create_with_preallocation(fs, dir(), 1, policy, step).unwrap()
}

/// A deterministic payload, distinct for each `seed`.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Every record of log `n` under `mode`, with the reader (for `tail_dropped`).
pub fn read_log(fs: &dyn Fs, n: u64, mode: RecoveryMode) -> kvd_wal::Result<(Vec<Vec<u8>>, LogReader)> {
    let mut r = LogReader::open(fs, &log_path(n), mode)?;
    let mut out = Vec::new();
    while let Some(p) = r.next_record()? {
        out.push(p);
    }
    Ok((out, r))
}

/// Every record of an in-memory log under `mode`.
pub fn read_bytes(data: &[u8], mode: RecoveryMode) -> kvd_wal::Result<(Vec<Vec<u8>>, LogReader)> {
    let mut r = LogReader::new(data.to_vec(), "test.log", mode)?;
    let mut out = Vec::new();
    while let Some(p) = r.next_record()? {
        out.push(p);
    }
    Ok((out, r))
}

/// The file and offset of a corruption error; panics on any other error.
pub fn corruption_at(e: &kvd_wal::Error) -> (String, u64) {
    match e {
        kvd_wal::Error::Base(kvd_base::Error::Corruption { file, offset, .. }) => (file.clone(), *offset),
        other => panic!("expected a corruption error, got: {other}"),
    }
}
