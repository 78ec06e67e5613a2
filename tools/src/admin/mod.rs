//! What `kvd-admin` does, one module per concern.
//!
//! * [`verify`]: checks a database directory: manifest, every table, every live log, orphans.
//! * [`wal_dump`] and [`manifest_dump`]: print a log's records and a manifest's edits.
//! * [`store`]: the backup directory: a content store of tables shared by every backup, and
//!   one JSON manifest per backup; listing, deleting and garbage collection.
//! * [`query`]: SQL over a database's documents, and its secondary indexes; [`query_remote`]:
//!   the same through a running server.
//! * [`backup`] and [`restore`]: incremental point-in-time backups via `Db::checkpoint`, and
//!   verified restores.
//!
//! [`manifest_log`] decodes the manifest framing (`docs/format/manifest.md`) record by
//! record, which the engine's own reader does not expose.

pub mod backup;
pub mod manifest_dump;
pub mod manifest_log;
pub mod query;
pub mod query_remote;
pub mod restore;
pub mod store;
pub mod verify;
pub mod wal_dump;

use std::path::Path;

use kvd::base::fs::{FileLock, Fs};

use crate::{Error, Result};

/// Takes the lock file `LOCK` of `dir` if it exists (an open database holds it), so nothing
/// opens the database while a tool reads it. A missing `LOCK` is not created.
pub(crate) fn lock_if_present(fs: &dyn Fs, dir: &Path, what: &str) -> Result<Option<Box<dyn FileLock>>> {
    let path = dir.join(kvd::base::file_names::LOCK);
    if !fs.exists(&path) {
        return Ok(None);
    }
    match fs.lock(&path) {
        Ok(l) => Ok(Some(l)),
        Err(kvd::base::Error::Locked { .. }) => {
            Err(Error::Usage(format!("{} is open by a running database; {what}", dir.display())))
        }
        Err(e) => Err(e.into()),
    }
}
