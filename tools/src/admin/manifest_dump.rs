//! `kvd-admin manifest-dump`: every version edit of a manifest, and the state they add up to.

use std::io::{self, Write};
use std::path::Path;

use kvd::base::MAX_SEQNO;
use kvd_lsm::version::{FileMeta, NUM_LEVELS};
use serde::Serialize;

use super::manifest_log::{self, ManifestLog};
use crate::bytes::Encoding;
use crate::fileio::file_name;
use crate::sst_dump::KeyDump;
use crate::Result;

/// A table file as the manifest describes it.
#[derive(Debug, Clone, Serialize)]
pub struct FileDump {
    /// Level.
    pub level: usize,
    /// File number (`NNNNNN.sst`).
    pub number: u64,
    /// Size in bytes.
    pub size: u64,
    /// Smallest internal key.
    pub smallest: KeyDump,
    /// Largest internal key.
    pub largest: KeyDump,
    /// Smallest sequence number.
    pub smallest_seqno: u64,
    /// Largest sequence number.
    pub largest_seqno: u64,
    /// Entries.
    pub entries: u64,
    /// Tombstones.
    pub deletions: u64,
    /// Earliest expiry in milliseconds since the Unix epoch, if any entry expires.
    pub earliest_expiry_ms: Option<u64>,
}

impl FileDump {
    fn new(level: usize, f: &FileMeta, enc: Encoding) -> Self {
        FileDump {
            level,
            number: f.number,
            size: f.file_size,
            smallest: KeyDump::new(&f.smallest, enc),
            largest: KeyDump::new(&f.largest, enc),
            smallest_seqno: f.smallest_seqno,
            largest_seqno: f.largest_seqno,
            entries: f.num_entries,
            deletions: f.num_deletions,
            earliest_expiry_ms: (f.earliest_expiry != 0).then_some(f.earliest_expiry),
        }
    }
}

/// A file removed by an edit.
#[derive(Debug, Clone, Serialize)]
pub struct DeletedFile {
    /// Its level.
    pub level: usize,
    /// Its number.
    pub number: u64,
}

/// One record: where it is and the edit it holds (absent fields are unchanged by it).
#[derive(Debug, Clone, Serialize)]
pub struct EditDump {
    /// File offset of the record.
    pub offset: u64,
    /// Payload bytes.
    pub len: u32,
    /// New log number.
    pub log_number: Option<u64>,
    /// New next file number.
    pub next_file_number: Option<u64>,
    /// New last sequence number.
    pub last_seqno: Option<u64>,
    /// New history floor (`"none"` turns history off).
    pub history_floor: Option<String>,
    /// Files removed.
    pub deleted_files: Vec<DeletedFile>,
    /// Files added.
    pub new_files: Vec<FileDump>,
}

/// The files of one level in the final state.
#[derive(Debug, Clone, Serialize)]
pub struct LevelDump {
    /// Level number.
    pub level: usize,
    /// Total bytes.
    pub bytes: u64,
    /// Its files, in the level's order.
    pub files: Vec<FileDump>,
}

/// Where and why the final record was dropped.
#[derive(Debug, Clone, Serialize)]
pub struct TornTail {
    /// Offset of the dropped record.
    pub offset: u64,
    /// What was wrong with it.
    pub reason: String,
}

/// The state after every record.
#[derive(Debug, Clone, Serialize)]
pub struct StateDump {
    /// Logs numbered below this are flushed.
    pub log_number: u64,
    /// Next file number.
    pub next_file_number: u64,
    /// Last sequence number.
    pub last_seqno: u64,
    /// History floor, if history is kept.
    pub history_floor: Option<u64>,
    /// Non-empty levels.
    pub levels: Vec<LevelDump>,
}

/// A whole manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestDump {
    /// The manifest file's name.
    pub file: String,
    /// Its size.
    pub size: u64,
    /// Every record.
    pub records: Vec<EditDump>,
    /// A torn final record, if any.
    pub torn_tail: Option<TornTail>,
    /// The state the records add up to.
    pub state: StateDump,
}

fn floor(v: u64) -> String {
    if v == MAX_SEQNO {
        "none".to_string()
    } else {
        v.to_string()
    }
}

impl ManifestDump {
    /// Builds the dump of a decoded manifest, rendering keys with `enc`.
    pub fn new(log: &ManifestLog, enc: Encoding) -> Self {
        let records = log
            .records
            .iter()
            .map(|r| EditDump {
                offset: r.offset,
                len: r.len,
                log_number: r.edit.log_number,
                next_file_number: r.edit.next_file_number,
                last_seqno: r.edit.last_seqno,
                history_floor: r.edit.history_floor.map(floor),
                deleted_files: r
                    .edit
                    .deleted_files
                    .iter()
                    .map(|&(level, number)| DeletedFile { level, number })
                    .collect(),
                new_files: r.edit.new_files.iter().map(|(l, f)| FileDump::new(*l, f, enc)).collect(),
            })
            .collect();
        let st = log.state();
        let levels = (0..NUM_LEVELS)
            .filter(|&l| !st.version.files(l).is_empty())
            .map(|l| LevelDump {
                level: l,
                bytes: st.version.level_bytes(l),
                files: st.version.files(l).iter().map(|f| FileDump::new(l, f, enc)).collect(),
            })
            .collect();
        ManifestDump {
            file: log.name.clone(),
            size: log.size,
            records,
            torn_tail: log
                .torn_tail
                .as_ref()
                .map(|(offset, reason)| TornTail { offset: *offset, reason: reason.clone() }),
            state: StateDump {
                log_number: st.log_number,
                next_file_number: st.next_file_number,
                last_seqno: st.last_seqno,
                history_floor: (st.history_floor != MAX_SEQNO).then_some(st.history_floor),
                levels,
            },
        }
    }
}

/// Dumps the manifest at `path`: a database directory (its live manifest, via `CURRENT`) or
/// a `MANIFEST-NNNNNN` file.
pub fn dump(fs: &dyn kvd::base::fs::Fs, path: &Path, enc: Encoding) -> Result<ManifestDump> {
    let log = if fs.exists(&path.join(kvd::base::file_names::CURRENT)) || path.is_dir() {
        manifest_log::read_live(fs, path)?
    } else {
        ManifestLog::decode(&fs.read_all(path)?, &file_name(path))?
    };
    Ok(ManifestDump::new(&log, enc))
}

fn write_file(out: &mut dyn Write, prefix: &str, f: &FileDump) -> io::Result<()> {
    writeln!(
        out,
        "{prefix}L{} #{:06} {} bytes, keys '{}'@{} .. '{}'@{}, seqnos {}..{}, {} entries ({} deletions){}",
        f.level,
        f.number,
        f.size,
        f.smallest.user_key,
        f.smallest.seq,
        f.largest.user_key,
        f.largest.seq,
        f.smallest_seqno,
        f.largest_seqno,
        f.entries,
        f.deletions,
        f.earliest_expiry_ms.map_or_else(String::new, |e| format!(", expiry from {e} ms")),
    )
}

/// Writes `d` for people.
pub fn write_text(out: &mut dyn Write, d: &ManifestDump) -> io::Result<()> {
    writeln!(out, "manifest: {} ({} bytes, {} records)", d.file, d.size, d.records.len())?;
    for (i, r) in d.records.iter().enumerate() {
        writeln!(out, "record {i} at offset {} ({} bytes):", r.offset, r.len)?;
        let fields = [
            ("log number", r.log_number.map(|v| v.to_string())),
            ("next file number", r.next_file_number.map(|v| v.to_string())),
            ("last seqno", r.last_seqno.map(|v| v.to_string())),
            ("history floor", r.history_floor.clone()),
        ];
        for (name, v) in fields {
            if let Some(v) = v {
                writeln!(out, "  {name}: {v}")?;
            }
        }
        for f in &r.deleted_files {
            writeln!(out, "  - delete L{} #{:06}", f.level, f.number)?;
        }
        for f in &r.new_files {
            write_file(out, "  + add ", f)?;
        }
    }
    if let Some(t) = &d.torn_tail {
        writeln!(out, "torn final record at offset {}: {} (ignored, as recovery does)", t.offset, t.reason)?;
    }
    let s = &d.state;
    writeln!(
        out,
        "state: log number {}, next file number {}, last seqno {}",
        s.log_number, s.next_file_number, s.last_seqno
    )?;
    writeln!(out, "  history floor: {}", s.history_floor.map_or_else(|| "none".to_string(), |f| f.to_string()))?;
    for l in &s.levels {
        writeln!(out, "  L{}: {} files, {} bytes", l.level, l.files.len(), l.bytes)?;
        for f in &l.files {
            write_file(out, "    ", f)?;
        }
    }
    Ok(())
}
