//! Writing manifests and switching `CURRENT` to them.

use std::path::{Path, PathBuf};

use kvd_base::checksum::checksum32;
use kvd_base::coding::{put_u32, put_u64};
use kvd_base::file_names::{manifest_path, CURRENT};
use kvd_base::format::{MANIFEST_FORMAT_VERSION, MANIFEST_MAGIC};
use kvd_base::fs::{Fs, WritableFile};

use super::ManifestState;
use crate::version::VersionEdit;
use crate::Result;

/// The open manifest being appended to. Not thread-safe: the engine serialises edits.
pub struct ManifestWriter {
    file: Box<dyn WritableFile>,
    number: u64,
    path: PathBuf,
}

impl ManifestWriter {
    /// Creates manifest `number` in `dir` holding a snapshot of `state`, syncs it, then points
    /// `CURRENT` at it atomically (temp file, fsync, rename, fsync directory). When this
    /// returns, a crash at any later moment recovers `state` or something newer.
    pub fn create(fs: &dyn Fs, dir: &Path, number: u64, state: &ManifestState) -> Result<Self> {
        let path = manifest_path(dir, number);
        let mut file = fs.create(&path)?;
        let mut header = Vec::with_capacity(super::HEADER_LEN);
        put_u64(&mut header, MANIFEST_MAGIC);
        put_u32(&mut header, MANIFEST_FORMAT_VERSION);
        file.append(&header)?;
        let mut w = ManifestWriter { file, number, path };
        w.append(&state.snapshot_edit())?;
        fs.sync_dir(dir)?;
        let name = format!("MANIFEST-{number:06}\n");
        fs.write_atomic(&dir.join(CURRENT), name.as_bytes())?;
        Ok(w)
    }

    /// Appends `edit` and syncs it. On error the manifest must be considered broken: the
    /// engine stops writing (it is poisoned) rather than acting on an edit that may be lost.
    pub fn append(&mut self, edit: &VersionEdit) -> Result<()> {
        let mut payload = Vec::new();
        edit.encode(&mut payload);
        let mut rec = Vec::with_capacity(payload.len() + super::RECORD_HEADER_LEN);
        put_u32(&mut rec, payload.len() as u32);
        put_u32(&mut rec, checksum32(&payload));
        rec.extend_from_slice(&payload);
        self.file.append(&rec)?;
        self.file.sync()?;
        Ok(())
    }

    /// The manifest's file number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Bytes written so far (the engine starts a fresh manifest when this grows large).
    pub fn size(&self) -> u64 {
        self.file.len()
    }

    /// The manifest's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
