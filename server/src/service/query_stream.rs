//! The streaming query: one blocking producer per call runs the engine's `Rows` iterator
//! and feeds chunks into the same small bounded channel as a scan (`scan.rs`), so a slow
//! client slows the producer, and a cancelled call (a dropped receiver) stops it at the next
//! row.
//!
//! The handler waits for the first chunk before answering, so an error found while the
//! query starts (SQL that does not parse, an unknown namespace, a bad token) fails the call
//! itself with its status instead of arriving as the first item of an opened stream.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use kvd::query::ast::Statement;
use kvd::query::QueryOptions;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::Status;

use super::scan::{chunk_entries, deadline_exceeded, send, spawn_producer, Sent, CHUNK_BYTES, ENTRY_OVERHEAD};
use super::{engine, validate, Shared};
use crate::convert::header;
use crate::proto::{QueryRequest, QueryResponse, Row};
use crate::status::{exhausted, status, ErrorKind};

/// The stream a Query call returns.
pub(crate) type QueryStream = Pin<Box<dyn Stream<Item = Result<QueryResponse, Status>> + Send>>;

/// A validated query request.
#[derive(Debug, Clone)]
pub(crate) struct QueryCall {
    sql: String,
    opts: QueryOptions,
    chunk_entries: usize,
    deadline: Option<Instant>,
}

impl QueryCall {
    pub(crate) fn parse(req: QueryRequest, deadline: Option<Instant>) -> Result<QueryCall, Status> {
        validate::sql(&req.sql)?;
        let opts = QueryOptions {
            force_full_scan: req.force_full_scan,
            page_size: (req.page_size > 0).then_some(req.page_size as usize),
            continuation: (!req.continuation.is_empty()).then_some(req.continuation),
        };
        Ok(QueryCall { sql: req.sql, opts, chunk_entries: chunk_entries(req.chunk_size), deadline })
    }
}

/// Starts the producer and returns the stream once its first chunk is ready (or the
/// query's error). A query holds one of the `max_concurrent_scans` permits while it runs.
pub(crate) async fn start(shared: &Arc<Shared>, call: QueryCall) -> Result<QueryStream, Status> {
    shared.check_serving()?;
    let permit = shared.scans.clone().try_acquire_owned().map_err(|_| {
        exhausted(format!(
            "{} scans and queries are running (max_concurrent_scans); retry later",
            shared.config.max_concurrent_scans
        ))
    })?;
    let producer_shared = shared.clone();
    let mut rx = spawn_producer(move |tx| {
        let _permit = permit;
        produce(&producer_shared, &call, tx)
    });
    match rx.recv().await {
        Some(Ok(first)) => Ok(Box::pin(tokio_stream::once(Ok(first)).chain(ReceiverStream::new(rx)))),
        Some(Err(s)) => Err(s),
        None => Err(status(ErrorKind::Io, "the query ended without a response")),
    }
}

/// True when the rows of `sql` are documents with keys (not aggregate or EXPLAIN rows).
fn keyed(sql: &str) -> Result<bool, Status> {
    Ok(match kvd::query::parse::parse(sql).map_err(engine)? {
        Statement::Select(s) => !s.is_aggregate(),
        Statement::Explain(_) => false,
    })
}

fn produce(shared: &Shared, call: &QueryCall, tx: &mpsc::Sender<Result<QueryResponse, Status>>) -> Result<(), Status> {
    let keyed = keyed(&call.sql)?;
    let mut rows = shared.db.query_with(&call.sql, &call.opts).map_err(engine)?;
    let seqno = rows.seqno();
    let chunk_msg = |rows: Vec<Row>| QueryResponse {
        header: header(seqno),
        rows,
        columns: Vec::new(),
        keyed: false,
        continuation: String::new(),
        seqno_exact: true,
    };
    let mut first = Some((rows.columns().unwrap_or_default(), keyed));
    let label = |mut msg: QueryResponse, first: &mut Option<(Vec<String>, bool)>| {
        if let Some((columns, keyed)) = first.take() {
            msg.columns = columns;
            msg.keyed = keyed;
        }
        msg
    };
    let budget = shared.limits.response_budget();
    let chunk_cap = budget.min(CHUNK_BYTES);
    let mut chunk: Vec<Row> = Vec::new();
    let mut chunk_bytes = 0usize;
    // JSON text straight from the engine: documents of a covering index pass through as
    // stored instead of being parsed and written out again.
    for row in rows.json() {
        if tx.is_closed() {
            return Ok(());
        }
        let row = row.map_err(engine)?;
        let key = row.key.unwrap_or_default();
        let json = row.json;
        let size = key.len() + json.len() + ENTRY_OVERHEAD;
        if size > budget {
            return Err(exhausted(format!(
                "row {key:?} is {size} bytes, more than one response may carry (max_message_bytes {}); \
                 select fewer columns",
                shared.limits.max_message
            )));
        }
        if !chunk.is_empty() && (chunk.len() >= call.chunk_entries || chunk_bytes + size > chunk_cap) {
            let msg = label(chunk_msg(std::mem::take(&mut chunk)), &mut first);
            if let Sent::ClientGone = send(tx, msg, call.deadline)? {
                return Ok(());
            }
            chunk_bytes = 0;
            if call.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(deadline_exceeded());
            }
        }
        chunk.push(Row { key, json });
        chunk_bytes += size;
    }
    let mut last = label(chunk_msg(chunk), &mut first);
    last.continuation = rows.continuation().unwrap_or_default().to_string();
    send(tx, last, call.deadline)?;
    Ok(())
}
