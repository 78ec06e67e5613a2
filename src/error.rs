//! The engine's error type.

/// Errors returned by the embedding API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request itself was bad (empty or oversized key, oversized value, bad range, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Another opener holds the database directory.
    #[error("database is locked: {0}")]
    Locked(String),
    /// The database is closed or closing.
    #[error("database is closed")]
    Closed,
    /// A write or background operation failed in a way that may have lost data in flight
    /// (for example a failed fsync); the database refuses further writes until reopened.
    #[error("database is poisoned and refuses writes: {0}")]
    Poisoned(String),
    /// An optimistic transaction lost to a conflicting commit; nothing was applied.
    #[error("transaction conflict: {0}")]
    Conflict(String),
    /// A transaction outlived its timeout; nothing it wrote was applied.
    #[error("transaction expired: {0}")]
    TransactionExpired(String),
    /// A typed operation met a key holding another type; nothing was changed.
    #[error("wrong type: {0}")]
    WrongType(String),
    /// A document write would give two documents equal values in a unique index; nothing
    /// was written.
    #[error("unique index {index} already holds ({value}) for document {existing:?}; nothing was written")]
    UniqueViolation {
        /// The index, as `namespace.name`.
        index: String,
        /// The duplicated values, as JSON.
        value: String,
        /// The key of the document that already holds them.
        existing: String,
    },
    /// Something that must be new already exists (an index of that name in the namespace);
    /// nothing was changed.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// A missing key where one was required.
    #[error("not found: {0}")]
    NotFound(String),
    /// An error of the base layer (I/O, corruption).
    #[error(transparent)]
    Base(#[from] kvd_base::Error),
    /// An error of the write-ahead log.
    #[error(transparent)]
    Wal(#[from] kvd_wal::Error),
    /// An error of a compaction run.
    #[error(transparent)]
    Compaction(#[from] kvd_compaction::Error),
    /// An error of the LSM structures.
    #[error(transparent)]
    Lsm(#[from] kvd_lsm::Error),
}

impl Error {
    /// True when the error reports bad bytes in a file (the message names file and offset).
    pub fn is_corruption(&self) -> bool {
        match self {
            Error::Base(e) => e.is_corruption(),
            Error::Wal(e) => e.is_corruption(),
            Error::Lsm(e) => e.is_corruption(),
            Error::Compaction(e) => e.is_corruption(),
            _ => false,
        }
    }

    /// True when the error came from an injected test fault.
    pub fn is_injected(&self) -> bool {
        self.to_string().contains(kvd_base::fs::INJECTED_FAULT)
    }

    pub(crate) fn corruption(file: impl Into<String>, offset: u64, reason: impl Into<String>) -> Self {
        Error::Base(kvd_base::Error::corruption(file, offset, reason))
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
