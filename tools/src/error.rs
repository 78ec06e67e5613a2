//! The tools' error type and the exit codes it maps to.

use std::path::PathBuf;

/// Exit code: success (a verification found nothing wrong).
pub const EXIT_OK: u8 = 0;
/// Exit code: corruption found, or a verification failed.
pub const EXIT_CORRUPT: u8 = 1;
/// Exit code: bad usage or an I/O error (missing file, permission, locked database).
pub const EXIT_USAGE: u8 = 2;

/// Errors of the tools. Corruption always names the file (and the offset when known).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the engine.
    #[error(transparent)]
    Kvd(#[from] kvd::Error),
    /// An error of the LSM structures (table reader, manifest).
    #[error(transparent)]
    Lsm(#[from] kvd_lsm::Error),
    /// An error of the write-ahead log reader.
    #[error(transparent)]
    Wal(#[from] kvd::wal::Error),
    /// An error of the base layer: I/O, corruption, a locked directory.
    #[error(transparent)]
    Base(#[from] kvd::base::Error),
    /// Bytes that do not match their recorded checksum or size, found by the tools themselves
    /// (in a backup store, say).
    #[error("corruption in {file}: {reason}")]
    Corrupt {
        /// The damaged file.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request cannot be carried out as asked (bad argument, non-empty target, ...).
    #[error("{0}")]
    Usage(String),
    /// Writing the tool's output failed (a closed pipe, a full disk).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    /// A JSON file that does not parse.
    #[error("cannot parse {}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// True when the error reports damaged bytes in a file.
    pub fn is_corruption(&self) -> bool {
        match self {
            Error::Kvd(e) => e.is_corruption(),
            Error::Lsm(e) => e.is_corruption(),
            Error::Wal(e) => e.is_corruption(),
            Error::Base(e) => e.is_corruption(),
            Error::Corrupt { .. } | Error::Json { .. } => true,
            Error::Usage(_) | Error::Output(_) => false,
        }
    }

    /// The process exit code for this error: [`EXIT_CORRUPT`] for corruption, else [`EXIT_USAGE`].
    pub fn exit_code(&self) -> u8 {
        if self.is_corruption() {
            EXIT_CORRUPT
        } else {
            EXIT_USAGE
        }
    }

    pub(crate) fn corrupt(file: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Corrupt { file: file.into(), reason: reason.into() }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
