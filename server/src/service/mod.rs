//! The tonic services and the state they share.
//!
//! Every engine call is blocking (it may wait on a group commit, an fsync or a disk read), so
//! handlers validate their request on the async executor and then run the engine work on
//! tokio's blocking pool through [`Shared::run`]; one slow call never stalls the executor.

pub(crate) mod admin;
mod checkpoint;
mod committer;
mod compare;
mod conditional;
mod docs;
mod indexes;
pub(crate) mod kv;
pub(crate) mod query;
mod query_stream;
mod scan;
mod snapshots;
pub(crate) mod txn;
mod txns;
pub(crate) mod types;
mod validate;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use kvd::{Db, ReadOptions, Snapshot};
use tokio::sync::Semaphore;
use tonic::Status;

use crate::config::Config;
use crate::status::{self as st, invalid, ErrorKind};
use snapshots::SnapshotRegistry;
use txns::TxnRegistry;
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
    /// Open interactive transactions.
    pub txns: TxnRegistry,
    /// One permit per running scan or query.
    pub scans: Arc<Semaphore>,
    /// One permit per open client connection.
    pub connections: Arc<Semaphore>,
    /// Connections accepted beyond max_connections, refused until they close.
    pub rejected: Arc<crate::incoming::RejectedPeers>,
    /// Merges concurrent unconditional writes into group commits.
    committer: committer::Committer,
    draining: AtomicBool,
}

impl Shared {
    /// Shared state over `db`; starts the committer thread (the error is from spawning it).
    pub(crate) fn new(db: Arc<Db>, config: Config, local_addr: SocketAddr) -> std::io::Result<Shared> {
        let started_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Ok(Shared {
            committer: committer::Committer::start(db.clone())?,
            limits: Limits::from_config(&config),
            snapshots: SnapshotRegistry::new(config.max_snapshots, config.max_snapshot_lease_ms),
            txns: TxnRegistry::new(config.max_transactions, config.max_txn_timeout_ms),
            scans: Arc::new(Semaphore::new(config.max_concurrent_scans)),
            connections: Arc::new(Semaphore::new(config.max_connections)),
            rejected: Arc::default(),
            db,
            config,
            local_addr,
            started: Instant::now(),
            started_unix_ms,
            draining: AtomicBool::new(false),
        })
    }

    /// Commits an unconditional write through the committer (see `committer.rs`): merged
    /// with the writes of other clients arriving meanwhile into one group commit. Returns
    /// the sequence number of the batch's last entry.
    pub(crate) async fn commit(&self, batch: kvd::WriteBatch, sync: bool) -> Result<u64, Status> {
        self.check_serving()?;
        self.committer.commit(batch, sync).await.map_err(engine)
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

    /// Runs engine work `f` that never blocks on I/O (a read answered from memtables and the
    /// block cache) on the calling async task; a panic inside `f` becomes an `INTERNAL`
    /// status, as with [`Shared::run`].
    pub(crate) fn inline<R>(&self, f: impl FnOnce(&Shared) -> Result<R, Status>) -> Result<R, Status> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self))) {
            Ok(r) => r,
            Err(_) => {
                tracing::error!("engine call panicked");
                Err(st::status(ErrorKind::Io, "engine call panicked".to_string()))
            }
        }
    }

    /// The state a read names: the server-side snapshot `snapshot_id` (renewing its lease;
    /// `NOT_FOUND` if unknown), the sequence number `seqno` (checked by
    /// [`Shared::check_seqno`]), or, when both are 0, a fresh snapshot of the latest state
    /// (so that several reads agree).
    pub(crate) fn read_point(&self, snapshot_id: u64, seqno: u64) -> Result<ReadPoint, Status> {
        match (snapshot_id, seqno) {
            (0, 0) => Ok(ReadPoint::Snapshot(Arc::new(self.db.snapshot()))),
            (0, seq) => self.check_seqno(seq).map(|()| ReadPoint::Seqno(seq)),
            (id, 0) => self.snapshots.get(id).map(ReadPoint::Snapshot),
            _ => Err(invalid("snapshot_id and seqno: set at most one")),
        }
    }

    /// As [`Shared::read_point`], for a single point read: the latest state is read at the
    /// latest sequence number without registering a snapshot (as the engine's own `get`).
    pub(crate) fn point_read(&self, snapshot_id: u64, seqno: u64) -> Result<ReadPoint, Status> {
        if snapshot_id == 0 && seqno == 0 {
            return Ok(ReadPoint::Seqno(self.db.latest_seqno()));
        }
        self.read_point(snapshot_id, seqno)
    }

    /// `INVALID_ARGUMENT` unless a read at `seq` can be served exactly: `seq` is the latest
    /// sequence number, at or above the history floor, or a live server-side snapshot's.
    pub(crate) fn check_seqno(&self, seq: u64) -> Result<(), Status> {
        let latest = self.db.latest_seqno();
        if seq > latest {
            return Err(invalid(format!("seqno: {seq} is newer than the latest seqno {latest}")));
        }
        let floor = self.db.history_floor();
        if seq == latest || floor.is_some_and(|f| seq >= f) || self.snapshots.holds_seq(seq) {
            return Ok(());
        }
        let floor = floor.map_or_else(|| "none: no history is kept".to_string(), |f| f.to_string());
        Err(invalid(format!(
            "seqno: {seq} may have been compacted away: it is below the history floor ({floor}) and no server-side \
             snapshot reads at it; set a floor with Admin.SetHistoryFloor or read through a snapshot"
        )))
    }
}

/// Where a read is served: a pinned snapshot, or a sequence number the engine keeps (the
/// latest, or one at or above the history floor).
#[derive(Debug, Clone)]
pub(crate) enum ReadPoint {
    Snapshot(Arc<Snapshot>),
    Seqno(u64),
}

impl ReadPoint {
    /// The sequence number read at.
    pub(crate) fn seq(&self) -> u64 {
        match self {
            ReadPoint::Snapshot(s) => s.seq(),
            ReadPoint::Seqno(s) => *s,
        }
    }

    /// Engine read options at this point, with iterator bounds.
    pub(crate) fn options(&self, lower: Option<Vec<u8>>, upper: Option<Vec<u8>>) -> ReadOptions<'_> {
        let (snapshot, seqno) = match self {
            ReadPoint::Snapshot(s) => (Some(&**s), None),
            ReadPoint::Seqno(s) => (None, Some(*s)),
        };
        ReadOptions { snapshot, seqno, lower_bound: lower, upper_bound: upper }
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
