//! [`ScanStream`]: the entries of a scan as they stream in.

use std::collections::VecDeque;
use std::time::Instant;

use tonic::Streaming;

use super::{ClientError, Result};
use crate::proto;

/// The entries of a scan as they stream in.
#[derive(Debug)]
pub struct ScanStream {
    pub(crate) inner: Streaming<proto::ScanResponse>,
    buffered: VecDeque<proto::KeyValue>,
    seqno: Option<u64>,
    more: bool,
    /// The whole response has arrived (or the scan failed).
    done: bool,
    deadline: Option<Instant>,
}

impl ScanStream {
    /// The next `(key, value)`, `None` at the end, or the error that ended the scan. Past the
    /// scan's deadline, a scan whose response has not fully arrived fails with
    /// [`ClientError::DeadlineExceeded`] (whatever is still buffered is dropped).
    pub async fn next_entry(&mut self) -> Option<Result<(Vec<u8>, Vec<u8>)>> {
        loop {
            if !self.done && self.deadline.is_some_and(|d| Instant::now() >= d) {
                return Some(Err(self.expire()));
            }
            if let Some(kv) = self.buffered.pop_front() {
                return Some(Ok((kv.key, kv.value)));
            }
            if self.done {
                return None;
            }
            let next = match self.deadline {
                None => self.inner.message().await,
                Some(d) => match tokio::time::timeout_at(d.into(), self.inner.message()).await {
                    Ok(r) => r,
                    Err(_) => return Some(Err(self.expire())),
                },
            };
            match next {
                Ok(Some(chunk)) => {
                    self.seqno = chunk.header.map(|h| h.seqno).or(self.seqno);
                    self.more = chunk.more;
                    self.buffered.extend(chunk.kvs);
                }
                Ok(None) => self.done = true,
                Err(s) => {
                    self.done = true;
                    return Some(Err(s.into()));
                }
            }
        }
    }

    fn expire(&mut self) -> ClientError {
        self.done = true;
        self.buffered.clear();
        ClientError::DeadlineExceeded("the scan's deadline passed before it finished".into())
    }

    /// Reads the rest of the scan.
    pub async fn collect_all(mut self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        while let Some(kv) = self.next_entry().await {
            out.push(kv?);
        }
        Ok(out)
    }

    /// The sequence number the scan reads at (known once the first chunk arrived).
    pub fn seqno(&self) -> Option<u64> {
        self.seqno
    }

    /// After the end: true when the scan stopped at its limit with more entries in range.
    pub fn more(&self) -> bool {
        self.more
    }
}

impl ScanStream {
    pub(crate) fn new(inner: Streaming<proto::ScanResponse>, deadline: Option<Instant>) -> ScanStream {
        ScanStream { inner, buffered: VecDeque::new(), seqno: None, more: false, done: false, deadline }
    }
}
