//! Transactions through the client: interactive ones ([`RemoteTxn`], from
//! [`KvdClient::begin`]) and one-shot compare transactions ([`CompareTxn`], run by
//! [`KvdClient::txn`]).
//!
//! ```no_run
//! # async fn demo(client: kvd_server::KvdClient) -> kvd_server::client::Result<()> {
//! use kvd_server::client::{Compare, CompareOp, CompareTxn, TxnOp};
//! // Interactive: read, decide, write; commit fails with ClientError::Conflict if another
//! // writer got there first.
//! let txn = client.begin(kvd::TxnOptions::default()).await?;
//! let n = txn.get(b"n").await?.map_or(0, |v| v[0]);
//! txn.put(b"n", [n + 1]).await?;
//! txn.commit().await?;
//!
//! // One-shot: create `lock` only if nobody holds it, else read who does.
//! let out = client
//!     .txn(
//!         CompareTxn::new()
//!             .when([Compare::version(b"lock", CompareOp::Equal, 0)])
//!             .and_then([TxnOp::put(b"lock", b"me")])
//!             .or_else([TxnOp::get(b"lock")]),
//!     )
//!     .await?;
//! println!("acquired: {}", out.succeeded);
//! # Ok(()) }
//! ```

use std::time::Duration;

use kvd::{Isolation, TxnOptions};
use tonic::transport::Channel;

use super::options::ttl_millis;
use super::{seqno, KvdClient, Result, ScanOptions, Versioned};
use crate::proto::txn_client::TxnClient;
use crate::proto::{self, compare, request_op, response_op};

impl KvdClient {
    /// Begins an interactive transaction on the server with `opts` (isolation, timeout from
    /// now, sync on commit). The server frees it if it is neither committed nor rolled back
    /// within the timeout; dropping the [`RemoteTxn`] also rolls it back, in the background.
    pub async fn begin(&self, opts: TxnOptions) -> Result<RemoteTxn> {
        let isolation = match opts.isolation {
            Isolation::Snapshot => proto::Isolation::Snapshot,
            Isolation::Serializable => proto::Isolation::Serializable,
        };
        let req =
            proto::BeginRequest { isolation: isolation as i32, timeout_ms: ttl_millis(opts.timeout), sync: opts.sync };
        let r = self.txn.clone().begin(self.request(req)).await?.into_inner();
        Ok(RemoteTxn {
            client: self.clone(),
            id: r.txn_id,
            read_seq: seqno(&r.header),
            timeout: Duration::from_millis(r.timeout_ms),
            finished: false,
        })
    }

    /// Runs a one-shot compare transaction atomically on the server.
    pub async fn txn(&self, txn: CompareTxn) -> Result<TxnOutcome> {
        let r = self.txn.clone().txn(self.request(txn.0)).await?.into_inner();
        let results = r
            .responses
            .into_iter()
            .map(|op| match op.response {
                Some(response_op::Response::Get(g)) => {
                    OpResult::Get(g.found.then_some(Versioned { value: g.value, version: g.version }))
                }
                Some(response_op::Response::Put(_)) => OpResult::Put,
                Some(response_op::Response::Delete(_)) => OpResult::Delete,
                Some(response_op::Response::DeleteRange(d)) => OpResult::DeleteRange(d.deleted),
                None => OpResult::Unknown,
            })
            .collect();
        Ok(TxnOutcome { succeeded: r.succeeded, seqno: seqno(&r.header), results })
    }
}

/// An interactive transaction open on the server; see [`KvdClient::begin`]. Reads see its
/// snapshot plus its own writes; writes stay on the server until [`RemoteTxn::commit`].
#[derive(Debug)]
pub struct RemoteTxn {
    client: KvdClient,
    id: u64,
    read_seq: u64,
    timeout: Duration,
    finished: bool,
}

/// One page of a transactional scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxnPage {
    /// The entries, in scan order.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// True when the range holds more than the limit: continue after the last key.
    pub more: bool,
}

impl RemoteTxn {
    /// The server's id of this transaction.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The sequence number its snapshot reads at.
    pub fn read_seq(&self) -> u64 {
        self.read_seq
    }

    /// The timeout the server granted, counted from begin.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn rpc(&self) -> TxnClient<Channel> {
        self.client.txn.clone()
    }

    /// The value of `key` as the transaction sees it.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        self.read(key.as_ref(), false).await
    }

    /// As [`RemoteTxn::get`], and the commit fails if `key` changes meanwhile, at any
    /// isolation level.
    pub async fn get_for_update(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        self.read(key.as_ref(), true).await
    }

    async fn read(&self, key: &[u8], for_update: bool) -> Result<Option<Vec<u8>>> {
        let req = proto::TxnGetRequest { txn_id: self.id, key: key.to_vec(), for_update };
        let r = self.rpc().get(self.client.request(req)).await?.into_inner();
        Ok(r.found.then_some(r.value))
    }

    /// Buffers setting `key` to `value`.
    pub async fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.put_ttl(key.as_ref(), value.as_ref(), 0).await
    }

    /// Buffers setting `key` to `value`, expiring `ttl` after the commit.
    pub async fn put_with_ttl(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, ttl: Duration) -> Result<()> {
        self.put_ttl(key.as_ref(), value.as_ref(), ttl_millis(ttl)).await
    }

    async fn put_ttl(&self, key: &[u8], value: &[u8], ttl_ms: u64) -> Result<()> {
        let req = proto::TxnPutRequest { txn_id: self.id, key: key.to_vec(), value: value.to_vec(), ttl_ms };
        self.rpc().put(self.client.request(req)).await?;
        Ok(())
    }

    /// Buffers removing `key`.
    pub async fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let req = proto::TxnDeleteRequest { txn_id: self.id, key: key.as_ref().to_vec() };
        self.rpc().delete(self.client.request(req)).await?;
        Ok(())
    }

    /// Up to `opts.limit` entries (0: the server's default of 1000) of the range or prefix
    /// of `opts`, as the transaction sees them. `opts`' snapshot, seqno, chunk size and
    /// timeout do not apply.
    pub async fn scan(&self, opts: &ScanOptions) -> Result<TxnPage> {
        let req = proto::TxnScanRequest {
            txn_id: self.id,
            start: opts.start.clone().unwrap_or_default(),
            end: opts.end.clone().unwrap_or_default(),
            prefix: opts.prefix.clone().unwrap_or_default(),
            limit: u32::try_from(opts.limit).unwrap_or(u32::MAX),
            reverse: opts.reverse,
            keys_only: opts.keys_only,
        };
        let r = self.rpc().scan(self.client.request(req)).await?.into_inner();
        Ok(TxnPage { entries: r.kvs.into_iter().map(|kv| (kv.key, kv.value)).collect(), more: r.more })
    }

    /// Applies the buffered writes atomically; returns the commit's sequence number. On
    /// [`ClientError::Conflict`](super::ClientError::Conflict) or
    /// [`ClientError::TransactionExpired`](super::ClientError::TransactionExpired) nothing
    /// was applied: begin again.
    pub async fn commit(mut self) -> Result<u64> {
        self.finished = true;
        let req = proto::CommitRequest { txn_id: self.id };
        let r = self.rpc().commit(self.client.request(req)).await?.into_inner();
        Ok(seqno(&r.header))
    }

    /// Discards the transaction.
    pub async fn rollback(mut self) -> Result<()> {
        self.finished = true;
        self.rpc().rollback(self.client.request(proto::RollbackRequest { txn_id: self.id })).await?;
        Ok(())
    }
}

impl Drop for RemoteTxn {
    /// Rolls back an unfinished transaction in the background (best effort: without a tokio
    /// runtime the server's timeout frees it).
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let mut rpc = self.rpc();
            let req = self.client.request(proto::RollbackRequest { txn_id: self.id });
            rt.spawn(async move {
                let _ = rpc.rollback(req).await;
            });
        }
    }
}

/// How a [`Compare`] compares the key's target with the given one: `target OP given`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// Equal.
    Equal,
    /// Not equal.
    NotEqual,
    /// The key's target is greater (bytewise for values).
    Greater,
    /// The key's target is less.
    Less,
}

impl CompareOp {
    fn proto(self) -> i32 {
        (match self {
            CompareOp::Equal => compare::CompareResult::Equal,
            CompareOp::NotEqual => compare::CompareResult::NotEqual,
            CompareOp::Greater => compare::CompareResult::Greater,
            CompareOp::Less => compare::CompareResult::Less,
        }) as i32
    }
}

/// One condition of a [`CompareTxn`], evaluated at its snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Compare(proto::Compare);

impl Compare {
    fn new(key: &[u8], op: CompareOp, target: compare::Target) -> Compare {
        Compare(proto::Compare { result: op.proto(), key: key.to_vec(), target: Some(target) })
    }

    /// The key's live value `op` `value` (an absent key only satisfies `NotEqual`).
    pub fn value(key: impl AsRef<[u8]>, op: CompareOp, value: impl AsRef<[u8]>) -> Compare {
        Compare::new(key.as_ref(), op, compare::Target::Value(value.as_ref().to_vec()))
    }

    /// The key's version `op` `version` (an absent key's version is 0).
    pub fn version(key: impl AsRef<[u8]>, op: CompareOp, version: u64) -> Compare {
        Compare::new(key.as_ref(), op, compare::Target::Version(version))
    }

    /// The key holds a live value.
    pub fn exists(key: impl AsRef<[u8]>) -> Compare {
        Compare::new(key.as_ref(), CompareOp::Equal, compare::Target::Exists(true))
    }

    /// The key holds no live value.
    pub fn not_exists(key: impl AsRef<[u8]>) -> Compare {
        Compare::new(key.as_ref(), CompareOp::Equal, compare::Target::Exists(false))
    }
}

/// One operation of a [`CompareTxn`] branch.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnOp(proto::RequestOp);

impl TxnOp {
    fn of(r: request_op::Request) -> TxnOp {
        TxnOp(proto::RequestOp { request: Some(r) })
    }

    /// Read a key.
    pub fn get(key: impl AsRef<[u8]>) -> TxnOp {
        TxnOp::of(request_op::Request::Get(proto::TxnOpGet { key: key.as_ref().to_vec() }))
    }

    /// Set a key.
    pub fn put(key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> TxnOp {
        let op = proto::PutOp { key: key.as_ref().to_vec(), value: value.as_ref().to_vec(), ttl_ms: 0 };
        TxnOp::of(request_op::Request::Put(op))
    }

    /// Set a key expiring `ttl` after the commit.
    pub fn put_with_ttl(key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, ttl: Duration) -> TxnOp {
        let op = proto::PutOp { key: key.as_ref().to_vec(), value: value.as_ref().to_vec(), ttl_ms: ttl_millis(ttl) };
        TxnOp::of(request_op::Request::Put(op))
    }

    /// Remove a key.
    pub fn delete(key: impl AsRef<[u8]>) -> TxnOp {
        TxnOp::of(request_op::Request::Delete(proto::DeleteOp { key: key.as_ref().to_vec() }))
    }

    /// Remove every live key in `[start, end)` (an empty bound is open).
    pub fn delete_range(start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) -> TxnOp {
        let r = proto::TxnOpDeleteRange { start: start.as_ref().to_vec(), end: end.as_ref().to_vec(), prefix: vec![] };
        TxnOp::of(request_op::Request::DeleteRange(r))
    }

    /// Remove every live key starting with `prefix`.
    pub fn delete_prefix(prefix: impl AsRef<[u8]>) -> TxnOp {
        let r = proto::TxnOpDeleteRange { prefix: prefix.as_ref().to_vec(), ..Default::default() };
        TxnOp::of(request_op::Request::DeleteRange(r))
    }
}

/// A one-shot transaction, like etcd's: if every compare holds, the `and_then` operations
/// run, else the `or_else` ones, atomically. Run it with [`KvdClient::txn`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompareTxn(proto::TxnRequest);

impl CompareTxn {
    /// An empty transaction (no compares: `and_then` runs).
    pub fn new() -> CompareTxn {
        CompareTxn::default()
    }

    /// Adds conditions.
    pub fn when(mut self, compares: impl IntoIterator<Item = Compare>) -> CompareTxn {
        self.0.compare.extend(compares.into_iter().map(|c| c.0));
        self
    }

    /// Adds operations to run when every condition holds.
    pub fn and_then(mut self, ops: impl IntoIterator<Item = TxnOp>) -> CompareTxn {
        self.0.success.extend(ops.into_iter().map(|o| o.0));
        self
    }

    /// Adds operations to run when some condition fails.
    pub fn or_else(mut self, ops: impl IntoIterator<Item = TxnOp>) -> CompareTxn {
        self.0.failure.extend(ops.into_iter().map(|o| o.0));
        self
    }

    /// Fsync the server's write-ahead log before acknowledging.
    pub fn sync(mut self, sync: bool) -> CompareTxn {
        self.0.sync = sync;
        self
    }
}

/// The result of one operation of a [`CompareTxn`] branch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpResult {
    /// A get: the value and version, or `None` for an absent key.
    Get(Option<Versioned>),
    /// A put ran.
    Put,
    /// A delete ran.
    Delete,
    /// A range delete removed this many live keys.
    DeleteRange(u64),
    /// A result this client does not know (from a newer server).
    Unknown,
}

/// The outcome of a [`CompareTxn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOutcome {
    /// True when every compare held and the `and_then` branch ran.
    pub succeeded: bool,
    /// The commit's sequence number, or the snapshot's when the branch wrote nothing.
    pub seqno: u64,
    /// One result per operation of the branch that ran, in order.
    pub results: Vec<OpResult>,
}
