//! The `Types` service through the typed client: integers, lists, sets, hashes, the
//! type-independent calls, wrong types (`FAILED_PRECONDITION`) and invalid input.

mod common;

use std::time::Duration;

use common::TestServer;
use kvd::ValueType;
use kvd_server::client::ClientError;
use kvd_server::proto;
use tonic::Code;

fn v(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integers_and_lists() {
    let server = TestServer::start().await;
    let c = server.client().await;
    assert_eq!(c.get_int(b"n").await.unwrap(), None);
    assert_eq!(c.incr_by(b"n", 5).await.unwrap(), 5);
    assert_eq!(c.decr_by(b"n", 7).await.unwrap(), -2);
    assert_eq!(c.get_int(b"n").await.unwrap(), Some(-2));
    assert_eq!(c.get(b"n").await.unwrap().as_deref(), Some(&b"-2"[..]), "integers are plain decimal values");
    c.put(b"text", b"abc").await.unwrap();
    assert!(matches!(c.incr_by(b"text", 1).await.unwrap_err(), ClientError::InvalidArgument(_)));
    assert!(matches!(c.incr_by(b"n", i64::MIN).await.unwrap_err(), ClientError::InvalidArgument(_)));

    assert_eq!(c.rpush(b"l", &["b", "c"]).await.unwrap(), 2);
    assert_eq!(c.lpush(b"l", &["a"]).await.unwrap(), 3);
    assert_eq!(c.llen(b"l").await.unwrap(), 3);
    assert_eq!(c.lrange(b"l", 0, -1).await.unwrap(), v(&["a", "b", "c"]));
    assert_eq!(c.lindex(b"l", -1).await.unwrap().as_deref(), Some(&b"c"[..]));
    assert_eq!(c.lindex(b"l", 10).await.unwrap(), None);
    c.lset(b"l", 1, b"B").await.unwrap();
    assert!(matches!(c.lset(b"l", 10, b"x").await.unwrap_err(), ClientError::InvalidArgument(_)));
    assert!(matches!(c.lset(b"nolist", 0, b"x").await.unwrap_err(), ClientError::NotFound(_)));
    assert_eq!(c.rpush(b"l", &["d", "e"]).await.unwrap(), 5);
    c.ltrim(b"l", 1, -2).await.unwrap();
    assert_eq!(c.lrange(b"l", 0, -1).await.unwrap(), v(&["B", "c", "d"]));
    assert_eq!(c.lpop(b"l", 1).await.unwrap(), v(&["B"]));
    assert_eq!(c.rpop(b"l", 5).await.unwrap(), v(&["d", "c"]));
    assert_eq!(c.llen(b"l").await.unwrap(), 0, "popping the last element deletes the list");
    assert_eq!(c.type_of(b"l").await.unwrap(), None);
    assert!(c.lpop(b"l", 0).await.unwrap().is_empty());
    // A pop count of 0 on the wire means 1, as Redis's LPOP without a count.
    c.rpush(b"l", &["x", "y"]).await.unwrap();
    let mut raw = c.raw_types();
    let popped = raw.l_pop(proto::PopRequest { key: b"l".to_vec(), count: 0 }).await.unwrap().into_inner();
    assert_eq!(popped.values, v(&["x"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sets_and_hashes() {
    let server = TestServer::start().await;
    let c = server.client().await;
    assert_eq!(c.sadd(b"s1", &["a", "b", "c", "a"]).await.unwrap(), 3);
    assert_eq!(c.sadd(b"s2", &["b", "c", "d"]).await.unwrap(), 3);
    assert!(c.sismember(b"s1", b"a").await.unwrap());
    assert!(!c.sismember(b"s1", b"z").await.unwrap());
    assert_eq!(c.scard(b"s1").await.unwrap(), 3);
    assert_eq!(c.smembers(b"s2").await.unwrap(), v(&["b", "c", "d"]));
    assert_eq!(c.sinter(&[&b"s1"[..], b"s2"]).await.unwrap(), v(&["b", "c"]));
    assert_eq!(c.sunion(&[&b"s1"[..], b"s2"]).await.unwrap(), v(&["a", "b", "c", "d"]));
    assert_eq!(c.sdiff(&[&b"s1"[..], b"s2"]).await.unwrap(), v(&["a"]));
    assert_eq!(c.sinterstore(b"si", &[&b"s1"[..], b"s2"]).await.unwrap(), 2);
    assert_eq!(c.sunionstore(b"su", &[&b"s1"[..], b"s2"]).await.unwrap(), 4);
    assert_eq!(c.sdiffstore(b"sd", &[&b"s1"[..], b"s2"]).await.unwrap(), 1);
    assert_eq!(c.smembers(b"si").await.unwrap(), v(&["b", "c"]));
    assert_eq!(c.srem(b"s1", &["a", "zz"]).await.unwrap(), 1);

    assert_eq!(c.hset(b"h", &[("f1", "1"), ("f2", "2")]).await.unwrap(), 2);
    assert_eq!(c.hset(b"h", &[("f1", "one")]).await.unwrap(), 0);
    assert_eq!(c.hget(b"h", b"f1").await.unwrap().as_deref(), Some(&b"one"[..]));
    assert_eq!(c.hget(b"h", b"nope").await.unwrap(), None);
    assert!(c.hexists(b"h", b"f2").await.unwrap());
    assert_eq!(c.hlen(b"h").await.unwrap(), 2);
    assert_eq!(c.hincrby(b"h", b"f2", 40).await.unwrap(), 42);
    assert_eq!(
        c.hgetall(b"h").await.unwrap(),
        vec![(b"f1".to_vec(), b"one".to_vec()), (b"f2".to_vec(), b"42".to_vec())]
    );
    assert_eq!(c.hdel(b"h", &["f1", "nope"]).await.unwrap(), 1);
    assert!(matches!(c.hincrby(b"h", b"f2", i64::MAX).await.unwrap_err(), ClientError::InvalidArgument(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_wrong_types_and_whole_key_calls() {
    let server = TestServer::start().await;
    let c = server.client().await;
    c.put(b"str", b"x").await.unwrap();
    c.rpush(b"list", &["a"]).await.unwrap();
    c.sadd(b"set", &["a"]).await.unwrap();
    c.hset(b"hash", &[("f", "v")]).await.unwrap();
    assert_eq!(c.type_of(b"str").await.unwrap(), Some(ValueType::String));
    assert_eq!(c.type_of(b"list").await.unwrap(), Some(ValueType::List));
    assert_eq!(c.type_of(b"set").await.unwrap(), Some(ValueType::Set));
    assert_eq!(c.type_of(b"hash").await.unwrap(), Some(ValueType::Hash));
    assert_eq!(c.type_of(b"none").await.unwrap(), None);

    // Every family refuses another type with FAILED_PRECONDITION and changes nothing.
    let wrong = [
        c.incr_by(b"list", 1).await.map(|_| ()),
        c.rpush(b"set", &["x"]).await.map(|_| ()),
        c.llen(b"hash").await.map(|_| ()),
        c.sadd(b"list", &["x"]).await.map(|_| ()),
        c.smembers(b"str").await.map(|_| ()),
        c.hset(b"set", &[("f", "v")]).await.map(|_| ()),
        c.hget(b"list", b"f").await.map(|_| ()),
        c.sinterstore(b"hash", &[&b"set"[..]]).await.map(|_| ()),
    ];
    for (i, r) in wrong.into_iter().enumerate() {
        let e = r.unwrap_err();
        assert!(matches!(e, ClientError::WrongType(_)), "case {i}: {e}");
        assert_eq!(e.code(), Code::FailedPrecondition);
    }
    assert_eq!(c.smembers(b"set").await.unwrap(), v(&["a"]));
    assert_eq!(c.get(b"str").await.unwrap().as_deref(), Some(&b"x"[..]));

    // Whole-key TTL and delete work on every type.
    assert!(matches!(c.ttl_type(b"none").await.unwrap_err(), ClientError::NotFound(_)));
    assert_eq!(c.ttl_type(b"set").await.unwrap(), None);
    assert!(c.expire_type(b"set", Duration::from_secs(100)).await.unwrap());
    assert!(c.ttl_type(b"set").await.unwrap().unwrap() > Duration::from_secs(99));
    assert!(c.persist_type(b"set").await.unwrap());
    assert_eq!(c.ttl_type(b"set").await.unwrap(), None);
    assert!(!c.expire_type(b"none", Duration::from_secs(1)).await.unwrap());
    assert!(c.expire_type(b"hash", Duration::from_millis(200)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(c.type_of(b"hash").await.unwrap(), None, "an expired collection is gone");
    assert!(c.del(b"list").await.unwrap());
    assert!(!c.del(b"list").await.unwrap());
    assert_eq!(c.llen(b"list").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_requests_are_validated() {
    let server = TestServer::start_with(|c| {
        c.max_batch_ops = 4;
        c.max_value_bytes = 64;
        c.max_key_bytes = 64;
        c.max_message_bytes = 8 * 1024;
    })
    .await;
    let c = server.client().await;
    let check = |r: Result<u64, ClientError>, needle: &str| {
        let e = r.unwrap_err();
        assert!(matches!(e, ClientError::InvalidArgument(_)), "{e}");
        assert!(e.to_string().contains(needle), "{e} should mention {needle}");
    };
    check(c.rpush(b"", &["a"]).await, "key must not be empty");
    check(c.rpush([0u8, 1], &["a"]).await, "");
    check(c.rpush(b"l", &[] as &[&str]).await, "values: at least one");
    check(c.sadd(b"s", &["a", "b", "c", "d", "e"]).await, "exceed max_batch_ops 4");
    check(c.sadd(b"s", &["x".repeat(65)]).await, "members[0]");
    check(c.hset(b"h", &[("f", "v".repeat(65))]).await, "fields[0].value");
    check(c.sinterstore(b"d", &[] as &[&str]).await, "keys: at least one");
    assert!(matches!(c.lpop(b"l", 5).await.unwrap_err(), ClientError::InvalidArgument(_)));
    // Each response must fit one message.
    let many: Vec<String> = (0..4).map(|i| format!("{i:0>64}")).collect();
    for _ in 0..30 {
        c.rpush(b"huge", &many).await.unwrap();
    }
    let e = c.lrange(b"huge", 0, -1).await.unwrap_err();
    assert!(matches!(e, ClientError::ResourceExhausted(_)), "{e}");
    assert_eq!(c.lrange(b"huge", 0, 9).await.unwrap().len(), 10);
}
