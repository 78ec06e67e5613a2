//! Every KV and Admin call through the typed client against an in-process server.

mod common;

use std::time::Duration;

use common::{key, TestServer};
use kvd_server::client::{Batch, ClientError, PutOptions, ScanOptions};
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_put_delete_and_headers() {
    let server = TestServer::start().await;
    let c = server.client().await;
    assert_eq!(c.get(b"missing").await.unwrap(), None);
    let s1 = c.put(b"a", b"1").await.unwrap();
    let s2 = c.put(b"b", b"").await.unwrap();
    assert!(s2 > s1, "seqnos grow: {s1} then {s2}");
    assert_eq!(c.get(b"a").await.unwrap().as_deref(), Some(&b"1"[..]));
    // An empty value is a value, not an absence.
    assert_eq!(c.get(b"b").await.unwrap().as_deref(), Some(&b""[..]));
    let read = c.get_opt(b"a", 0).await.unwrap();
    assert_eq!(read.seqno, s2, "a read is served at the latest seqno");
    let s3 = c.delete(b"a").await.unwrap();
    assert!(s3 > s2);
    assert_eq!(c.get(b"a").await.unwrap(), None);
    // Deleting an absent key succeeds.
    c.delete(b"never-there").await.unwrap();
    let (r, _dir) = server.stop().await;
    r.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_get_reads_one_seqno_in_request_order() {
    let server = TestServer::start().await;
    let c = server.client().await;
    c.put(b"x", b"1").await.unwrap();
    let seq = c.put(b"z", b"3").await.unwrap();
    let got = c.batch_get(&[&b"z"[..], b"y", b"x", b"z"], 0).await.unwrap();
    assert_eq!(got.value, vec![Some(b"3".to_vec()), None, Some(b"1".to_vec()), Some(b"3".to_vec())]);
    assert_eq!(got.seqno, seq);
    let empty = c.batch_get::<&[u8]>(&[], 0).await.unwrap();
    assert!(empty.value.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_if_absent_is_atomic_under_contention() {
    let server = TestServer::start().await;
    let c = server.client().await;
    assert!(c.put_if_absent(b"k", b"first").await.unwrap());
    let lost = c.put_opt(b"k", b"second", PutOptions { if_absent: true, ..Default::default() }).await.unwrap();
    assert!(!lost.value);
    assert_eq!(c.get(b"k").await.unwrap().as_deref(), Some(&b"first"[..]));
    // After a delete the key is absent again.
    c.delete(b"k").await.unwrap();
    assert!(c.put_if_absent(b"k", b"third").await.unwrap());

    // 16 racers on each of 20 fresh keys: exactly one wins per key.
    let mut tasks = Vec::new();
    for t in 0..16 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut wins = Vec::new();
            for k in 0..20 {
                if c.put_if_absent(format!("race/{k}"), format!("{t}")).await.unwrap() {
                    wins.push(k);
                }
            }
            wins
        }));
    }
    let mut winners = vec![0; 20];
    for t in tasks {
        for k in t.await.unwrap() {
            winners[k] += 1;
        }
    }
    assert!(winners.iter().all(|&n| n == 1), "{winners:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_expiry() {
    let server = TestServer::start().await;
    let c = server.client().await;
    c.put_with_ttl(b"short", b"v", Duration::from_millis(300)).await.unwrap();
    c.write(Batch::new().put_with_ttl(b"short-batch", b"v", Duration::from_millis(300)).put(b"forever", b"v"))
        .await
        .unwrap();
    c.put_opt(b"long", b"v", PutOptions { ttl: Some(Duration::from_secs(3600)), ..Default::default() }).await.unwrap();
    assert!(c.get(b"short").await.unwrap().is_some());
    assert!(c.get(b"short-batch").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(c.get(b"short").await.unwrap(), None);
    assert_eq!(c.get(b"short-batch").await.unwrap(), None);
    assert!(c.get(b"long").await.unwrap().is_some());
    let keys: Vec<_> = c.scan(ScanOptions::all()).await.unwrap().collect_all().await.unwrap();
    let keys: Vec<_> = keys.into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec![b"forever".to_vec(), b"long".to_vec()], "expired keys are invisible to scans too");
    // An expired key counts as absent for a conditional put.
    assert!(c.put_if_absent(b"short", b"again").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_is_atomic_and_ordered() {
    let server = TestServer::start().await;
    let c = server.client().await;
    c.put(b"gone", b"x").await.unwrap();
    let mut b = Batch::new();
    b.put(b"a", b"1").put(b"a", b"2").delete(b"gone").put(b"b", b"3").sync(true);
    assert_eq!(b.len(), 4);
    let seq = c.write(&b).await.unwrap();
    let got = c.batch_get(&[&b"a"[..], b"b", b"gone"], 0).await.unwrap();
    assert_eq!(got.value, vec![Some(b"2".to_vec()), Some(b"3".to_vec()), None], "later ops on a key win");
    assert_eq!(got.seqno, seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_range_and_prefix() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let mut b = Batch::new();
    for i in 0..100 {
        b.put(key(i), b"v");
    }
    b.put(b"other/1", b"v").put(b"other/2", b"v");
    c.write(&b).await.unwrap();
    assert_eq!(c.delete_range(key(10), key(20)).await.unwrap(), 10);
    assert_eq!(c.delete_range(key(10), key(20)).await.unwrap(), 0, "already empty");
    assert_eq!(c.delete_range(key(50), key(50)).await.unwrap(), 0, "start == end is empty");
    assert_eq!(c.get(key(9)).await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(c.get(key(10)).await.unwrap(), None);
    assert_eq!(c.get(key(20)).await.unwrap().as_deref(), Some(&b"v"[..]), "end is exclusive");
    assert_eq!(c.delete_prefix(b"other/").await.unwrap(), 2);
    let left = c.scan(ScanOptions::all()).await.unwrap().collect_all().await.unwrap();
    assert_eq!(left.len(), 90);
    // start = 0x00 deletes everything.
    assert_eq!(c.delete_range([0u8], []).await.unwrap(), 90);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_pin_a_state() {
    let server = TestServer::start().await;
    let c = server.client().await;
    c.put(b"k", b"old").await.unwrap();
    c.put(b"j", b"old").await.unwrap();
    let snap = c.create_snapshot(Some(Duration::from_secs(30))).await.unwrap();
    assert_ne!(snap.id, 0);
    assert_eq!(snap.lease, Duration::from_secs(30));
    c.put(b"k", b"new").await.unwrap();
    c.delete(b"j").await.unwrap();
    c.put(b"later", b"x").await.unwrap();
    let at = c.get_opt(b"k", snap.id).await.unwrap();
    assert_eq!((at.value.as_deref(), at.seqno), (Some(&b"old"[..]), snap.seqno));
    assert_eq!(c.get(b"k").await.unwrap().as_deref(), Some(&b"new"[..]));
    let batch = c.batch_get(&[&b"j"[..], b"later"], snap.id).await.unwrap();
    assert_eq!(batch.value, vec![Some(b"old".to_vec()), None]);
    let mut scan = c.scan(ScanOptions::all().at(snap.id)).await.unwrap();
    let mut keys = Vec::new();
    while let Some(kv) = scan.next_entry().await {
        keys.push(kv.unwrap().0);
    }
    assert_eq!(keys, vec![b"j".to_vec(), b"k".to_vec()]);
    assert_eq!(scan.seqno(), Some(snap.seqno));
    assert_eq!(c.stats().await.unwrap().server_snapshots, 1);
    c.release_snapshot(snap.id).await.unwrap();
    let gone = c.get_opt(b"k", snap.id).await.unwrap_err();
    assert!(matches!(gone, ClientError::NotFound(_)), "{gone}");
    assert!(matches!(c.release_snapshot(snap.id).await.unwrap_err(), ClientError::NotFound(_)));
    // A lease that runs out releases the snapshot.
    let short = c.create_snapshot(Some(Duration::from_millis(100))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(matches!(c.get_opt(b"k", short.id).await.unwrap_err(), ClientError::NotFound(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_stats_flush_info_and_health() {
    let server = TestServer::start().await;
    let c = server.client().await;
    for i in 0..50 {
        c.put(key(i), b"value").await.unwrap();
    }
    let before = c.stats().await.unwrap();
    assert!(before.writes >= 50);
    assert!(before.memtable_bytes > 0);
    c.flush().await.unwrap();
    let after = c.stats().await.unwrap();
    assert!(after.flushes > before.flushes);
    assert!(after.levels.iter().map(|l| l.files).sum::<u64>() >= 1);
    assert_eq!(after.header.unwrap().seqno, before.header.unwrap().seqno);
    assert_eq!(c.get(key(7)).await.unwrap().as_deref(), Some(&b"value"[..]), "readable after flush");

    let info = c.server_info().await.unwrap();
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.listen_addr, server.addr.to_string());
    assert_eq!(info.data_dir, server.dir.path().display().to_string());
    assert_eq!(info.sync_policy, "never");
    assert_eq!(info.pid, std::process::id());
    let config: serde_json::Value = serde_json::from_str(&info.config_json).unwrap();
    assert_eq!(config["max_batch_ops"], 100_000);

    assert_eq!(c.health("").await.unwrap(), ServingStatus::Serving);
    assert_eq!(c.health("kvd.v1.KV").await.unwrap(), ServingStatus::Serving);
    assert_eq!(c.health("kvd.v1.Admin").await.unwrap(), ServingStatus::Serving);
    let unknown = c.health("kvd.v1.Nope").await.unwrap_err();
    assert!(matches!(unknown, ClientError::NotFound(_)), "{unknown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_the_services() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let server = TestServer::start().await;
    let mut client = ServerReflectionClient::new(server.channel().await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client.server_reflection_info(tokio_stream::once(req)).await.unwrap().into_inner();
    let resp = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else { panic!("{resp:?}") };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for want in ["kvd.v1.KV", "kvd.v1.Query", "kvd.v1.Admin", "grpc.health.v1.Health"] {
        assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_refuses_new_calls_and_data_survives_restart() {
    let mut server = TestServer::start().await;
    let c = server.client().await;
    c.write(Batch::new().put(b"persist", b"me")).await.unwrap();
    server.begin_stop();
    let (r, dir) = server.stop().await;
    r.unwrap();
    let err = c.get(b"persist").await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err}");

    let config = common::test_config(dir.path());
    let again = kvd_server::Server::bind(config).await.unwrap();
    let addr = again.local_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(again.serve(async {
        let _ = rx.await;
    }));
    let c = kvd_server::KvdClient::connect(addr.to_string()).await.unwrap();
    assert_eq!(c.get(b"persist").await.unwrap().as_deref(), Some(&b"me"[..]));
    tx.send(()).unwrap();
    task.await.unwrap().unwrap();
}
