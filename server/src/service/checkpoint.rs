//! Admin.Checkpoint: validating the target directory, writing the checkpoint, listing it.
//!
//! A checkpoint writes files on the server's host wherever the request says, so the target
//! is checked strictly before any engine work: an absolute, normalised path (no `.` or `..`,
//! so a prefix check cannot be escaped), not the data directory nor inside it, inside
//! `checkpoint_root` when one is configured, and either missing (with an existing parent) or
//! an empty directory. The engine checks emptiness again when it writes.

use std::path::{Component, Path, PathBuf};

use tonic::Status;

use super::{engine, Shared};
use crate::convert::header;
use crate::proto;
use crate::status::{invalid, status, ErrorKind};

/// Checks `dir` as the module documentation says; returns it as a path.
pub(crate) fn validate_dir(dir: &str, data_dir: &Path, root: Option<&Path>) -> Result<PathBuf, Status> {
    if dir.is_empty() {
        return Err(invalid("dir: required"));
    }
    let path = PathBuf::from(dir);
    if !path.is_absolute() {
        return Err(invalid(format!("dir: {dir:?} is not an absolute path")));
    }
    if path.components().any(|c| matches!(c, Component::CurDir | Component::ParentDir)) {
        return Err(invalid(format!("dir: {dir:?} must not contain `.` or `..` components")));
    }
    let Some(parent) = path.parent() else {
        return Err(invalid(format!("dir: {dir:?} is the file system root")));
    };
    // Resolve symlinks in what exists, so neither check can be dodged through a link.
    let resolved = match std::fs::canonicalize(&path) {
        Ok(p) => p,
        Err(_) => match std::fs::canonicalize(parent) {
            Ok(p) => p.join(path.file_name().unwrap_or_default()),
            Err(e) => return Err(invalid(format!("dir: parent directory {} is not usable: {e}", parent.display()))),
        },
    };
    if let Ok(data) = std::fs::canonicalize(data_dir) {
        if resolved.starts_with(&data) {
            return Err(invalid(format!("dir: {dir:?} is inside the server's data directory {}", data.display())));
        }
    }
    if let Some(root) = root {
        let root = std::fs::canonicalize(root)
            .map_err(|e| status(ErrorKind::Io, format!("checkpoint_root {}: {e}", root.display())))?;
        if !resolved.starts_with(&root) {
            return Err(invalid(format!("dir: {dir:?} is outside the server's checkpoint_root {}", root.display())));
        }
    }
    match std::fs::read_dir(&resolved) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(invalid(format!("dir: {dir:?} exists and is not empty")));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(invalid(format!("dir: {dir:?} is not a usable directory: {e}"))),
    }
    Ok(path)
}

/// Writes a checkpoint of the server's database into `dir` and lists its files.
pub(crate) fn write(s: &Shared, dir: String) -> Result<proto::CheckpointResponse, Status> {
    let path = validate_dir(&dir, &s.config.data_dir, s.config.checkpoint_root.as_deref())?;
    let seq = s.db.checkpoint(&path).map_err(engine)?;
    let mut files = Vec::new();
    let entries = std::fs::read_dir(&path)
        .map_err(|e| status(ErrorKind::Io, format!("listing checkpoint {}: {e}", path.display())))?;
    for entry in entries {
        let entry = entry.map_err(|e| status(ErrorKind::Io, format!("listing checkpoint {}: {e}", path.display())))?;
        let meta = entry.metadata().map_err(|e| status(ErrorKind::Io, format!("{}: {e}", entry.path().display())))?;
        if meta.is_file() {
            files.push(proto::CheckpointFile {
                name: entry.file_name().to_string_lossy().into_owned(),
                size_bytes: meta.len(),
            });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    tracing::info!(dir = %path.display(), seqno = seq, files = files.len(), "checkpoint written");
    Ok(proto::CheckpointResponse { header: header(seq), dir, files })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn target_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let at = |p: &Path| p.display().to_string();
        let check = |dir: &str, root: Option<&Path>| validate_dir(dir, &data, root).map(|_| ());
        check(&at(&tmp.path().join("cp")), None).unwrap();
        let bad = [
            String::new(),
            "relative/cp".into(),
            at(&tmp.path().join("a/../cp")),
            at(&data.join("cp")),
            at(&data),
            at(&tmp.path().join("missing/cp")),
        ];
        for dir in bad {
            assert_eq!(check(&dir, None).unwrap_err().code(), Code::InvalidArgument, "{dir:?}");
        }
        std::fs::create_dir(tmp.path().join("full")).unwrap();
        std::fs::write(tmp.path().join("full/x"), b"x").unwrap();
        assert!(check(&at(&tmp.path().join("full")), None).unwrap_err().message().contains("not empty"));
        std::fs::create_dir(tmp.path().join("empty")).unwrap();
        check(&at(&tmp.path().join("empty")), None).unwrap();
        let root = tmp.path().join("backups");
        std::fs::create_dir(&root).unwrap();
        check(&at(&root.join("cp")), Some(&root)).unwrap();
        assert!(check(&at(&tmp.path().join("cp")), Some(&root)).unwrap_err().message().contains("checkpoint_root"));
    }
}
