//! Every invalid or hostile request gets the documented gRPC code and a message saying what
//! was wrong, and the server keeps serving.

mod common;

use common::TestServer;
use kvd_server::client::{Batch, ClientError, ScanOptions};
use kvd_server::proto::{self, precondition, write_op};
use kvd_server::KvdClient;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::{Code, Request, Response, Status};

const MAX_KEY: usize = 64;
const MAX_VALUE: usize = 1024;
const MAX_MESSAGE: usize = 16 * 1024;
const MAX_OPS: usize = 50;

async fn small_server() -> TestServer {
    TestServer::start_with(|c| {
        c.max_key_bytes = MAX_KEY;
        c.max_value_bytes = MAX_VALUE;
        c.max_message_bytes = MAX_MESSAGE;
        c.max_batch_ops = MAX_OPS;
        c.max_snapshots = 2;
        c.max_snapshot_lease_ms = 10_000;
    })
    .await
}

#[track_caller]
fn assert_code<T: std::fmt::Debug>(r: Result<T, ClientError>, code: Code, needle: &str) {
    match r {
        Ok(v) => panic!("expected {code:?} ({needle}), got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.code(), code, "{e}");
            assert!(e.to_string().contains(needle), "message {e} should mention {needle:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_values() {
    let server = small_server().await;
    let c = server.client().await;
    let long_key = vec![b'k'; MAX_KEY + 1];
    let big_value = vec![0u8; MAX_VALUE + 1];

    assert_code(c.get(b"").await, Code::InvalidArgument, "key must not be empty");
    assert_code(c.get(&long_key).await, Code::InvalidArgument, "65 bytes exceeds max_key_bytes 64");
    assert_code(c.put(b"", b"v").await, Code::InvalidArgument, "key must not be empty");
    assert_code(c.put(&long_key, b"v").await, Code::InvalidArgument, "max_key_bytes");
    assert_code(c.put(b"k", &big_value).await, Code::InvalidArgument, "1025 bytes exceeds max_value_bytes 1024");
    assert_code(c.put_if_absent(b"", b"v").await, Code::InvalidArgument, "key must not be empty");
    assert_code(c.delete(b"").await, Code::InvalidArgument, "key must not be empty");
    assert_code(c.delete(&long_key).await, Code::InvalidArgument, "max_key_bytes");
    assert_code(c.batch_get(&[&b"ok"[..], b""], 0).await, Code::InvalidArgument, "keys[1]: key must not be empty");
    assert_code(
        c.write(Batch::new().put(b"a", b"1").put(b"b", &big_value)).await,
        Code::InvalidArgument,
        "ops[1].put.value",
    );
    assert_code(c.write(Batch::new().delete(b"a").delete(&long_key)).await, Code::InvalidArgument, "ops[1].delete.key");
    // Limits are inclusive: the largest key and value are fine.
    c.put(vec![b'k'; MAX_KEY], vec![1u8; MAX_VALUE]).await.unwrap();
    // Nothing invalid was written.
    assert_eq!(c.get(b"a").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttls_batches_and_preconditions() {
    let server = small_server().await;
    let c = server.client().await;
    let mut kv = c.raw_kv();
    let put = |ttl_ms, precondition| proto::PutRequest {
        key: b"k".to_vec(),
        value: b"v".to_vec(),
        ttl_ms,
        precondition,
        sync: false,
    };
    let err = kv.put(put(u64::MAX, None)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("ttl_ms"), "{}", err.message());
    let err = kv.put(put(0, Some(proto::Precondition { check: None }))).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("precondition"));
    let ok =
        kv.put(put(0, Some(proto::Precondition { check: Some(precondition::Check::NotExists(proto::NotExists {})) })));
    assert!(ok.await.unwrap().into_inner().applied);

    let err = kv.write(proto::WriteRequest { ops: vec![], sync: false }).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("at least one operation"));
    let unset = proto::WriteRequest { ops: vec![proto::WriteOp { op: None }], sync: false };
    let err = kv.write(unset).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("ops[0]: no operation is set"));
    let ttl = proto::WriteOp {
        op: Some(write_op::Op::Put(proto::PutOp { key: b"k".to_vec(), value: vec![], ttl_ms: u64::MAX })),
    };
    let err = kv.write(proto::WriteRequest { ops: vec![ttl], sync: false }).await.unwrap_err();
    assert!(err.message().contains("ops[0].put.ttl_ms"), "{}", err.message());

    let mut many = Batch::new();
    for i in 0..=MAX_OPS {
        many.delete(format!("k{i}"));
    }
    assert_code(c.write(&many).await, Code::InvalidArgument, "51 entries exceed max_batch_ops 50");
    let keys: Vec<Vec<u8>> = (0..=MAX_OPS).map(|i| format!("k{i}").into_bytes()).collect();
    assert_code(c.batch_get(&keys, 0).await, Code::InvalidArgument, "max_batch_ops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_and_scans() {
    let server = small_server().await;
    let c = server.client().await;
    let mut kv = c.raw_kv();
    assert_code(c.delete_range(b"b", b"a").await, Code::InvalidArgument, "sorts after end");
    let both = proto::DeleteRangeRequest { start: b"a".to_vec(), prefix: b"p".to_vec(), ..Default::default() };
    let err = kv.delete_range(both).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("prefix"));
    let err = kv.delete_range(proto::DeleteRangeRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("all empty"), "{}", err.message());

    assert_code(c.scan(ScanOptions::range(b"z", b"a")).await.map(|_| ()), Code::InvalidArgument, "sorts after end");
    let err = kv.scan(proto::ScanRequest { limit: -1, ..Default::default() }).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("limit: -1 is negative"));
    let both = proto::ScanRequest { end: b"z".to_vec(), prefix: b"p".to_vec(), ..Default::default() };
    assert_eq!(kv.scan(both).await.unwrap_err().code(), Code::InvalidArgument);

    // A range holding more live keys than max_batch_ops deletes nothing.
    let mut b = Batch::new();
    for i in 0..MAX_OPS {
        b.put(format!("r{i:03}"), b"v");
    }
    c.write(&b).await.unwrap();
    c.write(Batch::new().put(b"r999", b"v")).await.unwrap();
    assert_code(c.delete_prefix(b"r").await, Code::ResourceExhausted, "split the range");
    assert_eq!(c.scan(ScanOptions::prefix(b"r")).await.unwrap().collect_all().await.unwrap().len(), MAX_OPS + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots() {
    let server = small_server().await;
    let c = server.client().await;
    assert_code(c.get_opt(b"k", 12345).await, Code::NotFound, "snapshot 12345 not found");
    assert_code(c.batch_get(&[b"k"], 777).await, Code::NotFound, "snapshot 777");
    assert_code(c.scan(ScanOptions::all().at(999)).await.map(|_| ()), Code::NotFound, "snapshot 999");
    assert_code(c.release_snapshot(5).await, Code::NotFound, "snapshot 5");
    assert_code(
        c.create_snapshot(Some(std::time::Duration::from_secs(11))).await,
        Code::InvalidArgument,
        "exceeds max_snapshot_lease_ms",
    );
    c.create_snapshot(None).await.unwrap();
    c.create_snapshot(None).await.unwrap();
    assert_code(c.create_snapshot(None).await, Code::ResourceExhausted, "max_snapshots");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_are_resource_exhausted() {
    let server = small_server().await;
    // A client that would send more than the server accepts.
    let opts = kvd_server::client::ClientOptions { max_message_bytes: 1 << 20, ..Default::default() };
    let c = server.client_with(opts).await;
    assert_code(c.put(b"k", vec![0u8; MAX_MESSAGE * 2]).await, Code::ResourceExhausted, "too large");
    let keys: Vec<Vec<u8>> = (0..MAX_OPS).map(|i| vec![i as u8 + 1; MAX_KEY]).collect();
    let mut big = Batch::new();
    for k in &keys {
        big.put(k, vec![0u8; MAX_VALUE]);
    }
    assert_code(c.write(&big).await, Code::ResourceExhausted, "too large");
    // The server still serves.
    c.put(b"k", b"v").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_that_would_be_too_big_are_resource_exhausted() {
    let server = small_server().await;
    let c = server.client().await;
    // Forty values of 1 KiB each fit the limits one by one but not in one 16 KiB response.
    let keys: Vec<Vec<u8>> = (0..40).map(|i| format!("big{i:02}").into_bytes()).collect();
    for k in &keys {
        c.put(k, vec![7u8; MAX_VALUE]).await.unwrap();
    }
    assert_code(c.batch_get(&keys, 0).await, Code::ResourceExhausted, "does not fit in one response");
    // Scans split the same data into chunks that fit.
    let all = c.scan(ScanOptions::prefix(b"big")).await.unwrap().collect_all().await.unwrap();
    assert_eq!(all.len(), 40);
}

/// A future version of PutRequest with a field this server does not know.
#[derive(Clone, PartialEq, prost::Message)]
struct FuturePutRequest {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
    #[prost(uint64, tag = "42")]
    version_equals: u64,
}

/// A future WriteRequest whose nested PutOp carries an unknown field.
#[derive(Clone, PartialEq, prost::Message)]
struct FuturePutOp {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(uint64, tag = "9")]
    if_version: u64,
}
#[derive(Clone, PartialEq, prost::Message)]
struct FutureWriteOp {
    #[prost(message, optional, tag = "1")]
    put: Option<FuturePutOp>,
}
#[derive(Clone, PartialEq, prost::Message)]
struct FutureWriteRequest {
    #[prost(message, repeated, tag = "1")]
    ops: Vec<FutureWriteOp>,
}

/// A GetRequest whose key has the wrong wire type.
#[derive(Clone, PartialEq, prost::Message)]
struct MalformedGetRequest {
    #[prost(uint64, tag = "1")]
    key: u64,
}

async fn raw_call<Req, Resp>(server: &TestServer, path: &'static str, req: Req) -> Result<Response<Resp>, Status>
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    grpc.ready().await.unwrap();
    grpc.unary(Request::new(req), PathAndQuery::from_static(path), tonic_prost::ProstCodec::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_and_malformed_messages() {
    let server = small_server().await;
    let req = FuturePutRequest { key: b"k".to_vec(), value: b"v".to_vec(), version_equals: 3 };
    let err = raw_call::<_, proto::PutResponse>(&server, "/kvd.v1.KV/Put", req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("unknown field number 42 in kvd.v1.PutRequest"), "{}", err.message());

    let req = FutureWriteRequest {
        ops: vec![FutureWriteOp { put: Some(FuturePutOp { key: b"k".to_vec(), if_version: 1 }) }],
    };
    let err = raw_call::<_, proto::WriteResponse>(&server, "/kvd.v1.KV/Write", req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("ops: put: unknown field number 9"), "{}", err.message());

    let err =
        raw_call::<_, proto::GetResponse>(&server, "/kvd.v1.KV/Get", MalformedGetRequest { key: 5 }).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("malformed GetRequest"), "{}", err.message());

    // Nothing was written, and the server still answers.
    let c: KvdClient = server.client().await;
    assert_eq!(c.get(b"k").await.unwrap(), None);
}
