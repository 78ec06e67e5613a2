//! `kvd-admin wal-dump`: the records of one write-ahead log and the write-batch entries in them.

use std::io::{self, Write};
use std::path::Path;

use kvd::base::fs::Fs;
use kvd::wal::LogReader;
use kvd::RecoveryMode;
use serde::Serialize;

use super::manifest_dump::TornTail;
use crate::bytes::Encoding;
use crate::fileio::file_name;
use crate::sst_dump::{text, EntryDump};
use crate::{Error, Result};

/// One log record: a commit group of one or more batches.
#[derive(Debug, Clone, Serialize)]
pub struct RecordDump {
    /// File offset of the record's first fragment.
    pub offset: u64,
    /// Payload bytes.
    pub bytes: usize,
    /// Its entries, sequence numbers ascending.
    pub entries: Vec<EntryDump>,
}

/// What the whole log held.
#[derive(Debug, Clone, Serialize)]
pub struct WalSummary {
    /// The file.
    pub file: String,
    /// Its size in bytes.
    pub size: u64,
    /// Log number from the file header (absent when a torn header was tolerated).
    pub log_number: Option<u64>,
    /// Records read.
    pub records: u64,
    /// Entries in them.
    pub entries: u64,
    /// Sequence numbers covered, when any entry was read.
    pub seqno_range: Option<(u64, u64)>,
    /// Where the recovery mode stopped early without error, and why.
    pub tail_dropped: Option<TornTail>,
}

/// Reads the log at `path` under `mode`, calling `f` on each record in order. A record whose
/// payload is no valid write batch, or damage the mode does not tolerate, ends the walk with
/// a corruption error naming the file and offset (after `f` saw every record before it).
pub fn walk(
    fs: &dyn Fs,
    path: &Path,
    mode: RecoveryMode,
    enc: Encoding,
    mut f: impl FnMut(RecordDump) -> Result<()>,
) -> Result<WalSummary> {
    let size = fs.file_size(path)?;
    let name = file_name(path);
    let mut reader = LogReader::open(fs, path, mode)?;
    let mut s = WalSummary {
        file: path.display().to_string(),
        size,
        log_number: reader.log_number(),
        records: 0,
        entries: 0,
        seqno_range: None,
        tail_dropped: None,
    };
    while let Some(payload) = reader.next_record()? {
        let offset = reader.last_record_offset().unwrap_or(0);
        let logged = kvd::decode_record(&payload, &name, offset)?;
        let mut entries = Vec::with_capacity(logged.len());
        for e in &logged {
            let d = EntryDump::from_stored(&e.key, e.seq, e.kind, &e.value, enc).ok_or_else(|| {
                Error::from(kvd::base::Error::corruption(
                    &name,
                    offset,
                    format!("entry {} is an expiring value without expiry", e.seq),
                ))
            })?;
            let (lo, hi) = s.seqno_range.unwrap_or((e.seq, e.seq));
            s.seqno_range = Some((lo.min(e.seq), hi.max(e.seq)));
            entries.push(d);
        }
        s.records += 1;
        s.entries += entries.len() as u64;
        f(RecordDump { offset, bytes: payload.len(), entries })?;
    }
    s.tail_dropped = reader.tail_dropped().map(|(offset, reason)| TornTail { offset, reason: reason.to_string() });
    Ok(s)
}

/// Parses a recovery mode name as the CLI takes it.
pub fn parse_mode(s: &str) -> std::result::Result<RecoveryMode, String> {
    match s {
        "tolerate-corrupted-tail" | "tolerate" => Ok(RecoveryMode::TolerateCorruptedTail),
        "absolute-consistency" | "absolute" => Ok(RecoveryMode::AbsoluteConsistency),
        "point-in-time" => Ok(RecoveryMode::PointInTime),
        _ => Err(format!("unknown recovery mode {s:?} (tolerate, absolute, point-in-time)")),
    }
}

/// Writes one record for people, values cut at `max_value` characters.
pub fn write_record(out: &mut dyn Write, r: &RecordDump, max_value: usize) -> io::Result<()> {
    writeln!(out, "record at offset {} ({} bytes, {} entries):", r.offset, r.bytes, r.entries.len())?;
    for e in &r.entries {
        text::write_entry(out, e, max_value)?;
    }
    Ok(())
}

/// Writes the summary for people.
pub fn write_summary(out: &mut dyn Write, s: &WalSummary) -> io::Result<()> {
    let number = s.log_number.map_or_else(|| "unknown".to_string(), |n| n.to_string());
    write!(out, "{}: log number {number}, {} bytes, {} records, {} entries", s.file, s.size, s.records, s.entries)?;
    match s.seqno_range {
        Some((lo, hi)) => writeln!(out, ", seqnos {lo}..{hi}")?,
        None => writeln!(out)?,
    }
    if let Some(t) = &s.tail_dropped {
        writeln!(out, "tail dropped at offset {}: {}", t.offset, t.reason)?;
    }
    Ok(())
}
