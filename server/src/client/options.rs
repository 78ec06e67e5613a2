//! The client's options and request builders: [`ClientOptions`], [`PutOptions`], [`Batch`],
//! [`ScanOptions`], and the values calls return.

use std::time::Duration;

use tonic::Request;

use crate::proto::{self, write_op};

/// How a [`KvdClient`](super::KvdClient) connects and how long it waits.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Time allowed to establish the connection (default 5 s).
    pub connect_timeout: Duration,
    /// Deadline of each unary call, sent to the server as `grpc-timeout` (default 30 s;
    /// `None` waits forever).
    pub request_timeout: Option<Duration>,
    /// Largest message sent or accepted, in bytes (default 16 MiB, the server's default).
    pub max_message_bytes: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Some(Duration::from_secs(30)),
            max_message_bytes: 16 << 20,
        }
    }
}

/// A value together with the sequence number it was served at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served<T> {
    /// The value.
    pub value: T,
    /// The sequence number of the response header.
    pub seqno: u64,
}

/// Options of one put.
#[derive(Debug, Clone, Copy, Default)]
pub struct PutOptions {
    /// Expire the key this long after the commit.
    pub ttl: Option<Duration>,
    /// Write only if the key holds no live value (atomic on the server).
    pub if_absent: bool,
    /// Fsync the server's write-ahead log before acknowledging.
    pub sync: bool,
}

/// An atomic batch of puts and deletes for [`KvdClient::write`](super::KvdClient::write).
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub(crate) ops: Vec<proto::WriteOp>,
    pub(crate) sync: bool,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    fn push(&mut self, op: write_op::Op) -> &mut Batch {
        self.ops.push(proto::WriteOp { op: Some(op) });
        self
    }

    /// Adds a put.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Batch {
        self.push(write_op::Op::Put(proto::PutOp {
            key: key.as_ref().to_vec(),
            value: value.as_ref().to_vec(),
            ttl_ms: 0,
        }))
    }

    /// Adds a put expiring `ttl` after the commit (rounded down to milliseconds, at least 1).
    pub fn put_with_ttl(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, ttl: Duration) -> &mut Batch {
        let ttl_ms = ttl_millis(ttl);
        self.push(write_op::Op::Put(proto::PutOp {
            key: key.as_ref().to_vec(),
            value: value.as_ref().to_vec(),
            ttl_ms,
        }))
    }

    /// Adds a delete.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> &mut Batch {
        self.push(write_op::Op::Delete(proto::DeleteOp { key: key.as_ref().to_vec() }))
    }

    /// Fsync the server's write-ahead log before acknowledging the batch.
    pub fn sync(&mut self, sync: bool) -> &mut Batch {
        self.sync = sync;
        self
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

pub(crate) fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// What a [`KvdClient::scan`](super::KvdClient::scan) reads.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// First key, inclusive (`None`: from the first key).
    pub start: Option<Vec<u8>>,
    /// End key, exclusive (`None`: to the last key).
    pub end: Option<Vec<u8>>,
    /// Scan the keys with this prefix instead of `start`/`end`.
    pub prefix: Option<Vec<u8>>,
    /// At most this many entries (`0`: no limit).
    pub limit: u64,
    /// Descending key order.
    pub reverse: bool,
    /// Keys only; values come back empty.
    pub keys_only: bool,
    /// Read at this server-side snapshot (`0`: the latest state).
    pub snapshot_id: u64,
    /// Read at this sequence number (`0`: the latest state); see [`ReadAt::Seqno`].
    pub seqno: u64,
    /// Entries per streamed message (`0`: the server's default).
    pub chunk_size: u32,
    /// Deadline for the whole scan (`None`: no deadline).
    pub timeout: Option<Duration>,
}

impl ScanOptions {
    /// Every key in `[start, end)`.
    pub fn range(start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) -> ScanOptions {
        ScanOptions { start: Some(start.as_ref().to_vec()), end: Some(end.as_ref().to_vec()), ..Default::default() }
    }

    /// Every key starting with `prefix`.
    pub fn prefix(prefix: impl AsRef<[u8]>) -> ScanOptions {
        ScanOptions { prefix: Some(prefix.as_ref().to_vec()), ..Default::default() }
    }

    /// Every key.
    pub fn all() -> ScanOptions {
        ScanOptions::default()
    }

    /// At most `n` entries.
    pub fn limit(mut self, n: u64) -> ScanOptions {
        self.limit = n;
        self
    }

    /// Descending order.
    pub fn reverse(mut self) -> ScanOptions {
        self.reverse = true;
        self
    }

    /// Keys only.
    pub fn keys_only(mut self) -> ScanOptions {
        self.keys_only = true;
        self
    }

    /// Read at a server-side snapshot.
    pub fn at(mut self, snapshot_id: u64) -> ScanOptions {
        self.snapshot_id = snapshot_id;
        self
    }

    /// Read at a sequence number (at or above the history floor, or a snapshot's).
    pub fn at_seqno(mut self, seqno: u64) -> ScanOptions {
        self.seqno = seqno;
        self
    }

    pub(crate) fn into_request(self) -> Request<proto::ScanRequest> {
        let mut req = Request::new(proto::ScanRequest {
            start: self.start.unwrap_or_default(),
            end: self.end.unwrap_or_default(),
            prefix: self.prefix.unwrap_or_default(),
            limit: i64::try_from(self.limit).unwrap_or(i64::MAX),
            reverse: self.reverse,
            keys_only: self.keys_only,
            snapshot_id: self.snapshot_id,
            chunk_size: self.chunk_size,
            seqno: self.seqno,
        });
        if let Some(t) = self.timeout {
            req.set_timeout(t);
        }
        req
    }
}

/// A server-side snapshot, from [`KvdClient::create_snapshot`](super::KvdClient::create_snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteSnapshot {
    /// Pass as `snapshot_id` to reads.
    pub id: u64,
    /// The sequence number it reads at.
    pub seqno: u64,
    /// The lease granted; every read through the snapshot renews it.
    pub lease: Duration,
}

/// Where a read is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadAt {
    /// The latest state.
    #[default]
    Latest,
    /// A server-side snapshot, by id (from
    /// [`KvdClient::create_snapshot`](super::KvdClient::create_snapshot)).
    Snapshot(u64),
    /// A sequence number: the latest, one at or above the server's history floor (see
    /// [`KvdClient::set_history_floor`](super::KvdClient::set_history_floor)), or a live
    /// snapshot's. Older ones fail with [`ClientError::InvalidArgument`](super::ClientError).
    Seqno(u64),
}

impl ReadAt {
    /// The request's `(snapshot_id, seqno)` fields.
    pub(crate) fn fields(self) -> (u64, u64) {
        match self {
            ReadAt::Latest => (0, 0),
            ReadAt::Snapshot(id) => (id, 0),
            ReadAt::Seqno(s) => (0, s),
        }
    }
}
