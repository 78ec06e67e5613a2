//! The streaming scan: one blocking producer per call feeding a small bounded channel (the
//! producer machinery is shared with the streaming query, `query_stream.rs`).
//!
//! The producer owns an engine iterator at one snapshot and sends chunks of at most
//! `chunk_size` entries or about [`CHUNK_BYTES`] bytes. The channel holds two chunks, so a
//! slow client slows the producer instead of growing memory. When the client cancels or
//! disconnects, tonic drops the receiver, the next send fails, and the producer stops and
//! releases its snapshot. A `grpc-timeout` from the client bounds the whole stream: past it
//! the producer stops even if the client stopped reading.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::validate::KeyRange;
use super::{engine, ReadPoint, Shared};
use crate::convert::{header, show_key};
use crate::proto::{KeyValue, ScanRequest, ScanResponse};
use crate::status::{exhausted, invalid, status, ErrorKind};

/// The stream a Scan call returns.
pub(crate) type ScanStream = ReceiverStream<Result<ScanResponse, Status>>;

/// Entries per chunk when the request names none.
const DEFAULT_CHUNK_ENTRIES: usize = 1000;
/// Most entries per chunk a request may ask for.
const MAX_CHUNK_ENTRIES: usize = 10_000;
/// A chunk is closed once it holds about this many bytes (or less, to fit max_message_bytes).
pub(crate) const CHUNK_BYTES: usize = 1 << 20;
/// Chunks buffered between the producer and the network.
const CHANNEL_CHUNKS: usize = 2;
/// Protobuf framing per entry, roughly (tags and lengths).
pub(crate) const ENTRY_OVERHEAD: usize = 16;

/// Entries per chunk for a request's `chunk_size` (0: the default; capped).
pub(crate) fn chunk_entries(requested: u32) -> usize {
    match requested as usize {
        0 => DEFAULT_CHUNK_ENTRIES,
        n => n.min(MAX_CHUNK_ENTRIES),
    }
}

/// A validated scan request.
#[derive(Debug, Clone)]
pub(crate) struct ScanPlan {
    range: KeyRange,
    reverse: bool,
    keys_only: bool,
    limit: Option<u64>,
    chunk_entries: usize,
    deadline: Option<Instant>,
}

impl ScanPlan {
    pub(crate) fn parse(req: &ScanRequest, deadline: Option<Instant>) -> Result<ScanPlan, Status> {
        let range = KeyRange::parse(req.start.clone(), req.end.clone(), req.prefix.clone())?;
        if req.limit < 0 {
            return Err(invalid(format!("limit: {} is negative; use 0 for no limit", req.limit)));
        }
        let chunk_entries = chunk_entries(req.chunk_size);
        Ok(ScanPlan {
            range,
            reverse: req.reverse,
            keys_only: req.keys_only,
            limit: (req.limit > 0).then_some(req.limit as u64),
            chunk_entries,
            deadline,
        })
    }
}

/// Starts the producer and returns the stream. Errors found before any entry is read (too
/// many scans, an unknown snapshot, a seqno that cannot be served) fail the call itself
/// rather than the stream.
pub(crate) fn start(shared: &Arc<Shared>, plan: ScanPlan, snapshot_id: u64, seqno: u64) -> Result<ScanStream, Status> {
    shared.check_serving()?;
    let permit = shared.scans.clone().try_acquire_owned().map_err(|_| {
        exhausted(format!(
            "{} scans are running (max_concurrent_scans); retry later",
            shared.config.max_concurrent_scans
        ))
    })?;
    let snap = shared.read_point(snapshot_id, seqno)?;
    let shared = shared.clone();
    let rx = spawn_producer(move |tx| {
        let _permit = permit;
        produce(&shared, &plan, &snap, tx)
    });
    Ok(ReceiverStream::new(rx))
}

/// Runs `produce` on the blocking pool, feeding a channel of [`CHANNEL_CHUNKS`] messages
/// whose receiver is returned; an error `produce` returns ends the stream.
pub(crate) fn spawn_producer<T, F>(produce: F) -> mpsc::Receiver<Result<T, Status>>
where
    T: Send + 'static,
    F: FnOnce(&mpsc::Sender<Result<T, Status>>) -> Result<(), Status> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    tokio::task::spawn_blocking(move || match produce(&tx) {
        Ok(()) => {}
        // Past the deadline the client is not waiting; never block for it.
        Err(s) if s.code() == tonic::Code::DeadlineExceeded => {
            let _ = tx.try_send(Err(s));
        }
        // The client may be gone already; then there is no one to tell.
        Err(s) => {
            let _ = tx.blocking_send(Err(s));
        }
    });
    rx
}

/// Outcome of handing a chunk to the network.
pub(crate) enum Sent {
    Ok,
    ClientGone,
}

/// Queues `msg`, waiting for room for at most until the deadline: a client that stops
/// reading cannot hold the producer (its thread and snapshot) past its own deadline.
pub(crate) fn send<T>(tx: &mpsc::Sender<Result<T, Status>>, msg: T, deadline: Option<Instant>) -> Result<Sent, Status> {
    let sent = match deadline {
        None => tx.blocking_send(Ok(msg)).is_ok(),
        // The producer runs on tokio's blocking pool, where blocking on a future is allowed.
        Some(d) => {
            match tokio::runtime::Handle::current().block_on(tokio::time::timeout_at(d.into(), tx.send(Ok(msg)))) {
                Ok(r) => r.is_ok(),
                Err(_) => return Err(deadline_exceeded()),
            }
        }
    };
    Ok(if sent { Sent::Ok } else { Sent::ClientGone })
}

pub(crate) fn deadline_exceeded() -> Status {
    status(ErrorKind::DeadlineExceeded, "stream deadline exceeded")
}

fn produce(
    shared: &Shared,
    plan: &ScanPlan,
    snap: &ReadPoint,
    tx: &mpsc::Sender<Result<ScanResponse, Status>>,
) -> Result<(), Status> {
    let ro = snap.options(plan.range.lower.clone(), plan.range.upper.clone());
    let mut it = shared.db.iter(&ro);
    if plan.reverse {
        it.seek_to_last();
    } else {
        it.seek_to_first();
    }
    let budget = shared.limits.response_budget();
    let chunk_cap = budget.min(CHUNK_BYTES);
    let mut chunk: Vec<KeyValue> = Vec::new();
    let mut chunk_bytes = 0usize;
    let mut sent = 0u64;
    let mut more = false;
    while it.valid() {
        if plan.limit == Some(sent) {
            more = true;
            break;
        }
        let value = if plan.keys_only { Vec::new() } else { it.value().to_vec() };
        let size = it.key().len() + value.len() + ENTRY_OVERHEAD;
        if size > budget {
            return Err(exhausted(format!(
                "entry at key {} is {size} bytes, more than one response may carry (max_message_bytes {}); \
                 scan it with keys_only and read it otherwise",
                show_key(it.key()),
                shared.limits.max_message
            )));
        }
        if !chunk.is_empty() && (chunk.len() >= plan.chunk_entries || chunk_bytes + size > chunk_cap) {
            let msg = ScanResponse { header: header(snap.seq()), kvs: std::mem::take(&mut chunk), more: false };
            if let Sent::ClientGone = send(tx, msg, plan.deadline)? {
                return Ok(());
            }
            chunk_bytes = 0;
            if plan.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(deadline_exceeded());
            }
        }
        chunk.push(KeyValue { key: it.key().to_vec(), value });
        chunk_bytes += size;
        sent += 1;
        if plan.reverse {
            it.prev();
        } else {
            it.next();
        }
    }
    it.status().map_err(engine)?;
    send(tx, ScanResponse { header: header(snap.seq()), kvs: chunk, more }, plan.deadline)?;
    Ok(())
}
