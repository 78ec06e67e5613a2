//! `kvd-admin verify`: is a database directory intact?
//!
//! Checks, in order: `CURRENT` and the manifest (framing, checksums, edits); the version's
//! level invariants (each file once, L1+ key ranges sorted and disjoint); every live table
//! (present, size as recorded, every block checksum, key order, properties agreeing with the
//! manifest); every live write-ahead log (records and batches decode, as recovery reads
//! them). Problems make the database unhealthy; files the engine would delete at its next
//! open (orphan tables, obsolete logs and manifests, temporary files) and torn tails that
//! recovery tolerates are warnings.

use std::collections::HashSet;
use std::path::Path;

use kvd::base::file_names::{parse_file_name, table_path, FileKind};
use kvd::base::fs::Fs;
use kvd::RecoveryMode;
use kvd_lsm::sstable::TableProperties;
use kvd_lsm::version::FileMeta;
use serde::Serialize;

use super::manifest_log::{self, ManifestLog};
use super::wal_dump;
use crate::bytes::Encoding;
use crate::progress::Progress;
use crate::{sst_dump, Error, Result};

/// One thing found wrong (or worth a warning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file concerned.
    pub file: String,
    /// Byte offset within it, when known.
    pub offset: Option<u64>,
    /// What is wrong.
    pub what: String,
}

impl Problem {
    fn new(file: impl Into<String>, what: impl Into<String>) -> Self {
        Problem { file: file.into(), offset: None, what: what.into() }
    }

    /// The problem an error reports: corruption keeps its file and offset; any other error
    /// is attributed to `file`.
    pub fn from_error(e: &Error, file: &str) -> Self {
        match base_error(e) {
            Some(kvd::base::Error::Corruption { file, offset, reason }) => {
                Problem { file: file.clone(), offset: Some(*offset), what: reason.clone() }
            }
            _ => Problem::new(file, e.to_string()),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.offset {
            Some(o) => write!(f, "{} at offset {o}: {}", self.file, self.what),
            None => write!(f, "{}: {}", self.file, self.what),
        }
    }
}

/// The base-layer error inside `e`, if there is one.
fn base_error(e: &Error) -> Option<&kvd::base::Error> {
    match e {
        Error::Base(b) => Some(b),
        Error::Lsm(kvd_lsm::Error::Base(b)) => Some(b),
        Error::Wal(kvd::wal::Error::Base(b)) => Some(b),
        Error::Kvd(kvd::Error::Base(b)) => Some(b),
        Error::Kvd(kvd::Error::Lsm(kvd_lsm::Error::Base(b))) => Some(b),
        Error::Kvd(kvd::Error::Wal(kvd::wal::Error::Base(b))) => Some(b),
        _ => None,
    }
}

/// What `verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DbReport {
    /// The database directory.
    pub dir: String,
    /// The live manifest, when `CURRENT` names one.
    pub manifest: Option<String>,
    /// Last sequence number the manifest records.
    pub last_seqno: Option<u64>,
    /// Tables verified block by block.
    pub tables_checked: u64,
    /// Write-ahead logs read.
    pub logs_checked: u64,
    /// Entries found in tables and logs.
    pub entries_checked: u64,
    /// Bytes of tables and logs read.
    pub bytes_checked: u64,
    /// What makes the database unhealthy.
    pub problems: Vec<Problem>,
    /// What is unusual but harmless (the engine cleans it up or tolerates it).
    pub warnings: Vec<Problem>,
}

impl DbReport {
    /// True when no problem was found.
    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies the database in `dir` (which must not be open: its lock is taken when present).
/// Fails only when there is nothing to verify (no directory, no `CURRENT`) or it is in use;
/// everything found wrong is in the report.
pub fn verify_db(fs: &dyn Fs, dir: &Path, progress: &Progress) -> Result<DbReport> {
    if !fs.exists(dir) {
        return Err(Error::Usage(format!("{} does not exist", dir.display())));
    }
    let _lock = super::lock_if_present(fs, dir, "stop it first, or verify a checkpoint or a backup of it")?;
    let names = fs.list_dir(dir)?;
    let mut r = DbReport { dir: dir.display().to_string(), ..Default::default() };
    let log = match manifest_log::read_live(fs, dir) {
        Ok(log) => Some(log),
        Err(e @ Error::Usage(_)) => return Err(e),
        Err(e) => {
            r.problems.push(Problem::from_error(&e, "CURRENT"));
            None
        }
    };
    let (live, log_number) = match &log {
        Some(log) => check_manifest(log, &mut r),
        None => (Vec::new(), u64::MAX),
    };
    let live_numbers: HashSet<u64> = live.iter().map(|(_, f)| f.number).collect();

    let mut logs = Vec::new();
    let mut unlisted_tables = Vec::new();
    for name in &names {
        let warn = |what: &str| Problem::new(dir.join(name).display().to_string(), what);
        match parse_file_name(name) {
            Some(FileKind::Table(n)) if !live_numbers.contains(&n) => {
                if log.is_some() {
                    r.warnings.push(warn("table not in the manifest (an orphan; the engine deletes it at open)"));
                }
                unlisted_tables.push(n);
            }
            Some(FileKind::Wal(n)) if n >= log_number || log.is_none() => logs.push(n),
            Some(FileKind::Wal(_)) => r.warnings.push(warn("obsolete log, already flushed (deleted at open)")),
            Some(FileKind::Manifest(_)) if log.as_ref().is_some_and(|l| l.name != *name) => {
                r.warnings.push(warn("obsolete manifest (deleted at open)"));
            }
            Some(FileKind::Temp) => r.warnings.push(warn("temporary file (deleted at open)")),
            None => r.warnings.push(warn("not a kvd file")),
            _ => {}
        }
    }

    let size = |p: &Path| fs.file_size(p).unwrap_or(0);
    let mut total: u64 = live.iter().map(|(_, f)| size(&table_path(dir, f.number))).sum();
    total += logs.iter().map(|n| size(&kvd::base::file_names::wal_path(dir, *n))).sum::<u64>();
    if log.is_none() {
        total += unlisted_tables.iter().map(|n| size(&table_path(dir, *n))).sum::<u64>();
    }
    progress.start("verify", total);
    for (_, meta) in &live {
        check_table(fs, dir, meta.number, Some(meta), &mut r, progress);
    }
    if log.is_none() {
        // Without a manifest, still check every table found: the damage may be wider.
        for n in unlisted_tables {
            check_table(fs, dir, n, None, &mut r, progress);
        }
    }
    for n in logs {
        check_log(fs, &kvd::base::file_names::wal_path(dir, n), &mut r, progress);
    }
    progress.finish();
    Ok(r)
}

/// Records the manifest's own problems; returns the live files and the log number.
fn check_manifest(log: &ManifestLog, r: &mut DbReport) -> (Vec<(usize, FileMeta)>, u64) {
    r.manifest = Some(log.name.clone());
    if let Some((offset, reason)) = &log.torn_tail {
        r.warnings.push(Problem {
            file: log.name.clone(),
            offset: Some(*offset),
            what: format!("torn final record ignored, as recovery does: {reason}"),
        });
    }
    let state = log.state();
    r.last_seqno = Some(state.last_seqno);
    if let Err(what) = state.version.check_invariants() {
        r.problems.push(Problem::new(&log.name, what));
    }
    let mut seen = HashSet::new();
    let mut live = Vec::new();
    for (level, f) in state.version.all_files() {
        if !seen.insert(f.number) {
            r.problems.push(Problem::new(&log.name, format!("table {:06} is listed twice", f.number)));
        }
        if level > 0 && f.smallest_user_key() > f.largest_user_key() {
            r.problems.push(Problem::new(&log.name, format!("table {:06}: smallest key above largest", f.number)));
        }
        live.push((level, (**f).clone()));
    }
    (live, state.log_number)
}

/// Verifies table `number`, comparing it with its manifest entry when given.
fn check_table(fs: &dyn Fs, dir: &Path, number: u64, meta: Option<&FileMeta>, r: &mut DbReport, p: &Progress) {
    let path = table_path(dir, number);
    let file = path.display().to_string();
    if !fs.exists(&path) {
        r.problems.push(Problem::new(&file, "named by the manifest but missing"));
        return;
    }
    let size = fs.file_size(&path).unwrap_or(0);
    if let Some(m) = meta.filter(|m| m.file_size != size) {
        r.problems.push(Problem::new(&file, format!("{size} bytes, the manifest says {}", m.file_size)));
    }
    let checked = sst_dump::open_table(fs, &path).and_then(|t| Ok((t.verify()?, t)));
    match checked {
        Ok((v, t)) => {
            r.tables_checked += 1;
            r.entries_checked += v.entries;
            if let Some(what) = meta.and_then(|m| compare_meta(t.properties(), m)) {
                r.problems.push(Problem::new(&file, what));
            }
        }
        Err(e) => r.problems.push(Problem::from_error(&e, &file)),
    }
    r.bytes_checked += size;
    p.inc(size);
}

/// How table properties disagree with the manifest's record of them, if they do.
fn compare_meta(p: &TableProperties, m: &FileMeta) -> Option<String> {
    let fields = [
        ("smallest key", p.smallest_key == m.smallest),
        ("largest key", p.largest_key == m.largest),
        ("smallest seqno", p.smallest_seqno == m.smallest_seqno),
        ("largest seqno", p.largest_seqno == m.largest_seqno),
        ("entry count", p.num_entries == m.num_entries),
        ("deletion count", p.num_deletions == m.num_deletions),
    ];
    let bad: Vec<&str> = fields.iter().filter(|(_, ok)| !ok).map(|(n, _)| *n).collect();
    (!bad.is_empty()).then(|| format!("the manifest records a different {} than the table holds", bad.join(", ")))
}

/// Reads a live log as recovery would.
fn check_log(fs: &dyn Fs, path: &Path, r: &mut DbReport, p: &Progress) {
    let file = path.display().to_string();
    let size = fs.file_size(path).unwrap_or(0);
    match wal_dump::walk(fs, path, RecoveryMode::TolerateCorruptedTail, Encoding::Hex, |_| Ok(())) {
        Ok(s) => {
            r.logs_checked += 1;
            r.entries_checked += s.entries;
            if let Some(t) = s.tail_dropped {
                r.warnings.push(Problem {
                    file,
                    offset: Some(t.offset),
                    what: format!("torn tail that recovery drops: {}", t.reason),
                });
            }
        }
        Err(e) => r.problems.push(Problem::from_error(&e, &file)),
    }
    r.bytes_checked += size;
    p.inc(size);
}
