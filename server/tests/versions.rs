//! Versions, compare-and-swap puts, reads at a sequence number, and TTL calls (Ttl, Expire,
//! Persist) through the typed client.

mod common;

use std::time::Duration;

use common::TestServer;
use kvd_server::client::{ClientError, ReadAt, ScanOptions};
use kvd_server::proto;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_compare_and_swap() {
    let server = TestServer::start().await;
    let c = server.client().await;
    assert_eq!(c.get_at(b"k", ReadAt::Latest).await.unwrap().value, None);
    let s1 = c.put(b"k", b"one").await.unwrap();
    let got = c.get_at(b"k", ReadAt::Latest).await.unwrap();
    assert_eq!(got.value.as_ref().map(|v| (v.value.as_slice(), v.version)), Some((&b"one"[..], s1)));

    // A stale version loses and reports the current one; the right one wins.
    let lost = c.put_if_version(b"k", b"two", s1 - 1).await.unwrap();
    assert!(!lost.applied);
    assert_eq!(lost.version, s1);
    let won = c.put_if_version(b"k", b"two", s1).await.unwrap();
    assert!(won.applied);
    assert_eq!((won.version, won.seqno), (won.seqno, c.get_at(b"k", ReadAt::Latest).await.unwrap().seqno));
    assert!(!c.put_if_version(b"k", b"three", s1).await.unwrap().applied, "the old version is gone");
    // Version 0 means "absent".
    assert!(!c.put_if_version(b"k", b"x", 0).await.unwrap().applied);
    assert!(c.put_if_version(b"fresh", b"x", 0).await.unwrap().applied);
    // Value preconditions compare bytes; an absent key never matches.
    assert!(!c.put_if_value(b"k", b"one", b"v").await.unwrap().applied);
    assert!(c.put_if_value(b"k", b"two", b"three").await.unwrap().applied);
    assert!(!c.put_if_value(b"absent", b"", b"v").await.unwrap().applied);
    assert_eq!(c.get(b"k").await.unwrap().as_deref(), Some(&b"three"[..]));

    // 8 racers incrementing one counter with CAS loops lose no update.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                loop {
                    let cur = c.get_at(b"counter", ReadAt::Latest).await.unwrap().value;
                    let (n, version) =
                        cur.map_or((0, 0), |v| (String::from_utf8(v.value).unwrap().parse().unwrap(), v.version));
                    let next = (n + 1u64).to_string();
                    if c.put_if_version(b"counter", next, version).await.unwrap().applied {
                        break;
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(c.get(b"counter").await.unwrap().as_deref(), Some(&b"80"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_at_a_sequence_number() {
    let server = TestServer::start().await;
    let c = server.client().await;
    c.put(b"a", b"1").await.unwrap();
    // Without history, only the latest seqno (or a live snapshot's) can be read.
    let old = c.put(b"a", b"2").await.unwrap();
    let err = c.get_at(b"a", ReadAt::Seqno(old - 1)).await.unwrap_err();
    assert!(matches!(&err, ClientError::InvalidArgument(m) if m.contains("history floor")), "{err}");
    let future = c.get_at(b"a", ReadAt::Seqno(old + 100)).await.unwrap_err();
    assert!(matches!(&future, ClientError::InvalidArgument(m) if m.contains("newer than the latest")), "{future}");

    let floor = c.set_history_floor(0).await.unwrap();
    assert_eq!(floor, old);
    assert_eq!(c.stats().await.unwrap().history_floor, Some(floor));
    c.put(b"a", b"3").await.unwrap();
    c.put(b"b", b"new").await.unwrap();
    c.delete(b"a").await.unwrap();
    c.flush().await.unwrap();
    c.compact_range(b"", b"").await.unwrap();
    // Compaction kept every version from the floor up.
    let at = c.get_at(b"a", ReadAt::Seqno(floor)).await.unwrap();
    assert_eq!(at.seqno, floor);
    assert_eq!(at.value.map(|v| (v.value, v.version)), Some((b"2".to_vec(), old)));
    assert_eq!(c.get(b"a").await.unwrap(), None);
    let batch = c.batch_get_at(&[&b"a"[..], b"b"], ReadAt::Seqno(floor + 1)).await.unwrap();
    assert_eq!(
        batch.value.iter().map(|v| v.as_ref().map(|v| v.value.clone())).collect::<Vec<_>>(),
        vec![Some(b"3".to_vec()), None]
    );
    let mut scan = c.scan(ScanOptions::all().at_seqno(floor + 2)).await.unwrap();
    let mut rows = Vec::new();
    while let Some(kv) = scan.next_entry().await {
        rows.push(kv.unwrap());
    }
    assert_eq!(rows, vec![(b"a".to_vec(), b"3".to_vec()), (b"b".to_vec(), b"new".to_vec())]);
    assert_eq!(scan.seqno(), Some(floor + 2));

    // Snapshot ids and seqnos exclude each other; a snapshot's own seqno is readable.
    let snap = c.create_snapshot(None).await.unwrap();
    let mut kv = c.raw_kv();
    let both = proto::GetRequest { key: b"a".to_vec(), snapshot_id: snap.id, seqno: snap.seqno };
    assert_eq!(kv.get(both).await.unwrap_err().code(), Code::InvalidArgument);

    // The floor only moves up; clearing it makes old seqnos unreadable again, except the
    // seqno a live snapshot pins.
    assert!(matches!(c.set_history_floor(floor - 1).await.unwrap_err(), ClientError::InvalidArgument(_)));
    c.clear_history_floor().await.unwrap();
    assert_eq!(c.stats().await.unwrap().history_floor, None);
    c.put(b"b", b"newer").await.unwrap();
    assert!(c.get_at(b"a", ReadAt::Seqno(floor)).await.is_err());
    let pinned = c.get_at(b"b", ReadAt::Seqno(snap.seqno)).await.unwrap();
    assert_eq!(pinned.value.unwrap().value, b"new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_expire_and_persist() {
    let server = TestServer::start().await;
    let c = server.client().await;
    assert!(matches!(c.ttl(b"missing").await.unwrap_err(), ClientError::NotFound(_)));
    assert!(!c.expire(b"missing", Duration::from_secs(5)).await.unwrap());
    assert!(!c.persist(b"missing").await.unwrap());

    c.put(b"k", b"v").await.unwrap();
    assert_eq!(c.ttl(b"k").await.unwrap(), None, "no expiry");
    assert!(c.expire(b"k", Duration::from_secs(100)).await.unwrap());
    let ttl = c.ttl(b"k").await.unwrap().unwrap();
    assert!(ttl > Duration::from_secs(99) && ttl <= Duration::from_secs(100), "{ttl:?}");
    assert_eq!(c.get(b"k").await.unwrap().as_deref(), Some(&b"v"[..]), "expire keeps the value");

    let mut kv = c.raw_kv();
    let r = kv.ttl(proto::TtlRequest { key: b"k".to_vec() }).await.unwrap().into_inner();
    assert!(r.found && r.expires_at_unix_ms > 0 && r.version > 0);
    let p = kv.persist(proto::PersistRequest { key: b"k".to_vec(), sync: true }).await.unwrap().into_inner();
    assert!(p.found && p.removed);
    assert_eq!(c.ttl(b"k").await.unwrap(), None);
    let again = kv.persist(proto::PersistRequest { key: b"k".to_vec(), sync: false }).await.unwrap().into_inner();
    assert!(again.found && !again.removed, "nothing to remove: nothing written");
    assert_eq!(again.version, p.version);

    assert!(c.expire(b"k", Duration::from_millis(200)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(c.get(b"k").await.unwrap(), None);
    assert!(matches!(c.ttl(b"k").await.unwrap_err(), ClientError::NotFound(_)));

    let zero = kv.expire(proto::ExpireRequest { key: b"k".to_vec(), ttl_ms: 0, sync: false }).await.unwrap_err();
    assert_eq!(zero.code(), Code::InvalidArgument);
    assert!(zero.message().contains("use Persist"));
    let empty = kv.ttl(proto::TtlRequest { key: vec![] }).await.unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
}
