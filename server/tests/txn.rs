//! The `Txn` service through the typed client: interactive transactions (isolation,
//! conflicts between two clients, expiry and the reaper, unknown ids) and one-shot compare
//! transactions (both branches, reads of own writes, range deletes, validation).

mod common;

use std::time::Duration;

use common::{key, TestServer};
use kvd::{Isolation, TxnOptions};
use kvd_server::client::{ClientError, Compare, CompareOp, CompareTxn, OpResult, ScanOptions, TxnOp, Versioned};
use kvd_server::proto;
use tonic::Code;

fn opts(isolation: Isolation) -> TxnOptions {
    TxnOptions { isolation, ..TxnOptions::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_reads_own_writes_and_commits_atomically() {
    let server = TestServer::start().await;
    let c = server.client().await;
    c.put(b"a", b"1").await.unwrap();
    c.put(b"gone", b"x").await.unwrap();
    let txn = c.begin(TxnOptions::default()).await.unwrap();
    assert_ne!(txn.id(), 0);
    assert_eq!(txn.timeout(), Duration::from_secs(60));
    txn.put(b"a", b"2").await.unwrap();
    txn.put(b"b", b"3").await.unwrap();
    txn.delete(b"gone").await.unwrap();
    txn.put_with_ttl(b"t", b"v", Duration::from_secs(60)).await.unwrap();
    assert_eq!(txn.get(b"a").await.unwrap().as_deref(), Some(&b"2"[..]), "reads its own write");
    assert_eq!(txn.get(b"gone").await.unwrap(), None);
    let page = txn.scan(&ScanOptions::all()).await.unwrap();
    let keys: Vec<_> = page.entries.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec(), b"t".to_vec()]);
    let limited = txn.scan(&ScanOptions::all().limit(2).reverse()).await.unwrap();
    assert!(limited.more);
    assert_eq!(limited.entries[0].0, b"t");
    // Nothing is visible outside before the commit.
    assert_eq!(c.get(b"b").await.unwrap(), None);
    let seq = txn.commit().await.unwrap();
    let after = c.batch_get(&[&b"a"[..], b"b", b"gone"], 0).await.unwrap();
    assert_eq!(after.value, vec![Some(b"2".to_vec()), Some(b"3".to_vec()), None]);
    assert!(after.seqno >= seq);
    assert!(c.ttl(b"t").await.unwrap().is_some());

    // Rollback discards; the id is then unknown.
    let txn = c.begin(TxnOptions::default()).await.unwrap();
    let id = txn.id();
    txn.put(b"never", b"x").await.unwrap();
    txn.rollback().await.unwrap();
    assert_eq!(c.get(b"never").await.unwrap(), None);
    let mut raw = c.raw_txn();
    let err = raw.commit(proto::CommitRequest { txn_id: id }).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = raw.get(proto::TxnGetRequest { txn_id: 424242, key: b"k".to_vec(), for_update: false }).await;
    assert_eq!(err.unwrap_err().code(), Code::NotFound);
    assert_eq!(c.stats().await.unwrap().open_transactions, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_transactions_of_two_clients() {
    let server = TestServer::start().await;
    let alice = server.client().await;
    let bob = server.client().await;
    alice.put(b"balance", b"100").await.unwrap();

    // Both read, both write the same key: the first commit wins, the second is ABORTED.
    let ta = alice.begin(TxnOptions::default()).await.unwrap();
    let tb = bob.begin(TxnOptions::default()).await.unwrap();
    assert_eq!(ta.get(b"balance").await.unwrap().as_deref(), Some(&b"100"[..]));
    assert_eq!(tb.get(b"balance").await.unwrap().as_deref(), Some(&b"100"[..]));
    ta.put(b"balance", b"90").await.unwrap();
    tb.put(b"balance", b"80").await.unwrap();
    tb.put(b"bob-side-effect", b"x").await.unwrap();
    ta.commit().await.unwrap();
    let err = tb.commit().await.unwrap_err();
    assert!(matches!(err, ClientError::Conflict(_)), "{err}");
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(alice.get(b"balance").await.unwrap().as_deref(), Some(&b"90"[..]));
    assert_eq!(alice.get(b"bob-side-effect").await.unwrap(), None, "nothing of the loser applied");

    // Write skew: allowed under snapshot isolation, refused under serializable.
    for (isolation, skew_allowed) in [(Isolation::Snapshot, true), (Isolation::Serializable, false)] {
        alice.put(b"x", b"on").await.unwrap();
        alice.put(b"y", b"on").await.unwrap();
        let ta = alice.begin(opts(isolation)).await.unwrap();
        let tb = bob.begin(opts(isolation)).await.unwrap();
        assert!(ta.get(b"y").await.unwrap().is_some());
        assert!(tb.get(b"x").await.unwrap().is_some());
        ta.put(b"x", b"off").await.unwrap();
        tb.put(b"y", b"off").await.unwrap();
        ta.commit().await.unwrap();
        assert_eq!(tb.commit().await.is_ok(), skew_allowed, "{isolation:?}");
    }

    // get_for_update guards a read under snapshot isolation.
    let ta = alice.begin(TxnOptions::default()).await.unwrap();
    ta.get_for_update(b"guard").await.unwrap();
    ta.put(b"other", b"1").await.unwrap();
    bob.put(b"guard", b"changed").await.unwrap();
    assert!(matches!(ta.commit().await.unwrap_err(), ClientError::Conflict(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_transactions_are_aborted_and_reaped() {
    let server = TestServer::start_with(|c| c.max_txn_timeout_ms = 5_000).await;
    let c = server.client().await;
    let too_long = TxnOptions { timeout: Duration::from_secs(6), ..TxnOptions::default() };
    assert!(matches!(c.begin(too_long).await.unwrap_err(), ClientError::InvalidArgument(_)));

    let short = TxnOptions { timeout: Duration::from_millis(300), ..TxnOptions::default() };
    let txn = c.begin(short).await.unwrap();
    txn.put(b"k", b"v").await.unwrap();
    // An abandoned transaction (its client vanished) is freed by the sweep.
    let abandoned = c.begin(short).await.unwrap();
    std::mem::forget(abandoned);
    assert_eq!(c.stats().await.unwrap().open_transactions, 2);
    assert!(c.stats().await.unwrap().live_snapshots >= 2);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(c.stats().await.unwrap().open_transactions, 0, "the reaper freed both");
    let err = txn.commit().await.unwrap_err();
    assert!(matches!(err, ClientError::TransactionExpired(_)), "{err}");
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(c.get(b"k").await.unwrap(), None);
    assert_eq!(c.stats().await.unwrap().live_snapshots, 0, "their snapshots are released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_limits() {
    let server = TestServer::start_with(|c| {
        c.max_transactions = 2;
        c.max_batch_ops = 3;
    })
    .await;
    let c = server.client().await;
    let a = c.begin(TxnOptions::default()).await.unwrap();
    let _b = c.begin(TxnOptions::default()).await.unwrap();
    assert!(matches!(c.begin(TxnOptions::default()).await.unwrap_err(), ClientError::ResourceExhausted(_)));
    for i in 0..3 {
        a.put(key(i), b"v").await.unwrap();
    }
    assert!(matches!(a.put(key(9), b"v").await.unwrap_err(), ClientError::ResourceExhausted(_)));
    assert!(matches!(a.put(b"", b"v").await.unwrap_err(), ClientError::InvalidArgument(_)));
    a.commit().await.unwrap();
    let mut raw = c.raw_txn();
    let bad = proto::BeginRequest { isolation: 7, ..Default::default() };
    assert_eq!(raw.begin(bad).await.unwrap_err().code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_compare_transactions() {
    let server = TestServer::start().await;
    let c = server.client().await;

    // An absent lock: success runs, and a get of its own write sees the new version.
    let acquire = || {
        CompareTxn::new()
            .when([Compare::version(b"lock", CompareOp::Equal, 0)])
            .and_then([TxnOp::put(b"lock", b"alice"), TxnOp::get(b"lock")])
            .or_else([TxnOp::get(b"lock")])
    };
    let first = c.txn(acquire()).await.unwrap();
    assert!(first.succeeded);
    assert_eq!(first.results[0], OpResult::Put);
    let version = c.get_at(b"lock", Default::default()).await.unwrap().value.unwrap().version;
    assert_eq!(first.results[1], OpResult::Get(Some(Versioned { value: b"alice".to_vec(), version })));
    assert_eq!(first.seqno, version);

    // Taken: failure runs and reads the holder; nothing is written.
    let second = c.txn(acquire()).await.unwrap();
    assert!(!second.succeeded);
    assert_eq!(second.results, vec![OpResult::Get(Some(Versioned { value: b"alice".to_vec(), version }))]);
    assert_eq!(second.seqno, c.stats().await.unwrap().header.unwrap().seqno);

    // Value and existence compares, several at once, and range deletes over own writes.
    for i in 0..5 {
        c.put(key(i), b"v").await.unwrap();
    }
    let out = c
        .txn(
            CompareTxn::new()
                .when([
                    Compare::value(b"lock", CompareOp::Equal, b"alice"),
                    Compare::value(b"lock", CompareOp::Greater, b"aaa"),
                    Compare::exists(b"lock"),
                    Compare::not_exists(b"nobody"),
                    Compare::version(b"lock", CompareOp::Less, version + 1),
                ])
                .and_then([
                    TxnOp::put(key(7), b"new"),
                    TxnOp::delete(key(1)),
                    TxnOp::delete_range(key(0), key(8)),
                    TxnOp::delete(b"lock"),
                    TxnOp::get(b"lock"),
                ])
                .sync(true),
        )
        .await
        .unwrap();
    assert!(out.succeeded);
    assert_eq!(out.results[2], OpResult::DeleteRange(5), "keys 0, 2, 3, 4 and the new 7");
    assert_eq!(out.results[4], OpResult::Get(None));
    assert!(c.scan(ScanOptions::all()).await.unwrap().collect_all().await.unwrap().is_empty());

    // A failing compare among several picks the failure branch.
    let out = c
        .txn(
            CompareTxn::new()
                .when([Compare::not_exists(b"x"), Compare::value(b"x", CompareOp::NotEqual, b"")])
                .and_then([TxnOp::put(b"y", b"1")])
                .or_else([TxnOp::put(b"z", b"1")]),
        )
        .await
        .unwrap();
    assert!(out.succeeded, "an absent key is NOT_EQUAL to any value");
    let out = c
        .txn(CompareTxn::new().when([Compare::value(b"x", CompareOp::Equal, b"")]).or_else([TxnOp::put(b"z", b"1")]))
        .await
        .unwrap();
    assert!(!out.succeeded);
    assert_eq!(c.get(b"z").await.unwrap().as_deref(), Some(&b"1"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_transactions_stay_atomic_under_contention() {
    let server = TestServer::start().await;
    let c = server.client().await;
    // 8 clients move one unit at a time from `a` to `b` with compare-and-swap on versions;
    // the sum stays constant.
    c.put(b"a", b"80").await.unwrap();
    c.put(b"b", b"0").await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = server.client().await;
        tasks.push(tokio::spawn(async move {
            let mut moved = 0;
            while moved < 10 {
                let got = c.batch_get_at(&[&b"a"[..], b"b"], Default::default()).await.unwrap().value;
                let (a, b) = (got[0].clone().unwrap(), got[1].clone().unwrap());
                let n = |v: &Versioned| String::from_utf8(v.value.clone()).unwrap().parse::<i64>().unwrap();
                let t = CompareTxn::new()
                    .when([
                        Compare::version(b"a", CompareOp::Equal, a.version),
                        Compare::version(b"b", CompareOp::Equal, b.version),
                    ])
                    .and_then([TxnOp::put(b"a", (n(&a) - 1).to_string()), TxnOp::put(b"b", (n(&b) + 1).to_string())]);
                match c.txn(t).await {
                    Ok(out) if out.succeeded => moved += 1,
                    Ok(_) | Err(ClientError::Conflict(_)) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(c.get(b"a").await.unwrap().as_deref(), Some(&b"0"[..]));
    assert_eq!(c.get(b"b").await.unwrap().as_deref(), Some(&b"80"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_validation() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let mut raw = c.raw_txn();
    let cmp = |result, target| proto::Compare { result, key: b"k".to_vec(), target };
    let cases = [
        (cmp(0, None), "no target"),
        (cmp(9, Some(proto::compare::Target::Version(1))), "unknown value 9"),
        (cmp(2, Some(proto::compare::Target::Exists(true))), "only EQUAL and NOT_EQUAL"),
        (proto::Compare { result: 0, key: vec![], target: Some(proto::compare::Target::Version(0)) }, "compare[0].key"),
    ];
    for (compare, needle) in cases {
        let err = raw.txn(proto::TxnRequest { compare: vec![compare], ..Default::default() }).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains(needle), "{} should mention {needle}", err.message());
    }
    let empty_op = proto::TxnRequest { success: vec![proto::RequestOp { request: None }], ..Default::default() };
    let err = raw.txn(empty_op).await.unwrap_err();
    assert!(err.message().contains("success[0]: no operation"), "{}", err.message());
    let all =
        proto::RequestOp { request: Some(proto::request_op::Request::DeleteRange(proto::TxnOpDeleteRange::default())) };
    let err = raw.txn(proto::TxnRequest { failure: vec![all], ..Default::default() }).await.unwrap_err();
    assert!(err.message().contains("failure[0].delete_range"), "{}", err.message());
    // An empty request succeeds and changes nothing.
    assert!(c.txn(CompareTxn::new()).await.unwrap().succeeded);
}
