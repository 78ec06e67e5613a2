//! Decoding a MANIFEST record by record (format: `docs/format/manifest.md`).
//!
//! The engine's reader replays a manifest into a state; operators also want each edit and
//! where it sits, so this module walks the same framing and applies the same rules: a
//! damaged *final* record is a torn tail (reported, not an error), a damaged record followed
//! by more bytes is corruption naming the file and offset.

use std::path::Path;

use kvd::base::checksum::checksum32;
use kvd::base::coding::{read_u32_at, read_u64_at};
use kvd::base::file_names::{manifest_path, parse_file_name, FileKind, CURRENT};
use kvd::base::format::{MANIFEST_FORMAT_VERSION, MANIFEST_MAGIC};
use kvd::base::fs::Fs;
use kvd_lsm::manifest::ManifestState;
use kvd_lsm::version::VersionEdit;

use crate::{Error, Result};

const HEADER_LEN: usize = 12;
const RECORD_HEADER_LEN: usize = 8;

/// One record of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRecord {
    /// File offset of the record's header.
    pub offset: u64,
    /// Payload length in bytes.
    pub len: u32,
    /// The decoded edit.
    pub edit: VersionEdit,
}

/// A whole manifest, decoded.
#[derive(Debug, Clone)]
pub struct ManifestLog {
    /// The file's name, used in errors.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Every complete, verified record in order.
    pub records: Vec<ManifestRecord>,
    /// When the last record was torn (as a crash mid-append leaves it): its offset and why.
    pub torn_tail: Option<(u64, String)>,
}

impl ManifestLog {
    /// Decodes manifest bytes; `name` names them in errors. Fails on a bad header, on damage
    /// followed by more bytes, on an edit that does not decode, or when no record survives.
    pub fn decode(data: &[u8], name: &str) -> Result<ManifestLog> {
        let bad = |at: usize, reason: String| Error::from(kvd::base::Error::corruption(name, at as u64, reason));
        if read_u64_at(data, 0) != Some(MANIFEST_MAGIC) {
            return Err(bad(0, "bad manifest magic: not a kvd MANIFEST".into()));
        }
        match read_u32_at(data, 8) {
            Some(MANIFEST_FORMAT_VERSION) => {}
            v => return Err(bad(8, format!("unsupported manifest version {v:?}"))),
        }
        let mut log =
            ManifestLog { name: name.to_string(), size: data.len() as u64, records: Vec::new(), torn_tail: None };
        let mut pos = HEADER_LEN;
        while pos < data.len() {
            let (Some(len), Some(sum)) = (read_u32_at(data, pos), read_u32_at(data, pos + 4)) else {
                log.torn_tail = Some((pos as u64, "record header cut by the end of the file".into()));
                break;
            };
            let start = pos + RECORD_HEADER_LEN;
            let Some(end) = start.checked_add(len as usize).filter(|e| *e <= data.len()) else {
                log.torn_tail = Some((pos as u64, format!("record of {len} bytes cut by the end of the file")));
                break;
            };
            let payload = &data[start..end];
            if checksum32(payload) != sum {
                if end == data.len() {
                    log.torn_tail = Some((pos as u64, "checksum mismatch in the final record".into()));
                    break;
                }
                return Err(bad(pos, "manifest record checksum mismatch".into()));
            }
            let edit = VersionEdit::decode(payload).map_err(|e| Error::from(e.in_file(name, start as u64)))?;
            log.records.push(ManifestRecord { offset: pos as u64, len, edit });
            pos = end;
        }
        if log.records.is_empty() {
            return Err(bad(HEADER_LEN, "manifest holds no snapshot record".into()));
        }
        Ok(log)
    }

    /// The state the records describe, as the engine would recover it.
    pub fn state(&self) -> ManifestState {
        let mut state = ManifestState::new_db();
        for r in &self.records {
            state.apply(&r.edit);
        }
        state
    }
}

/// Reads `CURRENT` in `dir` and returns the manifest name it holds and its number.
pub fn read_current(fs: &dyn Fs, dir: &Path) -> Result<(String, u64)> {
    let path = dir.join(CURRENT);
    if !fs.exists(&path) {
        return Err(Error::Usage(format!("{} holds no database (no CURRENT file)", dir.display())));
    }
    let bytes = fs.read_all(&path)?;
    parse_current(&bytes)
}

/// Parses the contents of a `CURRENT` file: a manifest name and a newline.
pub fn parse_current(bytes: &[u8]) -> Result<(String, u64)> {
    let name = std::str::from_utf8(bytes).unwrap_or("").trim_end_matches('\n');
    match parse_file_name(name) {
        Some(FileKind::Manifest(n)) => Ok((name.to_string(), n)),
        _ => Err(Error::from(kvd::base::Error::corruption(
            CURRENT,
            0,
            format!("CURRENT does not name a manifest: {:?}", String::from_utf8_lossy(bytes)),
        ))),
    }
}

/// Reads and decodes the live manifest of the database in `dir`.
pub fn read_live(fs: &dyn Fs, dir: &Path) -> Result<ManifestLog> {
    let (name, number) = read_current(fs, dir)?;
    let data = fs.read_all(&manifest_path(dir, number))?;
    ManifestLog::decode(&data, &name)
}

#[cfg(test)]
mod tests {
    use kvd::base::fs::MemFs;
    use kvd_lsm::manifest::ManifestWriter;
    use kvd_lsm::version::FileMeta;

    use super::*;

    fn meta(n: u64) -> FileMeta {
        FileMeta {
            number: n,
            file_size: 10,
            smallest: b"a\x01\0\0\0\0\0\0\0".to_vec(),
            largest: b"b\x01\0\0\0\0\0\0\0".to_vec(),
            smallest_seqno: 1,
            largest_seqno: 1,
            num_entries: 1,
            num_deletions: 0,
            earliest_expiry: 0,
        }
    }

    #[test]
    fn records_match_the_engine_and_torn_tails_are_reported() {
        let fs = MemFs::new();
        let dir = Path::new("/db");
        fs.create_dir_all(dir).unwrap();
        let mut w = ManifestWriter::create(&fs, dir, 3, &ManifestState::new_db()).unwrap();
        let e1 = VersionEdit { new_files: vec![(0, meta(5))], last_seqno: Some(9), ..Default::default() };
        let e2 = VersionEdit { deleted_files: vec![(0, 5)], new_files: vec![(1, meta(6))], ..Default::default() };
        w.append(&e1).unwrap();
        w.append(&e2).unwrap();
        let log = read_live(&fs, dir).unwrap();
        assert_eq!(log.name, "MANIFEST-000003");
        assert_eq!(log.records.len(), 3);
        assert_eq!(log.records[1].edit, e1);
        assert_eq!(log.records[2].edit, e2);
        assert!(log.torn_tail.is_none());
        let (_, engine) = kvd_lsm::manifest::recover(&fs, dir).unwrap().unwrap();
        assert_eq!(log.state().last_seqno, engine.last_seqno);
        assert_eq!(log.state().version.files(1)[0].number, 6);

        let path = manifest_path(dir, 3);
        let data = fs.read_all(&path).unwrap();
        let torn = ManifestLog::decode(&data[..data.len() - 2], "m").unwrap();
        assert_eq!(torn.records.len(), 2);
        assert_eq!(torn.torn_tail.as_ref().unwrap().0, log.records[2].offset);

        let mut bad = data.clone();
        bad[log.records[1].offset as usize + RECORD_HEADER_LEN] ^= 0xff;
        let e = ManifestLog::decode(&bad, "MANIFEST-000003").unwrap_err();
        assert!(e.is_corruption() && e.to_string().contains("MANIFEST-000003"), "{e}");
        for n in 0..data.len() {
            let _ = ManifestLog::decode(&data[..n], "m");
        }
        assert!(parse_current(b"garbage\n").is_err());
    }
}
