//! The error type of `kvd-wal`.

/// Errors of the write-ahead log.
///
/// Corruption found while reading is a [`kvd_base::Error::Corruption`] naming the file and the
/// byte offset, wrapped in [`Error::Base`]; use [`Error::is_corruption`] to test for it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the base layer: I/O or corruption.
    #[error(transparent)]
    Base(#[from] kvd_base::Error),
    /// An earlier append, flush or sync failed, so what reached the disk is unknown. The log
    /// refuses every later write rather than retry: after a failed fsync the kernel may have
    /// dropped the dirty pages and a retry could report success for lost data. Recover by
    /// reopening the database, which replays what is really on disk.
    #[error("write-ahead log is poisoned by an earlier I/O failure and refuses writes; reopen to recover")]
    Poisoned,
    /// The log was closed with [`crate::Wal::close`].
    #[error("write-ahead log is closed")]
    Closed,
    /// [`crate::Wal::rotate`] was asked for a log number not above the current one. Recovery
    /// replays logs in number order, so numbers must increase.
    #[error("new log number {requested} must be greater than the current log number {current}")]
    LogNumberNotIncreasing {
        /// The current log number.
        current: u64,
        /// The number that was asked for.
        requested: u64,
    },
}

impl Error {
    /// True when the error reports corrupt log bytes.
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Base(e) if e.is_corruption())
    }

    /// True for [`Error::Poisoned`].
    pub fn is_poisoned(&self) -> bool {
        matches!(self, Error::Poisoned)
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let c: Error = kvd_base::Error::corruption("000001.log", 7, "bad").into();
        assert!(c.is_corruption());
        assert!(c.to_string().contains("000001.log") && c.to_string().contains('7'));
        assert!(!Error::Poisoned.is_corruption());
        assert!(Error::Poisoned.is_poisoned());
    }
}
