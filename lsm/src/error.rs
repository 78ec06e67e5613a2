/// Errors of the LSM structures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the base layer: I/O, corruption, or a locked directory.
    #[error(transparent)]
    Base(#[from] kvd_base::Error),
    /// A caller broke a documented requirement, such as adding keys out of order.
    #[error("invalid use: {0}")]
    InvalidArgument(String),
}

impl Error {
    /// True when the error reports bad bytes in a file.
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Base(e) if e.is_corruption())
    }

    /// Builds a corruption error naming `file` and `offset`.
    pub fn corruption(file: impl Into<String>, offset: u64, reason: impl Into<String>) -> Self {
        Error::Base(kvd_base::Error::corruption(file, offset, reason))
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
