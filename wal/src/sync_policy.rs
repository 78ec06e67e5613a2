//! [`SyncPolicy`]: when a [`crate::Wal`] makes appended records durable.

use std::time::Duration;

/// When appended records are fsynced. Whatever the policy, every append is flushed to the
/// operating system before it returns, so it survives a process crash; the policy only
/// decides what survives a power loss or kernel crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Fsync before every append returns: nothing acknowledged is ever lost. The engine's
    /// group commit amortises the cost over every writer in the group.
    Always,
    /// A background thread fsyncs every interval if anything was appended since the last
    /// sync: a power loss loses at most about one interval of acknowledged writes.
    /// `Interval(Duration::ZERO)` behaves as [`SyncPolicy::Always`].
    Interval(Duration),
    /// Never fsync on its own (only on an explicit sync, rotation or close): the operating
    /// system writes the data back when it likes. For tests and rebuildable data.
    Never,
}

impl Default for SyncPolicy {
    /// `Interval(100ms)`: RocksDB-like throughput with a bounded loss window.
    fn default() -> Self {
        SyncPolicy::Interval(Duration::from_millis(100))
    }
}

impl SyncPolicy {
    /// True when every append must be synced before it returns.
    pub fn syncs_every_append(&self) -> bool {
        matches!(self, SyncPolicy::Always | SyncPolicy::Interval(Duration::ZERO))
    }

    /// The background sync period, if the policy has one.
    pub fn interval(&self) -> Option<Duration> {
        match *self {
            SyncPolicy::Interval(d) if !d.is_zero() => Some(d),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_interval_is_always() {
        assert!(SyncPolicy::Interval(Duration::ZERO).syncs_every_append());
        assert_eq!(SyncPolicy::Interval(Duration::ZERO).interval(), None);
        assert_eq!(SyncPolicy::default().interval(), Some(Duration::from_millis(100)));
        assert!(!SyncPolicy::Never.syncs_every_append());
    }
}
