//! Re-running transactions that lost a conflict, with exponential backoff and jitter.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

use super::options::RetryOptions;
use super::transaction::Transaction;
use crate::{Db, Error, Result};

/// Exponential backoff with "equal jitter": each delay is drawn from `[cap / 2, cap]`, the
/// cap doubling per wait up to a ceiling, so retrying contenders spread out.
pub(crate) struct Backoff {
    cap: Duration,
    max: Duration,
    rng: u64,
}

impl Backoff {
    /// The short backoff of typed operations (20 µs doubling to 2 ms).
    pub(crate) fn new() -> Self {
        Self::with(Duration::from_micros(20), Duration::from_millis(2))
    }

    pub(crate) fn with(initial: Duration, max: Duration) -> Self {
        // A per-process random seed, varied per instance, without a dependency.
        let rng = RandomState::new().hash_one(std::thread::current().id()) | 1;
        Backoff { cap: initial.min(max), max, rng }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The next delay, advancing the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let cap = self.cap.as_nanos() as u64;
        let half = cap / 2;
        let d = half + self.next_random() % (cap - half + 1);
        self.cap = (self.cap * 2).min(self.max);
        Duration::from_nanos(d)
    }

    /// Sleeps for the next delay (yields the thread for a zero one).
    pub(crate) fn wait(&mut self) {
        match self.next_delay() {
            d if d.is_zero() => std::thread::yield_now(),
            d => std::thread::sleep(d),
        }
    }
}

/// Runs `f` in a transaction with `opts.txn` and commits it, re-running both on
/// [`Error::Conflict`] after a backoff, at most `opts.max_attempts` times in all. Returns
/// `f`'s value from the attempt that committed.
///
/// `f` may run several times, so it must have no effects outside the transaction (or only
/// idempotent ones). Any other error of `f` or of the commit is returned at once, as is the
/// conflict of an attempt that outlived its timeout (a slow closure would only expire again).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = kvd::Db::open(dir.path(), kvd::Options::default()).unwrap();
/// let n = kvd::txn::retry(&db, Default::default(), |txn| {
///     let n = txn.get(b"n")?.map_or(0, |v| v[0]) + 1;
///     txn.put(b"n", &[n])?;
///     Ok(n)
/// })
/// .unwrap();
/// assert_eq!(n, 1);
/// ```
pub fn retry<T>(db: &Db, opts: RetryOptions, mut f: impl FnMut(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
    let attempts = opts.max_attempts.max(1);
    let mut backoff = Backoff::with(opts.initial_backoff, opts.max_backoff);
    let mut attempt = 1;
    loop {
        let mut txn = Transaction::begin(db, opts.txn);
        let out = f(&mut txn);
        let expired = txn.is_expired();
        let out = out.and_then(|v| txn.commit().map(|_| v));
        match out {
            Err(Error::Conflict(_)) if attempt < attempts && !expired => {
                attempt += 1;
                backoff.wait();
            }
            Err(Error::Conflict(m)) if !expired => {
                return Err(Error::Conflict(format!("gave up after {attempt} attempts: {m}")));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut b = Backoff::with(Duration::from_micros(100), Duration::from_millis(1));
        let d: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        assert!(d[0] >= Duration::from_micros(50) && d[0] <= Duration::from_micros(100));
        assert!(d[1] >= Duration::from_micros(100) && d[1] <= Duration::from_micros(200));
        assert!(d.iter().all(|x| *x <= Duration::from_millis(1)));
        assert!(d[7] >= Duration::from_micros(500));
    }
}
