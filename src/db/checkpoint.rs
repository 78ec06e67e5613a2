//! Checkpoints: an openable copy of the database taken while it runs.
//!
//! Cost: one memtable flush, then a hard link per live table (a copy where links are
//! impossible, such as across file systems) and a small new manifest. Writers are never
//! blocked beyond the flush's usual effect; the manifest lock is held only while linking.

use std::path::Path;
use std::sync::atomic::Ordering;

use kvd_base::file_names::table_path;
use kvd_base::SeqNo;
use kvd_lsm::manifest::{ManifestState, ManifestWriter};

use super::Db;
use crate::{Error, Result};

impl Db {
    /// Writes a consistent, openable copy of the database into `dir` (which must not exist or
    /// be empty) and returns its sequence number: the copy holds exactly the writes with
    /// sequence numbers up to it. Table files are hard-linked, so a checkpoint costs little
    /// space until the source compacts those files away.
    pub fn checkpoint(&self, dir: &Path) -> Result<SeqNo> {
        let inner = &self.inner;
        let fs = &inner.fs;
        if fs.exists(dir) && !fs.list_dir(dir)?.is_empty() {
            return Err(Error::InvalidArgument(format!("checkpoint directory {} is not empty", dir.display())));
        }
        fs.create_dir_all(dir)?;
        self.flush()?;
        let vs = inner.vs.lock();
        let seq = inner.flushed_seq.load(Ordering::SeqCst);
        for (_, f) in vs.state.version.all_files() {
            fs.hard_link(&table_path(&inner.dir, f.number), &table_path(dir, f.number))?;
        }
        let next = vs.state.next_file_number.max(inner.next_file_number.load(Ordering::SeqCst));
        let state = ManifestState {
            version: vs.state.version.clone(),
            log_number: next,
            next_file_number: next + 1,
            last_seqno: seq,
            history_floor: vs.state.history_floor,
            edits: 0,
        };
        drop(vs);
        fs.sync_dir(dir)?;
        ManifestWriter::create(&**fs, dir, next, &state)?;
        Ok(seq)
    }
}
