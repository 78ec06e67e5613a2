//! Streaming scans over 100k keys: order, count, reverse, limit, keys-only, prefixes, chunking
//! and cancellation.

mod common;

use std::time::{Duration, Instant};

use common::{key, TestServer};
use kvd_server::client::{Batch, ScanOptions};
use kvd_server::proto;

const N: usize = 100_000;

fn value(i: usize) -> Vec<u8> {
    format!("value-{i}").into_bytes()
}

async fn load(c: &kvd_server::KvdClient) {
    for start in (0..N).step_by(20_000) {
        let mut b = Batch::new();
        for i in start..start + 20_000 {
            b.put(key(i), value(i));
        }
        c.write(&b).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_of_100k_keys() {
    let server = TestServer::start().await;
    let c = server.client().await;
    load(&c).await;

    // Everything, ascending, streamed in many chunks (no message holds all 100k entries).
    let mut raw = c.raw_kv().scan(proto::ScanRequest::default()).await.unwrap().into_inner();
    let (mut chunks, mut total, mut biggest) = (0, 0, 0);
    let mut prev: Option<Vec<u8>> = None;
    let mut seqnos = std::collections::HashSet::new();
    while let Some(chunk) = raw.message().await.unwrap() {
        chunks += 1;
        biggest = biggest.max(chunk.kvs.len());
        seqnos.insert(chunk.header.unwrap().seqno);
        for kv in chunk.kvs {
            assert_eq!(kv.key, key(total), "ascending and complete");
            assert_eq!(kv.value, value(total));
            if let Some(p) = &prev {
                assert!(p < &kv.key);
            }
            prev = Some(kv.key);
            total += 1;
        }
        assert!(!chunk.more);
    }
    assert_eq!(total, N);
    assert!(chunks >= 100, "{chunks} chunks");
    assert!(biggest <= 1000, "default chunk size: {biggest}");
    assert_eq!(seqnos.len(), 1, "every chunk carries the one seqno the scan reads at");

    // Reverse, keys only.
    let mut rev = c.scan(ScanOptions::all().reverse().keys_only()).await.unwrap();
    let mut i = N;
    while let Some(kv) = rev.next_entry().await {
        let (k, v) = kv.unwrap();
        i -= 1;
        assert_eq!(k, key(i));
        assert!(v.is_empty(), "keys_only leaves values empty");
    }
    assert_eq!(i, 0);

    // Limit, forward and reverse, with `more`.
    let mut lim = c.scan(ScanOptions::all().limit(10)).await.unwrap();
    let mut got = Vec::new();
    while let Some(kv) = lim.next_entry().await {
        got.push(kv.unwrap().0);
    }
    assert_eq!(got, (0..10).map(key).collect::<Vec<_>>());
    assert!(lim.more(), "stopped at the limit with keys left");
    let top = c.scan(ScanOptions::all().reverse().limit(3)).await.unwrap().collect_all().await.unwrap();
    assert_eq!(top.iter().map(|kv| kv.0.clone()).collect::<Vec<_>>(), vec![key(N - 1), key(N - 2), key(N - 3)]);
    let mut exact = c.scan(ScanOptions::range(key(5), key(8)).limit(3)).await.unwrap();
    while exact.next_entry().await.is_some() {}
    assert!(!exact.more(), "limit equal to the range: nothing more");

    // Ranges and prefixes.
    let range = c.scan(ScanOptions::range(key(500), key(1500))).await.unwrap().collect_all().await.unwrap();
    assert_eq!(range.len(), 1000);
    assert_eq!(range[0].0, key(500));
    let prefix = c.scan(ScanOptions::prefix(b"key-0012")).await.unwrap().collect_all().await.unwrap();
    assert_eq!(prefix.len(), 100);
    assert!(prefix.iter().all(|(k, _)| k.starts_with(b"key-0012")));
    let rev_range = c.scan(ScanOptions::range(key(10), key(13)).reverse()).await.unwrap().collect_all().await.unwrap();
    assert_eq!(rev_range.into_iter().map(|kv| kv.0).collect::<Vec<_>>(), vec![key(12), key(11), key(10)]);
    let empty = c.scan(ScanOptions::prefix(b"nothing")).await.unwrap();
    let empty_seq = {
        let mut s = empty;
        assert!(s.next_entry().await.is_none());
        s.seqno()
    };
    assert!(empty_seq.is_some(), "an empty scan still sends its header");

    // Chunk size requests are honoured and capped.
    let opts = ScanOptions { chunk_size: 7, limit: 20, ..ScanOptions::all() };
    let mut raw = c
        .raw_kv()
        .scan(proto::ScanRequest { chunk_size: 7, limit: 20, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let mut sizes = Vec::new();
    while let Some(chunk) = raw.message().await.unwrap() {
        sizes.push(chunk.kvs.len());
    }
    assert_eq!(sizes, vec![7, 7, 6]);
    assert_eq!(c.scan(opts).await.unwrap().collect_all().await.unwrap().len(), 20);
}

/// Waits until the server holds `want` engine snapshots (scans pin one while they run).
async fn wait_live_snapshots(c: &kvd_server::KvdClient, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let live = c.stats().await.unwrap().live_snapshots;
        if live == want {
            return;
        }
        assert!(Instant::now() < deadline, "{live} snapshots still live, want {want}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_scans_stop_and_release_their_snapshot() {
    let server = TestServer::start_with(|c| c.max_concurrent_scans = 2).await;
    let c = server.client().await;
    load(&c).await;
    let baseline = c.stats().await.unwrap().live_snapshots;
    for _ in 0..2 {
        // Read one entry of a 100k-key scan, then drop the stream.
        let mut s = c.scan(ScanOptions::all()).await.unwrap();
        assert!(s.next_entry().await.is_some());
        drop(s);
    }
    // The producers notice the dropped receivers, stop, and release their snapshots and
    // scan slots: both slots serve new scans again.
    wait_live_snapshots(&c, baseline).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut done = 0;
    while done < 2 {
        match c.scan(ScanOptions::all().limit(1)).await {
            Ok(s) => {
                assert_eq!(s.collect_all().await.unwrap().len(), 1);
                done += 1;
            }
            Err(e) if e.code() == tonic::Code::ResourceExhausted && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_concurrent_scans_is_resource_exhausted() {
    let server = TestServer::start_with(|c| c.max_concurrent_scans = 1).await;
    let c = server.client().await;
    load(&c).await;
    let mut held = c.scan(ScanOptions::all()).await.unwrap();
    assert!(held.next_entry().await.is_some());
    let err = c.scan(ScanOptions::all()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_deadline_stops_the_stream_on_both_sides() {
    let server = TestServer::start().await;
    let c = server.client().await;
    load(&c).await;
    let baseline = c.stats().await.unwrap().live_snapshots;

    // A slow reader: the deadline passes mid-stream and the client reports it.
    let opts = ScanOptions { timeout: Some(Duration::from_millis(200)), chunk_size: 10, ..ScanOptions::all() };
    let started = Instant::now();
    let mut s = c.scan(opts.clone()).await.unwrap();
    let mut n = 0;
    let err = loop {
        match s.next_entry().await {
            Some(Ok(_)) => {
                n += 1;
                if n % 100 == 0 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Some(Err(e)) => break e,
            None => panic!("scan finished despite its deadline"),
        }
    };
    assert!(n < N && started.elapsed() < Duration::from_secs(2), "{n} entries in {:?}", started.elapsed());
    assert_eq!(err.code(), tonic::Code::DeadlineExceeded, "{err}");

    // A reader that stops reading: the server's producer stops at the deadline anyway and
    // releases its snapshot, though the client still holds the stream.
    let mut held = c.scan(opts).await.unwrap();
    assert!(held.next_entry().await.is_some());
    wait_live_snapshots(&c, baseline).await;
    drop(held);
}
