/// Errors of compaction execution.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the table layer (I/O or corruption in an input).
    #[error(transparent)]
    Lsm(#[from] kvd_lsm::Error),
    /// An error of the base layer.
    #[error(transparent)]
    Base(#[from] kvd_lsm::base::Error),
}

impl Error {
    /// True when an input file was found corrupt.
    pub fn is_corruption(&self) -> bool {
        match self {
            Error::Lsm(e) => e.is_corruption(),
            Error::Base(e) => e.is_corruption(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
