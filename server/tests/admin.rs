//! Admin calls of phase 2 (Checkpoint, CompactRange), the connection limit, and health of
//! every service.

mod common;

use std::time::{Duration, Instant};

use common::{key, TestServer};
use kvd_server::client::{Batch, ClientError, ClientOptions, ScanOptions};
use kvd_server::KvdClient;
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_opens_as_an_identical_database() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let mut b = Batch::new();
    for i in 0..2000 {
        b.put(key(i), format!("value-{i}"));
    }
    c.write(&b).await.unwrap();
    c.flush().await.unwrap();
    // Some data only in the memtable, some deleted, some typed.
    c.delete(key(5)).await.unwrap();
    c.put(b"late", b"write").await.unwrap();
    c.sadd(b"set", &["m"]).await.unwrap();

    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("cp");
    let cp = c.checkpoint(dir.display().to_string()).await.unwrap();
    let seq = cp.header.unwrap().seqno;
    assert_eq!(seq, c.stats().await.unwrap().header.unwrap().seqno);
    assert!(cp.files.iter().any(|f| f.name == "CURRENT"), "{:?}", cp.files);
    assert!(cp.files.iter().all(|f| dir.join(&f.name).metadata().unwrap().len() == f.size_bytes));
    // Writes after the checkpoint are not in it.
    c.put(b"after", b"x").await.unwrap();

    // Everything the server holds but `after` (typed values included, under 0x00 keys).
    let expected: Vec<_> = c.scan(ScanOptions::all()).await.unwrap().collect_all().await.unwrap();
    let expected: Vec<_> = expected.into_iter().filter(|(k, _)| k != b"after").collect();
    let copy = kvd::Db::open(&dir, kvd::Options::default()).unwrap();
    let got: Vec<_> = copy.scan(None, None).map(|r| r.unwrap()).collect();
    assert_eq!(got.iter().filter(|(k, _)| k[0] != 0).count(), 2000, "2000 keys, one deleted, one late");
    assert_eq!(got, expected);
    assert_eq!(copy.smembers(b"set").unwrap(), vec![b"m".to_vec()]);
    assert_eq!(copy.latest_seqno(), seq);
    copy.close().unwrap();

    // Bad targets are refused before any work.
    let bad = [
        String::from("relative/dir"),
        dir.display().to_string(),
        server.dir.path().join("inside").display().to_string(),
        out.path().join("x/../y").display().to_string(),
    ];
    for d in bad {
        let e = c.checkpoint(d.clone()).await.unwrap_err();
        assert!(matches!(e, ClientError::InvalidArgument(_)), "{d}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_root_confines_targets() {
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path().to_path_buf();
    let server = TestServer::start_with(|c| c.checkpoint_root = Some(root_path)).await;
    let c = server.client().await;
    c.put(b"k", b"v").await.unwrap();
    c.checkpoint(root.path().join("ok").display().to_string()).await.unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let e = c.checkpoint(elsewhere.path().join("no").display().to_string()).await.unwrap_err();
    assert!(e.to_string().contains("checkpoint_root"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_range_drops_deleted_data() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let mut b = Batch::new();
    for i in 0..3000 {
        b.put(key(i), vec![7u8; 100]);
    }
    c.write(&b).await.unwrap();
    c.flush().await.unwrap();
    assert_eq!(c.delete_range(key(0), key(2900)).await.unwrap(), 2900);
    c.flush().await.unwrap();
    let before = c.stats().await.unwrap();
    let bytes = |s: &kvd_server::proto::StatsResponse| s.levels.iter().map(|l| l.bytes).sum::<u64>();
    c.compact_range(b"", b"").await.unwrap();
    let after = c.stats().await.unwrap();
    assert!(bytes(&after) < bytes(&before) / 4, "{} -> {} bytes", bytes(&before), bytes(&after));
    assert_eq!(after.levels[0].files, 0, "everything left L0");
    assert_eq!(c.scan(ScanOptions::all()).await.unwrap().collect_all().await.unwrap().len(), 100);
    // Bad ranges are refused.
    let e = c.compact_range(b"b", b"a").await.unwrap_err();
    assert!(matches!(e, ClientError::InvalidArgument(_)), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_closes_extra_connections() {
    let server = TestServer::start_with(|c| c.max_connections = 2).await;
    let first = server.client().await;
    let second = server.client().await;
    first.put(b"k", b"v").await.unwrap();
    second.get(b"k").await.unwrap();
    assert_eq!(first.stats().await.unwrap().open_connections, 2);
    let opts = ClientOptions { connect_timeout: Duration::from_secs(2), ..ClientOptions::default() };
    // A third is told why it is refused, then closed.
    let third = KvdClient::connect_with(server.addr.to_string(), opts.clone()).await.unwrap();
    let e = third.get(b"k").await.unwrap_err();
    assert!(matches!(&e, ClientError::ResourceExhausted(m) if m.contains("max_connections (2)")), "{e}");
    drop(third);
    // The first two keep working; closing one frees its slot.
    first.get(b"k").await.unwrap();
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(c) = KvdClient::connect_with(server.addr.to_string(), opts.clone()).await {
            if c.get(b"k").await.is_ok() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the freed slot was never reused");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_reports_health() {
    let server = TestServer::start().await;
    let c = server.client().await;
    for service in std::iter::once("").chain(kvd_server::server::SERVICES) {
        assert_eq!(c.health(service).await.unwrap(), ServingStatus::Serving, "{service}");
    }
}
