use std::path::PathBuf;

/// Errors of the base layer: I/O, corruption found while decoding, and a locked directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system (or injected) I/O failure.
    #[error("I/O error during {op} on {}: {source}", path.display())]
    Io {
        /// The operation that failed, such as `append` or `sync`.
        op: &'static str,
        /// The file or directory it acted on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Bytes that do not decode or whose checksum does not match.
    #[error("corruption in {file} at offset {offset}: {reason}")]
    Corruption {
        /// The file (or in-memory structure) holding the bad bytes.
        file: String,
        /// Byte offset of the problem within that file.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// Another opener holds the directory's lock file.
    #[error("{} is locked: another process or handle has this database open", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
}

impl Error {
    /// Builds an [`Error::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { op, path: path.into(), source }
    }

    /// Builds an [`Error::Corruption`].
    pub fn corruption(file: impl Into<String>, offset: u64, reason: impl Into<String>) -> Self {
        Error::Corruption { file: file.into(), offset, reason: reason.into() }
    }

    /// True for [`Error::Corruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. })
    }

    /// True when the error came from [`crate::fs::FaultFs`] fault injection.
    pub fn is_injected(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.to_string().contains(crate::fs::INJECTED_FAULT))
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
