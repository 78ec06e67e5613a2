//! [`QueryStream`]: the rows of a query as they stream in, and [`QueryPage`], all of them.

use std::collections::VecDeque;
use std::time::Instant;

use kvd::query::Row;
use tonic::Streaming;

use super::{ClientError, Result};
use crate::proto;

/// The rows of a query as they stream in. The first chunk has arrived when
/// [`KvdClient::query`](super::KvdClient::query) returns, so [`QueryStream::columns`] and
/// [`QueryStream::seqno`] are known at once.
#[derive(Debug)]
pub struct QueryStream {
    inner: Streaming<proto::QueryResponse>,
    buffered: VecDeque<proto::Row>,
    columns: Vec<String>,
    keyed: bool,
    seqno: u64,
    seqno_exact: bool,
    continuation: Option<String>,
    messages: usize,
    /// The whole response has arrived (or the query failed).
    done: bool,
    deadline: Option<Instant>,
}

/// Every row of a query (one page of it when paged), as [`QueryStream::collect_page`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPage {
    /// The column names in SELECT order; empty for `SELECT *`.
    pub columns: Vec<String>,
    /// True when the rows are documents and carry their keys (not aggregate or EXPLAIN rows).
    pub keyed: bool,
    /// The rows, in result order.
    pub rows: Vec<Row>,
    /// The token for the next page, when the query stopped at its page size with rows left.
    pub continuation: Option<String>,
    /// The query's snapshot holds every write up to this sequence number.
    pub seqno: u64,
    /// The snapshot is exactly the state at `seqno` (see `QueryResponse.seqno_exact`).
    pub seqno_exact: bool,
}

impl QueryStream {
    /// Reads the first chunk, which carries the columns and the sequence number.
    pub(crate) async fn start(
        inner: Streaming<proto::QueryResponse>,
        deadline: Option<Instant>,
    ) -> Result<QueryStream> {
        let mut s = QueryStream {
            inner,
            buffered: VecDeque::new(),
            columns: Vec::new(),
            keyed: false,
            seqno: 0,
            seqno_exact: false,
            continuation: None,
            messages: 0,
            done: false,
            deadline,
        };
        if let Some(e) = s.fetch().await {
            return Err(e);
        }
        Ok(s)
    }

    /// Reads the next chunk into the buffer; the error that ended the query, if any.
    async fn fetch(&mut self) -> Option<ClientError> {
        let next = match self.deadline {
            None => self.inner.message().await,
            Some(d) => match tokio::time::timeout_at(d.into(), self.inner.message()).await {
                Ok(r) => r,
                Err(_) => return Some(self.expire()),
            },
        };
        match next {
            Ok(Some(chunk)) => {
                if self.messages == 0 {
                    self.columns = chunk.columns;
                    self.keyed = chunk.keyed;
                    self.seqno = chunk.header.map_or(0, |h| h.seqno);
                    self.seqno_exact = chunk.seqno_exact;
                }
                self.messages += 1;
                if !chunk.continuation.is_empty() {
                    self.continuation = Some(chunk.continuation);
                }
                self.buffered.extend(chunk.rows);
                None
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(s) => {
                self.done = true;
                Some(s.into())
            }
        }
    }

    fn expire(&mut self) -> ClientError {
        self.done = true;
        self.buffered.clear();
        ClientError::DeadlineExceeded("the query's deadline passed before it finished".into())
    }

    /// The next row, `None` at the end, or the error that ended the query. Past the query's
    /// deadline, a query whose response has not fully arrived fails with
    /// [`ClientError::DeadlineExceeded`].
    pub async fn next_row(&mut self) -> Option<Result<Row>> {
        loop {
            if !self.done && self.deadline.is_some_and(|d| Instant::now() >= d) {
                return Some(Err(self.expire()));
            }
            if let Some(row) = self.buffered.pop_front() {
                return Some(parse_row(row));
            }
            if self.done {
                return None;
            }
            if let Some(e) = self.fetch().await {
                return Some(Err(e));
            }
        }
    }

    /// Reads the rest of the query (of the page, when paged).
    pub async fn collect_page(mut self) -> Result<QueryPage> {
        let mut rows = Vec::new();
        while let Some(row) = self.next_row().await {
            rows.push(row?);
        }
        Ok(QueryPage {
            columns: self.columns,
            keyed: self.keyed,
            rows,
            continuation: self.continuation,
            seqno: self.seqno,
            seqno_exact: self.seqno_exact,
        })
    }

    /// The column names in SELECT order (aliases where given); empty for `SELECT *`.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// True when the rows are documents and carry their keys.
    pub fn keyed(&self) -> bool {
        self.keyed
    }

    /// The query's snapshot holds every write up to this sequence number.
    pub fn seqno(&self) -> u64 {
        self.seqno
    }

    /// True when the snapshot is exactly the state at [`QueryStream::seqno`].
    pub fn seqno_exact(&self) -> bool {
        self.seqno_exact
    }

    /// After the end: the token for the next page, if the query stopped at its page size.
    pub fn continuation(&self) -> Option<&str> {
        self.continuation.as_deref()
    }

    /// Response messages received so far (the server sends rows in chunks).
    pub fn messages(&self) -> usize {
        self.messages
    }
}

/// A row off the wire, its JSON text parsed.
fn parse_row(row: proto::Row) -> Result<Row> {
    let value = serde_json::from_str(&row.json)
        .map_err(|e| ClientError::Internal(format!("the server sent a row that is not JSON: {e}")))?;
    Ok(Row { key: (!row.key.is_empty()).then_some(row.key), value })
}
