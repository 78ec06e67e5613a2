//! Reading `CURRENT` and replaying the manifest it names.

use std::path::Path;
use std::sync::Arc;

use kvd_base::checksum::checksum32;
use kvd_base::coding::{read_u32_at, read_u64_at};
use kvd_base::file_names::{manifest_path, parse_file_name, FileKind, CURRENT};
use kvd_base::format::{MANIFEST_FORMAT_VERSION, MANIFEST_MAGIC};
use kvd_base::fs::Fs;

use super::{HEADER_LEN, RECORD_HEADER_LEN};
use crate::version::{Version, VersionEdit};
use crate::{Error, Result};

/// The state a manifest describes: the live files and the engine's counters.
#[derive(Debug, Clone)]
pub struct ManifestState {
    /// The live files.
    pub version: Arc<Version>,
    /// Logs numbered below this are fully flushed.
    pub log_number: u64,
    /// Next file number to allocate.
    pub next_file_number: u64,
    /// Last sequence number covered by tables and logs.
    pub last_seqno: u64,
    /// Versions newer than this are kept by compaction (`MAX_SEQNO`: no history is kept
    /// beyond live snapshots).
    pub history_floor: u64,
    /// Number of edits replayed (informational).
    pub edits: u64,
}

impl ManifestState {
    /// The state of a brand-new database.
    pub fn new_db() -> Self {
        ManifestState {
            version: Arc::new(Version::empty()),
            log_number: 0,
            next_file_number: 1,
            last_seqno: 0,
            history_floor: kvd_base::MAX_SEQNO,
            edits: 0,
        }
    }

    /// Applies one edit.
    pub fn apply(&mut self, edit: &VersionEdit) {
        self.version = Arc::new(self.version.apply(edit));
        if let Some(n) = edit.log_number {
            self.log_number = n;
        }
        if let Some(n) = edit.next_file_number {
            self.next_file_number = n;
        }
        if let Some(n) = edit.last_seqno {
            self.last_seqno = n;
        }
        if let Some(n) = edit.history_floor {
            self.history_floor = n;
        }
        self.edits += 1;
    }

    /// One edit that recreates this whole state.
    pub fn snapshot_edit(&self) -> VersionEdit {
        VersionEdit {
            log_number: Some(self.log_number),
            next_file_number: Some(self.next_file_number),
            last_seqno: Some(self.last_seqno),
            history_floor: Some(self.history_floor),
            ..self.version.snapshot_edit()
        }
    }
}

/// Reads `CURRENT` in `dir` and replays the manifest it names. Returns the manifest's number
/// and the recovered state, or `Ok(None)` when there is no `CURRENT` (no database).
pub fn recover(fs: &dyn Fs, dir: &Path) -> Result<Option<(u64, ManifestState)>> {
    let current_path = dir.join(CURRENT);
    if !fs.exists(&current_path) {
        return Ok(None);
    }
    let current = fs.read_all(&current_path)?;
    let name = std::str::from_utf8(&current).unwrap_or("").trim_end_matches('\n');
    let Some(FileKind::Manifest(number)) = parse_file_name(name) else {
        return Err(Error::corruption(CURRENT, 0, format!("CURRENT does not name a manifest: {name:?}")));
    };
    let path = manifest_path(dir, number);
    let data = fs.read_all(&path)?;
    let state = replay(&data, name)?;
    Ok(Some((number, state)))
}

/// Replays manifest bytes; `file` names them in errors.
pub fn replay(data: &[u8], file: &str) -> Result<ManifestState> {
    if read_u64_at(data, 0) != Some(MANIFEST_MAGIC) {
        return Err(Error::corruption(file, 0, "bad manifest magic"));
    }
    match read_u32_at(data, 8) {
        Some(MANIFEST_FORMAT_VERSION) => {}
        v => return Err(Error::corruption(file, 8, format!("unsupported manifest version {v:?}"))),
    }
    let mut state = ManifestState::new_db();
    let mut pos = HEADER_LEN;
    while pos < data.len() {
        let (Some(len), Some(sum)) = (read_u32_at(data, pos), read_u32_at(data, pos + 4)) else {
            break; // torn record header at the tail
        };
        let start = pos + RECORD_HEADER_LEN;
        let Some(end) = start.checked_add(len as usize).filter(|e| *e <= data.len()) else {
            break; // torn payload at the tail
        };
        let payload = &data[start..end];
        if checksum32(payload) != sum {
            if end == data.len() {
                break; // the final record was torn mid-write
            }
            return Err(Error::corruption(file, pos as u64, "manifest record checksum mismatch"));
        }
        let edit = VersionEdit::decode(payload).map_err(|e| e.in_file(file, start as u64))?;
        state.apply(&edit);
        pos = end;
    }
    if state.edits == 0 {
        return Err(Error::corruption(file, HEADER_LEN as u64, "manifest holds no snapshot record"));
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use kvd_base::fs::MemFs;

    use super::*;
    use crate::manifest::ManifestWriter;
    use crate::version::FileMeta;

    fn file(n: u64) -> FileMeta {
        FileMeta {
            number: n,
            file_size: 10,
            smallest: b"a\x01\0\0\0\0\0\0\0".to_vec(),
            largest: b"b\x01\0\0\0\0\0\0\0".to_vec(),
            smallest_seqno: 0,
            largest_seqno: 0,
            num_entries: 1,
            num_deletions: 0,
            earliest_expiry: 0,
        }
    }

    #[test]
    fn write_recover_and_torn_tail() {
        let fs = MemFs::new();
        let dir = Path::new("/db");
        fs.create_dir_all(dir).unwrap();
        assert!(recover(&fs, dir).unwrap().is_none());
        let mut w = ManifestWriter::create(&fs, dir, 1, &ManifestState::new_db()).unwrap();
        w.append(&VersionEdit { new_files: vec![(0, file(5))], last_seqno: Some(7), ..Default::default() }).unwrap();
        w.append(&VersionEdit { new_files: vec![(0, file(6))], ..Default::default() }).unwrap();
        let (n, st) = recover(&fs, dir).unwrap().unwrap();
        assert_eq!(n, 1);
        assert_eq!(st.version.files(0).len(), 2);
        assert_eq!(st.last_seqno, 7);

        // Cut the last record anywhere: the state before it comes back.
        let path = manifest_path(dir, 1);
        let full = fs.file_size(&path).unwrap() as usize;
        fs.truncate(&path, full - 3).unwrap();
        let (_, st) = recover(&fs, dir).unwrap().unwrap();
        assert_eq!(st.version.files(0).len(), 1);
    }

    #[test]
    fn mid_file_corruption_is_an_error() {
        let fs = MemFs::new();
        let dir = Path::new("/db");
        fs.create_dir_all(dir).unwrap();
        let mut w = ManifestWriter::create(&fs, dir, 1, &ManifestState::new_db()).unwrap();
        w.append(&VersionEdit { new_files: vec![(0, file(5))], ..Default::default() }).unwrap();
        fs.mutate_byte(&manifest_path(dir, 1), HEADER_LEN + RECORD_HEADER_LEN + 1, |b| b ^ 0xff).unwrap();
        let err = recover(&fs, dir).unwrap_err();
        assert!(err.is_corruption(), "{err}");
        assert!(err.to_string().contains("MANIFEST-000001"), "{err}");
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..64 {
            let mut data: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
            let _ = replay(&data, "m");
            if data.len() > 12 {
                data[..8].copy_from_slice(&MANIFEST_MAGIC.to_le_bytes());
                data[8..12].copy_from_slice(&MANIFEST_FORMAT_VERSION.to_le_bytes());
                let _ = replay(&data, "m");
            }
        }
    }
}
