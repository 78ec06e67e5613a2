//! Transaction and retry options.

use std::time::Duration;

/// Which anomalies a transaction's commit rules out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Snapshot isolation: reads see the snapshot taken at begin; commit fails if another
    /// transaction committed a write to any key this one writes since then (first committer
    /// wins). Prevents lost updates; allows write skew.
    #[default]
    Snapshot,
    /// Serializable: as [`Isolation::Snapshot`], and commit also fails if anything this
    /// transaction read (keys read, including absent ones, and every range scanned) changed
    /// since its snapshot. Prevents write skew; more conflicts under contention.
    Serializable,
}

/// Options of one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnOptions {
    /// The isolation level (default snapshot isolation).
    pub isolation: Isolation,
    /// How long after begin the transaction may still commit (default 60 s). Past it every
    /// operation and the commit fail with [`crate::Error::TransactionExpired`], and
    /// nothing is applied. It bounds how long a transaction keeps its snapshot, which holds
    /// back compaction.
    pub timeout: Duration,
    /// Fsync the log before `commit` returns, whatever the sync policy (default false).
    pub sync: bool,
}

impl Default for TxnOptions {
    fn default() -> Self {
        TxnOptions { isolation: Isolation::Snapshot, timeout: Duration::from_secs(60), sync: false }
    }
}

/// How [`crate::txn::retry`] re-runs a transaction that lost a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOptions {
    /// Options of each attempt's transaction.
    pub txn: TxnOptions,
    /// Attempts in all before the last conflict is returned (default 100; at least 1).
    pub max_attempts: u32,
    /// Delay before the second attempt (default 100 µs); it doubles per attempt, with jitter.
    pub initial_backoff: Duration,
    /// Ceiling of the delay between attempts (default 50 ms).
    pub max_backoff: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            txn: TxnOptions::default(),
            max_attempts: 100,
            initial_backoff: Duration::from_micros(100),
            max_backoff: Duration::from_millis(50),
        }
    }
}
