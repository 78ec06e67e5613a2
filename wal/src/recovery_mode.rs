//! [`RecoveryMode`]: what a [`crate::LogReader`] does with damage.

/// How a [`crate::LogReader`] treats bad or incomplete records, after RocksDB's
/// `WALRecoveryMode`. `docs/format/wal.md` has the full rules; in short:
///
/// | damage | `TolerateCorruptedTail` | `AbsoluteConsistency` | `PointInTime` |
/// | --- | --- | --- | --- |
/// | torn tail (nothing valid after it) | end of log | error | end of log |
/// | bad record with a valid record after it | error | error | end of log |
///
/// Whatever the mode, a fragmented payload is returned whole or not at all, and a file whose
/// header names another format or is not a kvd log is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// A crash while appending can only damage the end of the log, so an incomplete or
    /// garbled tail with no valid record after it is dropped (see
    /// [`crate::LogReader::tail_dropped`]); damage followed by a valid record means bytes
    /// that were once durable have changed, and that is an error naming file and offset.
    /// The right default: it accepts every crash and refuses to hide lost data.
    #[default]
    TolerateCorruptedTail,
    /// Any bad or incomplete record, a torn tail included, is an error. For logs known to
    /// have been closed cleanly, or when no loss at all is acceptable.
    AbsoluteConsistency,
    /// Stop at the first bad or incomplete record without error and recover the consistent
    /// prefix before it, dropping everything after. For getting a damaged database open.
    PointInTime,
}
