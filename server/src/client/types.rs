//! Typed values through the client: the same methods, arguments and errors as the engine's
//! (`kvd::Db::incr_by`, `lpush`, `sadd`, `hset`, ...). A wrong-type operation fails with
//! [`ClientError::WrongType`](super::ClientError::WrongType) and changes nothing.

use std::time::Duration;

use kvd::ValueType;

use super::options::ttl_millis;
use super::{ClientError, KvdClient, Result};
use crate::proto::{self, FieldValue};

fn bytes<T: AsRef<[u8]>>(items: &[T]) -> Vec<Vec<u8>> {
    items.iter().map(|i| i.as_ref().to_vec()).collect()
}

fn key_req(key: &[u8]) -> proto::TypedKeyRequest {
    proto::TypedKeyRequest { key: key.to_vec() }
}

impl KvdClient {
    /// Adds `delta` to the integer at `key` (missing: 0); returns the result.
    pub async fn incr_by(&self, key: impl AsRef<[u8]>, delta: i64) -> Result<i64> {
        let req = proto::IncrByRequest { key: key.as_ref().to_vec(), delta };
        Ok(self.types.clone().incr_by(self.request(req)).await?.into_inner().value)
    }

    /// Subtracts `delta` from the integer at `key`; returns the result.
    pub async fn decr_by(&self, key: impl AsRef<[u8]>, delta: i64) -> Result<i64> {
        let req = proto::IncrByRequest { key: key.as_ref().to_vec(), delta };
        Ok(self.types.clone().decr_by(self.request(req)).await?.into_inner().value)
    }

    /// The integer at `key`, `None` if missing.
    pub async fn get_int(&self, key: impl AsRef<[u8]>) -> Result<Option<i64>> {
        let r = self.types.clone().get_int(self.request(key_req(key.as_ref()))).await?.into_inner();
        Ok(r.found.then_some(r.value))
    }

    /// Inserts `values` at the head of the list `key`; returns the new length.
    pub async fn lpush<V: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, values: &[V]) -> Result<u64> {
        let req = proto::PushRequest { key: key.as_ref().to_vec(), values: bytes(values) };
        Ok(self.types.clone().l_push(self.request(req)).await?.into_inner().count)
    }

    /// Appends `values` at the tail of the list `key`; returns the new length.
    pub async fn rpush<V: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, values: &[V]) -> Result<u64> {
        let req = proto::PushRequest { key: key.as_ref().to_vec(), values: bytes(values) };
        Ok(self.types.clone().r_push(self.request(req)).await?.into_inner().count)
    }

    /// Removes and returns up to `count` elements from the head.
    pub async fn lpop(&self, key: impl AsRef<[u8]>, count: usize) -> Result<Vec<Vec<u8>>> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let req = proto::PopRequest { key: key.as_ref().to_vec(), count: pop_count(count)? };
        Ok(self.types.clone().l_pop(self.request(req)).await?.into_inner().values)
    }

    /// Removes and returns up to `count` elements from the tail, last first.
    pub async fn rpop(&self, key: impl AsRef<[u8]>, count: usize) -> Result<Vec<Vec<u8>>> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let req = proto::PopRequest { key: key.as_ref().to_vec(), count: pop_count(count)? };
        Ok(self.types.clone().r_pop(self.request(req)).await?.into_inner().values)
    }

    /// The elements at positions `start ..= stop` (negative: from the tail).
    pub async fn lrange(&self, key: impl AsRef<[u8]>, start: i64, stop: i64) -> Result<Vec<Vec<u8>>> {
        let req = proto::ListRangeRequest { key: key.as_ref().to_vec(), start, stop };
        Ok(self.types.clone().l_range(self.request(req)).await?.into_inner().values)
    }

    /// The length of the list `key`.
    pub async fn llen(&self, key: impl AsRef<[u8]>) -> Result<u64> {
        Ok(self.types.clone().l_len(self.request(key_req(key.as_ref()))).await?.into_inner().count)
    }

    /// The element at `index` (negative: from the tail).
    pub async fn lindex(&self, key: impl AsRef<[u8]>, index: i64) -> Result<Option<Vec<u8>>> {
        let req = proto::LIndexRequest { key: key.as_ref().to_vec(), index };
        let r = self.types.clone().l_index(self.request(req)).await?.into_inner();
        Ok(r.found.then_some(r.value))
    }

    /// Replaces the element at `index`.
    pub async fn lset(&self, key: impl AsRef<[u8]>, index: i64, value: impl AsRef<[u8]>) -> Result<()> {
        let req = proto::LSetRequest { key: key.as_ref().to_vec(), index, value: value.as_ref().to_vec() };
        self.types.clone().l_set(self.request(req)).await?;
        Ok(())
    }

    /// Keeps only the elements at positions `start ..= stop`.
    pub async fn ltrim(&self, key: impl AsRef<[u8]>, start: i64, stop: i64) -> Result<()> {
        let req = proto::ListRangeRequest { key: key.as_ref().to_vec(), start, stop };
        self.types.clone().l_trim(self.request(req)).await?;
        Ok(())
    }

    /// Adds `members` to the set `key`; returns how many were new.
    pub async fn sadd<M: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, members: &[M]) -> Result<u64> {
        let req = proto::MembersRequest { key: key.as_ref().to_vec(), members: bytes(members) };
        Ok(self.types.clone().s_add(self.request(req)).await?.into_inner().count)
    }

    /// Removes `members` from the set `key`; returns how many were members.
    pub async fn srem<M: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, members: &[M]) -> Result<u64> {
        let req = proto::MembersRequest { key: key.as_ref().to_vec(), members: bytes(members) };
        Ok(self.types.clone().s_rem(self.request(req)).await?.into_inner().count)
    }

    /// True if `member` is in the set `key`.
    pub async fn sismember(&self, key: impl AsRef<[u8]>, member: impl AsRef<[u8]>) -> Result<bool> {
        let req = proto::SIsMemberRequest { key: key.as_ref().to_vec(), member: member.as_ref().to_vec() };
        Ok(self.types.clone().s_is_member(self.request(req)).await?.into_inner().value)
    }

    /// Every member of the set `key`, ascending.
    pub async fn smembers(&self, key: impl AsRef<[u8]>) -> Result<Vec<Vec<u8>>> {
        Ok(self.types.clone().s_members(self.request(key_req(key.as_ref()))).await?.into_inner().values)
    }

    /// The number of members of the set `key`.
    pub async fn scard(&self, key: impl AsRef<[u8]>) -> Result<u64> {
        Ok(self.types.clone().s_card(self.request(key_req(key.as_ref()))).await?.into_inner().count)
    }

    /// Members in every set at `keys`.
    pub async fn sinter<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Vec<u8>>> {
        let req = proto::SetAlgebraRequest { keys: bytes(keys) };
        Ok(self.types.clone().s_inter(self.request(req)).await?.into_inner().values)
    }

    /// Members in any set at `keys`.
    pub async fn sunion<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Vec<u8>>> {
        let req = proto::SetAlgebraRequest { keys: bytes(keys) };
        Ok(self.types.clone().s_union(self.request(req)).await?.into_inner().values)
    }

    /// Members of the first set in none of the others.
    pub async fn sdiff<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Vec<u8>>> {
        let req = proto::SetAlgebraRequest { keys: bytes(keys) };
        Ok(self.types.clone().s_diff(self.request(req)).await?.into_inner().values)
    }

    /// Stores the intersection of `keys` as the set `dest`; returns its size.
    pub async fn sinterstore<K: AsRef<[u8]>>(&self, dest: impl AsRef<[u8]>, keys: &[K]) -> Result<u64> {
        let req = proto::SetStoreRequest { dest: dest.as_ref().to_vec(), keys: bytes(keys) };
        Ok(self.types.clone().s_inter_store(self.request(req)).await?.into_inner().count)
    }

    /// Stores the union of `keys` as the set `dest`; returns its size.
    pub async fn sunionstore<K: AsRef<[u8]>>(&self, dest: impl AsRef<[u8]>, keys: &[K]) -> Result<u64> {
        let req = proto::SetStoreRequest { dest: dest.as_ref().to_vec(), keys: bytes(keys) };
        Ok(self.types.clone().s_union_store(self.request(req)).await?.into_inner().count)
    }

    /// Stores the difference of `keys` as the set `dest`; returns its size.
    pub async fn sdiffstore<K: AsRef<[u8]>>(&self, dest: impl AsRef<[u8]>, keys: &[K]) -> Result<u64> {
        let req = proto::SetStoreRequest { dest: dest.as_ref().to_vec(), keys: bytes(keys) };
        Ok(self.types.clone().s_diff_store(self.request(req)).await?.into_inner().count)
    }

    /// Sets `(field, value)` pairs of the hash `key`; returns how many fields are new.
    pub async fn hset<F: AsRef<[u8]>, V: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, pairs: &[(F, V)]) -> Result<u64> {
        let fields =
            pairs.iter().map(|(f, v)| FieldValue { field: f.as_ref().to_vec(), value: v.as_ref().to_vec() }).collect();
        let req = proto::HSetRequest { key: key.as_ref().to_vec(), fields };
        Ok(self.types.clone().h_set(self.request(req)).await?.into_inner().count)
    }

    /// The value of `field` in the hash `key`.
    pub async fn hget(&self, key: impl AsRef<[u8]>, field: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let req = proto::HFieldRequest { key: key.as_ref().to_vec(), field: field.as_ref().to_vec() };
        let r = self.types.clone().h_get(self.request(req)).await?.into_inner();
        Ok(r.found.then_some(r.value))
    }

    /// Removes `fields` from the hash `key`; returns how many existed.
    pub async fn hdel<F: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, fields: &[F]) -> Result<u64> {
        let req = proto::HDelRequest { key: key.as_ref().to_vec(), fields: bytes(fields) };
        Ok(self.types.clone().h_del(self.request(req)).await?.into_inner().count)
    }

    /// Every `(field, value)` of the hash `key`, fields ascending.
    pub async fn hgetall(&self, key: impl AsRef<[u8]>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let r = self.types.clone().h_get_all(self.request(key_req(key.as_ref()))).await?.into_inner();
        Ok(r.fields.into_iter().map(|f| (f.field, f.value)).collect())
    }

    /// True if the hash `key` has `field`.
    pub async fn hexists(&self, key: impl AsRef<[u8]>, field: impl AsRef<[u8]>) -> Result<bool> {
        let req = proto::HFieldRequest { key: key.as_ref().to_vec(), field: field.as_ref().to_vec() };
        Ok(self.types.clone().h_exists(self.request(req)).await?.into_inner().value)
    }

    /// The number of fields of the hash `key`.
    pub async fn hlen(&self, key: impl AsRef<[u8]>) -> Result<u64> {
        Ok(self.types.clone().h_len(self.request(key_req(key.as_ref()))).await?.into_inner().count)
    }

    /// Adds `delta` to the integer in `field` of the hash `key`; returns the result.
    pub async fn hincrby(&self, key: impl AsRef<[u8]>, field: impl AsRef<[u8]>, delta: i64) -> Result<i64> {
        let req = proto::HIncrByRequest { key: key.as_ref().to_vec(), field: field.as_ref().to_vec(), delta };
        Ok(self.types.clone().h_incr_by(self.request(req)).await?.into_inner().value)
    }

    /// The type of the value at `key`, `None` if missing.
    pub async fn type_of(&self, key: impl AsRef<[u8]>) -> Result<Option<ValueType>> {
        let r = self.types.clone().type_of(self.request(key_req(key.as_ref()))).await?.into_inner();
        Ok(match proto::ValueType::try_from(r.r#type) {
            Ok(proto::ValueType::None) => None,
            Ok(proto::ValueType::String) => Some(ValueType::String),
            Ok(proto::ValueType::List) => Some(ValueType::List),
            Ok(proto::ValueType::Set) => Some(ValueType::Set),
            Ok(proto::ValueType::Hash) => Some(ValueType::Hash),
            Err(_) => return Err(ClientError::Internal(format!("unknown value type {} from the server", r.r#type))),
        })
    }

    /// Deletes the value at `key` whatever its type; false if there was none.
    pub async fn del(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        Ok(self.types.clone().del(self.request(key_req(key.as_ref()))).await?.into_inner().value)
    }

    /// Makes the value at `key` (of any type) expire `ttl` from now; false if missing.
    pub async fn expire_type(&self, key: impl AsRef<[u8]>, ttl: Duration) -> Result<bool> {
        let req = proto::TypedExpireRequest { key: key.as_ref().to_vec(), ttl_ms: ttl_millis(ttl) };
        Ok(self.types.clone().expire(self.request(req)).await?.into_inner().value)
    }

    /// Removes the expiry of the value at `key` (of any type); false if missing.
    pub async fn persist_type(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        Ok(self.types.clone().persist(self.request(key_req(key.as_ref()))).await?.into_inner().value)
    }

    /// Remaining time to live of the value at `key` of any type: `None` when it never
    /// expires, [`ClientError::NotFound`] when it is missing (as `kvd::Db::ttl_type`).
    pub async fn ttl_type(&self, key: impl AsRef<[u8]>) -> Result<Option<Duration>> {
        let key = key.as_ref();
        let r = self.types.clone().ttl(self.request(key_req(key))).await?.into_inner();
        if !r.found {
            return Err(ClientError::NotFound(format!("key {:?}", String::from_utf8_lossy(key))));
        }
        Ok((r.ttl_ms > 0).then(|| Duration::from_millis(r.ttl_ms)))
    }
}

/// A pop count for the wire (the callers handle 0, which pops nothing, as the engine).
fn pop_count(count: usize) -> Result<u32> {
    u32::try_from(count).map_err(|_| ClientError::InvalidArgument(format!("count: {count} is too large")))
}
