//! The background thread behind [`crate::SyncPolicy::Interval`].
//!
//! It waits on a condition variable rather than sleeping, so stopping it (on close or drop)
//! is immediate instead of taking up to a whole interval.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

/// A running periodic task; stop it with [`Syncer::stop`].
pub(crate) struct Syncer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: JoinHandle<()>,
}

impl Syncer {
    /// Runs `tick` every `period` on a new thread named `name` until [`stop`](Self::stop) is
    /// called or `tick` returns false.
    pub fn spawn(
        name: String,
        period: Duration,
        mut tick: impl FnMut() -> bool + Send + 'static,
    ) -> std::io::Result<Syncer> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = stop.clone();
        let handle = std::thread::Builder::new().name(name).spawn(move || {
            let (lock, cv) = &*signal;
            let mut stopped = lock.lock();
            loop {
                let deadline = Instant::now() + period;
                while !*stopped && !cv.wait_until(&mut stopped, deadline).timed_out() {}
                if *stopped {
                    return;
                }
                // Release the stop flag while working so `stop` is never blocked behind an
                // fsync: it only has to wait for the join.
                if !MutexGuard::unlocked(&mut stopped, &mut tick) {
                    return;
                }
            }
        })?;
        Ok(Syncer { stop, handle })
    }

    /// Signals the thread and waits for it to finish its current tick, if any, and exit.
    pub fn stop(self) {
        let (lock, cv) = &*self.stop;
        *lock.lock() = true;
        cv.notify_all();
        if self.handle.join().is_err() {
            // The tick panicked; the owner learns of it through its own poison guard.
            tracing::error!("write-ahead log sync thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn ticks_and_stops_promptly() {
        let n = Arc::new(AtomicU64::new(0));
        let m = n.clone();
        let s = Syncer::spawn("t".into(), Duration::from_millis(1), move || {
            m.fetch_add(1, Ordering::SeqCst);
            true
        })
        .unwrap();
        while n.load(Ordering::SeqCst) < 3 {
            std::thread::sleep(Duration::from_millis(1));
        }
        s.stop();
        // A long period must not delay stop.
        let s = Syncer::spawn("t".into(), Duration::from_secs(3600), || true).unwrap();
        let t = Instant::now();
        s.stop();
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn tick_returning_false_ends_the_thread() {
        let s = Syncer::spawn("t".into(), Duration::from_millis(1), || false).unwrap();
        while !s.handle.is_finished() {
            std::thread::sleep(Duration::from_millis(1));
        }
        s.stop();
    }
}
