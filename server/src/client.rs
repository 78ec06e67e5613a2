//! [`KvdClient`]: a typed Rust client for a kvd server.
//!
//! One client holds one HTTP/2 [`Channel`]; cloning it is cheap and clones share the
//! connection, so a process should connect once and clone. Unary calls carry the
//! [`ClientOptions::request_timeout`] as their gRPC deadline; scans only carry the deadline
//! their [`ScanOptions`] name, since a long scan is normal. Failures come back as
//! [`ClientError`], whose variants mirror `kvd::Error` (the server labels each status with
//! its engine error kind, so the mapping is exact, not guessed from the gRPC code).
//!
//! ```no_run
//! # async fn demo() -> Result<(), kvd_server::client::ClientError> {
//! use kvd_server::client::{Batch, KvdClient, ScanOptions};
//! let client = KvdClient::connect("127.0.0.1:50051").await?;
//! client.put(b"user/1", b"ada").await?;
//! assert_eq!(client.get(b"user/1").await?.as_deref(), Some(&b"ada"[..]));
//! client.write(Batch::new().put(b"user/2", b"grace").delete(b"user/0")).await?;
//! let users = client.scan(ScanOptions::prefix(b"user/")).await?.collect_all().await?;
//! assert_eq!(users.len(), 2);
//! # Ok(()) }
//! ```
//!
//! Beyond the plain calls: versioned reads, compare-and-swap puts and TTLs
//! ([`KvdClient::get_at`], [`KvdClient::put_if_version`], [`KvdClient::expire`]),
//! interactive transactions ([`KvdClient::begin`] → [`RemoteTxn`]), one-shot compare
//! transactions ([`KvdClient::txn`] with a [`CompareTxn`]), typed values
//! ([`KvdClient::incr_by`], [`KvdClient::lpush`], [`KvdClient::sadd`], [`KvdClient::hset`],
//! ...), documents, indexes and SQL queries ([`KvdClient::put_doc`],
//! [`KvdClient::create_index`], [`KvdClient::query`] → [`QueryStream`]) and administration
//! ([`KvdClient::checkpoint`], [`KvdClient::compact_range`]).

mod admin;
mod error;
mod options;
mod query;
mod query_stream;
mod scan;
mod txn;
mod types;
mod versions;

use std::time::{Duration, Instant};

use tonic::transport::{Channel, Endpoint};
use tonic::Request;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

pub use error::{ClientError, Result};
use options::ttl_millis;
pub use options::{Batch, ClientOptions, PutOptions, ReadAt, RemoteSnapshot, ScanOptions, Served};
pub use query::{DocBatch, QueryOptions};
pub use query_stream::{QueryPage, QueryStream};
pub use scan::ScanStream;
pub use txn::{Compare, CompareOp, CompareTxn, OpResult, RemoteTxn, TxnOp, TxnOutcome, TxnPage};
pub use versions::{PutOutcome, Versioned};

use crate::proto::admin_client::AdminClient;
use crate::proto::kv_client::KvClient;
use crate::proto::query_client::QueryClient;
use crate::proto::txn_client::TxnClient;
use crate::proto::types_client::TypesClient;
use crate::proto::{self, precondition};

/// A connection to a kvd server; see the module documentation.
#[derive(Debug, Clone)]
pub struct KvdClient {
    kv: KvClient<Channel>,
    txn: TxnClient<Channel>,
    types: TypesClient<Channel>,
    query: QueryClient<Channel>,
    admin: AdminClient<Channel>,
    health: HealthClient<Channel>,
    opts: ClientOptions,
}

impl KvdClient {
    /// Connects to `addr` (`host:port` or a `http://` URI) with default options.
    pub async fn connect(addr: impl AsRef<str>) -> Result<KvdClient> {
        KvdClient::connect_with(addr, ClientOptions::default()).await
    }

    /// Connects to `addr` with `opts`.
    pub async fn connect_with(addr: impl AsRef<str>, opts: ClientOptions) -> Result<KvdClient> {
        let addr = addr.as_ref();
        let uri = if addr.contains("://") { addr.to_string() } else { format!("http://{addr}") };
        let mut endpoint = Endpoint::from_shared(uri)?.connect_timeout(opts.connect_timeout).tcp_nodelay(true);
        if let Some(t) = opts.request_timeout {
            endpoint = endpoint.timeout(t);
        }
        let channel = endpoint.connect().await?;
        Ok(KvdClient::from_channel(channel, opts))
    }

    /// A client over an existing channel.
    pub fn from_channel(channel: Channel, opts: ClientOptions) -> KvdClient {
        let max = opts.max_message_bytes;
        KvdClient {
            kv: KvClient::new(channel.clone()).max_decoding_message_size(max).max_encoding_message_size(max),
            txn: TxnClient::new(channel.clone()).max_decoding_message_size(max).max_encoding_message_size(max),
            types: TypesClient::new(channel.clone()).max_decoding_message_size(max).max_encoding_message_size(max),
            query: QueryClient::new(channel.clone()).max_decoding_message_size(max).max_encoding_message_size(max),
            admin: AdminClient::new(channel.clone()).max_decoding_message_size(max).max_encoding_message_size(max),
            health: HealthClient::new(channel),
            opts,
        }
    }

    /// The generated `KV` client on the same connection, for requests the typed API does
    /// not express.
    pub fn raw_kv(&self) -> KvClient<Channel> {
        self.kv.clone()
    }

    /// The generated `Admin` client on the same connection.
    pub fn raw_admin(&self) -> AdminClient<Channel> {
        self.admin.clone()
    }

    /// The generated `Txn` client on the same connection.
    pub fn raw_txn(&self) -> TxnClient<Channel> {
        self.txn.clone()
    }

    /// The generated `Types` client on the same connection.
    pub fn raw_types(&self) -> TypesClient<Channel> {
        self.types.clone()
    }

    /// The generated `Query` client on the same connection.
    pub fn raw_query(&self) -> QueryClient<Channel> {
        self.query.clone()
    }

    pub(crate) fn request<T>(&self, msg: T) -> Request<T> {
        let mut req = Request::new(msg);
        if let Some(t) = self.opts.request_timeout {
            req.set_timeout(t);
        }
        req
    }

    /// The value of `key`, or `None` if absent, deleted or expired.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self.get_opt(key, 0).await?.value)
    }

    /// The value of `key` at server-side snapshot `snapshot_id` (0: latest), with the
    /// sequence number it was read at.
    pub async fn get_opt(&self, key: impl AsRef<[u8]>, snapshot_id: u64) -> Result<Served<Option<Vec<u8>>>> {
        let req = proto::GetRequest { key: key.as_ref().to_vec(), snapshot_id, seqno: 0 };
        let r = self.kv.clone().get(self.request(req)).await?.into_inner();
        Ok(Served { value: r.found.then_some(r.value), seqno: seqno(&r.header) })
    }

    /// The values of `keys`, in order, all read at one sequence number.
    pub async fn batch_get<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        snapshot_id: u64,
    ) -> Result<Served<Vec<Option<Vec<u8>>>>> {
        let keys = keys.iter().map(|k| k.as_ref().to_vec()).collect();
        let req = proto::BatchGetRequest { keys, snapshot_id, seqno: 0 };
        let r = self.kv.clone().batch_get(self.request(req)).await?.into_inner();
        let values = r.results.into_iter().map(|g| g.found.then_some(g.value)).collect();
        Ok(Served { value: values, seqno: seqno(&r.header) })
    }

    /// Sets `key` to `value`; returns the write's sequence number.
    pub async fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<u64> {
        Ok(self.put_opt(key, value, PutOptions::default()).await?.seqno)
    }

    /// Sets `key` to `value`, expiring `ttl` after the commit.
    pub async fn put_with_ttl(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, ttl: Duration) -> Result<u64> {
        Ok(self.put_opt(key, value, PutOptions { ttl: Some(ttl), ..Default::default() }).await?.seqno)
    }

    /// Sets `key` to `value` only if it holds no live value; true when written.
    pub async fn put_if_absent(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<bool> {
        Ok(self.put_opt(key, value, PutOptions { if_absent: true, ..Default::default() }).await?.value)
    }

    /// A put with every option; `value` of the result says whether it was applied.
    pub async fn put_opt(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: PutOptions,
    ) -> Result<Served<bool>> {
        let req = proto::PutRequest {
            key: key.as_ref().to_vec(),
            value: value.as_ref().to_vec(),
            ttl_ms: opts.ttl.map_or(0, ttl_millis),
            precondition: opts
                .if_absent
                .then_some(proto::Precondition { check: Some(precondition::Check::NotExists(proto::NotExists {})) }),
            sync: opts.sync,
        };
        let r = self.kv.clone().put(self.request(req)).await?.into_inner();
        Ok(Served { value: r.applied, seqno: seqno(&r.header) })
    }

    /// Removes `key`; returns the write's sequence number.
    pub async fn delete(&self, key: impl AsRef<[u8]>) -> Result<u64> {
        let req = proto::DeleteRequest { key: key.as_ref().to_vec(), sync: false };
        Ok(seqno(&self.kv.clone().delete(self.request(req)).await?.into_inner().header))
    }

    /// Removes every key in `[start, end)` atomically; returns how many were removed.
    pub async fn delete_range(&self, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) -> Result<u64> {
        let req = proto::DeleteRangeRequest {
            start: start.as_ref().to_vec(),
            end: end.as_ref().to_vec(),
            ..Default::default()
        };
        Ok(self.kv.clone().delete_range(self.request(req)).await?.into_inner().deleted)
    }

    /// Removes every key starting with `prefix` atomically; returns how many were removed.
    pub async fn delete_prefix(&self, prefix: impl AsRef<[u8]>) -> Result<u64> {
        let req = proto::DeleteRangeRequest { prefix: prefix.as_ref().to_vec(), ..Default::default() };
        Ok(self.kv.clone().delete_range(self.request(req)).await?.into_inner().deleted)
    }

    /// Applies `batch` atomically; returns the sequence number of its last entry.
    pub async fn write(&self, batch: &Batch) -> Result<u64> {
        let req = proto::WriteRequest { ops: batch.ops.clone(), sync: batch.sync };
        Ok(seqno(&self.kv.clone().write(self.request(req)).await?.into_inner().header))
    }

    /// Starts a scan; entries stream in as [`ScanStream`] is read.
    pub async fn scan(&self, opts: ScanOptions) -> Result<ScanStream> {
        let deadline = opts.timeout.map(|t| Instant::now() + t);
        let inner = self.kv.clone().scan(opts.into_request()).await?.into_inner();
        Ok(ScanStream::new(inner, deadline))
    }

    /// Pins the current state on the server for `lease` (`None`: the server's default).
    pub async fn create_snapshot(&self, lease: Option<Duration>) -> Result<RemoteSnapshot> {
        let req = proto::CreateSnapshotRequest { lease_ms: lease.map_or(0, ttl_millis) };
        let r = self.kv.clone().create_snapshot(self.request(req)).await?.into_inner();
        Ok(RemoteSnapshot { id: r.snapshot_id, seqno: seqno(&r.header), lease: Duration::from_millis(r.lease_ms) })
    }

    /// Releases a server-side snapshot.
    pub async fn release_snapshot(&self, id: u64) -> Result<()> {
        self.kv.clone().release_snapshot(self.request(proto::ReleaseSnapshotRequest { snapshot_id: id })).await?;
        Ok(())
    }

    /// The engine's statistics.
    pub async fn stats(&self) -> Result<proto::StatsResponse> {
        Ok(self.admin.clone().stats(self.request(proto::StatsRequest {})).await?.into_inner())
    }

    /// Flushes the server's memtables to tables.
    pub async fn flush(&self) -> Result<()> {
        self.admin.clone().flush(self.request(proto::FlushRequest {})).await?;
        Ok(())
    }

    /// The server's version, uptime, data directory and configuration.
    pub async fn server_info(&self) -> Result<proto::ServerInfoResponse> {
        Ok(self.admin.clone().server_info(self.request(proto::ServerInfoRequest {})).await?.into_inner())
    }

    /// The gRPC health status of `service` (`""`: the server as a whole).
    pub async fn health(&self, service: &str) -> Result<ServingStatus> {
        let req = HealthCheckRequest { service: service.to_string() };
        let r = self.health.clone().check(self.request(req)).await?.into_inner();
        Ok(ServingStatus::try_from(r.status).unwrap_or(ServingStatus::Unknown))
    }
}

pub(crate) fn seqno(h: &Option<proto::ResponseHeader>) -> u64 {
    h.as_ref().map_or(0, |h| h.seqno)
}
