//! The tonic services and the state they share.
//!
//! Every engine call is blocking (it may wait on a group commit, an fsync or a disk read), so
//! handlers validate their request on the async executor and then run the engine work on
//! tokio's blocking pool through [`Shared::run`]; one slow call never stalls the executor.

pub(crate) mod admin;
pub(crate) mod kv;
mod scan;
mod snapshots;
mod validate;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use kvd::{Db, Snapshot};
use tokio::sync::Semaphore;
use tonic::Status;

use crate::config::Config;
use crate::status::{self as st, ErrorKind};
use snapshots::SnapshotRegistry;
use validate::Limits;

/// State shared by the services of one server.
pub(crate) struct Shared {
    pub db: Arc<Db>,
    pub config: Config,
    pub local_addr: SocketAddr,
    pub started: Instant,
    pub started_unix_ms: u64,
    pub limits: Limits,
    pub snapshots: SnapshotRegistry,
    /// One permit per running scan.
    pub scans: Arc<Semaphore>,
    draining: AtomicBool,
}

impl Shared {
    pub(crate) fn new(db: Arc<Db>, config: Config, local_addr: SocketAddr) -> Shared {
        let started_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Shared {
            limits: Limits::from_config(&config),
            snapshots: SnapshotRegistry::new(config.max_snapshots, config.max_snapshot_lease_ms),
            scans: Arc::new(Semaphore::new(config.max_concurrent_scans)),
            db,
            config,
            local_addr,
            started: Instant::now(),
            started_unix_ms,
            draining: AtomicBool::new(false),
        }
    }

    /// From now on new calls fail with `UNAVAILABLE`; calls already running finish.
    pub(crate) fn begin_drain(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// `UNAVAILABLE` once draining for shutdown.
    pub(crate) fn check_serving(&self) -> Result<(), Status> {
        if self.draining.load(Ordering::Acquire) {
            return Err(st::shutting_down());
        }
        Ok(())
    }

    /// Runs blocking engine work `f` on the blocking pool. A panic inside `f` becomes an
    /// `INTERNAL` status for this call instead of taking the server down.
    pub(crate) async fn run<R, F>(self: &Arc<Self>, f: F) -> Result<R, Status>
    where
        F: FnOnce(&Shared) -> Result<R, Status> + Send + 'static,
        R: Send + 'static,
    {
        self.check_serving()?;
        let shared = self.clone();
        match tokio::task::spawn_blocking(move || f(&shared)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "engine task failed");
                Err(st::status(ErrorKind::Io, format!("engine task failed: {e}")))
            }
        }
    }

    /// The state a read names: a fresh snapshot of the latest state for id 0, else the
    /// server-side snapshot `id` (renewing its lease), or `NOT_FOUND`.
    pub(crate) fn read_view(&self, snapshot_id: u64) -> Result<Arc<Snapshot>, Status> {
        if snapshot_id == 0 {
            return Ok(Arc::new(self.db.snapshot()));
        }
        self.snapshots.get(snapshot_id)
    }
}

/// Maps an engine error to its status (shorthand for `map_err`).
pub(crate) fn engine(e: kvd::Error) -> Status {
    st::from_engine(&e)
}

/// Set when the call that started some blocking work goes away (the client cancelled, the
/// deadline passed, or the connection dropped), so long loops can stop early.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A token and the guard that trips it when dropped with the handler's future.
    pub(crate) fn new() -> (Cancel, CancelOnDrop) {
        let c = Cancel::default();
        let guard = CancelOnDrop(c.0.clone());
        (c, guard)
    }

    /// `CANCELLED` once the call is gone.
    pub(crate) fn check(&self) -> Result<(), Status> {
        if self.0.load(Ordering::Relaxed) {
            return Err(Status::cancelled("call cancelled by the client"));
        }
        Ok(())
    }
}

/// Trips its [`Cancel`] when dropped.
#[derive(Debug)]
pub(crate) struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
