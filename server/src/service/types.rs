//! The `kvd.v1.Types` service: the engine's integer, list, set and hash operations, one RPC
//! each. Requests are validated here (keys, element sizes and counts); the engine checks
//! types (`WrongType` becomes `FAILED_PRECONDITION`) and reserved keys.

use std::sync::Arc;

use kvd::{Db, ValueType};
use tonic::{Request, Response, Status};

use super::conditional::ceil_ms;
use super::{engine, Shared};
use crate::convert::header;
use crate::proto::types_server::Types;
use crate::proto::{self, FieldValue};
use crate::status::{invalid, status, ErrorKind};

/// Implements `kvd.v1.Types` over the engine.
pub(crate) struct TypesService {
    shared: Arc<Shared>,
}

type Reply<T> = Result<Response<T>, Status>;

impl TypesService {
    pub(crate) fn new(shared: Arc<Shared>) -> TypesService {
        TypesService { shared }
    }

    fn key(&self, field: &str, key: &[u8]) -> Result<(), Status> {
        self.shared.limits.key(&|| field.to_string(), key)
    }

    /// A list of 1 to max_batch_ops elements, each at most max_value_bytes.
    fn elements(&self, field: &str, items: &[Vec<u8>]) -> Result<(), Status> {
        if items.is_empty() {
            return Err(invalid(format!("{field}: at least one is required")));
        }
        self.shared.limits.batch_len(field, items.len())?;
        for (i, item) in items.iter().enumerate() {
            self.shared.limits.value(&|| format!("{field}[{i}]"), item)?;
        }
        Ok(())
    }

    fn element(&self, field: &str, item: &[u8]) -> Result<(), Status> {
        self.shared.limits.value(&|| field.to_string(), item)
    }

    /// Runs `f` on the blocking pool; returns its value and the latest seqno after it.
    async fn call<T, F>(&self, f: F) -> Result<(T, Option<proto::ResponseHeader>), Status>
    where
        F: FnOnce(&Db) -> kvd::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.shared.run(move |s| Ok((f(&s.db).map_err(engine)?, header(s.db.latest_seqno())))).await
    }

    /// As [`TypesService::call`] for a list of elements that must fit in one response.
    async fn values<F>(&self, what: &'static str, f: F) -> Reply<proto::TypedValuesResponse>
    where
        F: FnOnce(&Db) -> kvd::Result<Vec<Vec<u8>>> + Send + 'static,
    {
        let resp = self
            .shared
            .run(move |s| {
                let values = f(&s.db).map_err(engine)?;
                let bytes = values.iter().map(|v| v.len() + 8).sum();
                s.limits.fits_response(&|| format!("{what} ({} elements)", values.len()), bytes)?;
                Ok(proto::TypedValuesResponse { header: header(s.db.latest_seqno()), values })
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn count<F>(&self, f: F) -> Reply<proto::TypedCountResponse>
    where
        F: FnOnce(&Db) -> kvd::Result<u64> + Send + 'static,
    {
        let (count, header) = self.call(f).await?;
        Ok(Response::new(proto::TypedCountResponse { header, count }))
    }

    async fn boolean<F>(&self, f: F) -> Reply<proto::TypedBoolResponse>
    where
        F: FnOnce(&Db) -> kvd::Result<bool> + Send + 'static,
    {
        let (value, header) = self.call(f).await?;
        Ok(Response::new(proto::TypedBoolResponse { header, value }))
    }

    async fn int<F>(&self, f: F) -> Reply<proto::TypedIntResponse>
    where
        F: FnOnce(&Db) -> kvd::Result<i64> + Send + 'static,
    {
        let (value, header) = self.call(f).await?;
        Ok(Response::new(proto::TypedIntResponse { header, value }))
    }

    async fn optional<F>(&self, f: F) -> Reply<proto::TypedValueResponse>
    where
        F: FnOnce(&Db) -> kvd::Result<Option<Vec<u8>>> + Send + 'static,
    {
        let (value, header) = self.call(f).await?;
        Ok(Response::new(proto::TypedValueResponse {
            header,
            found: value.is_some(),
            value: value.unwrap_or_default(),
        }))
    }

    async fn ack<F>(&self, f: F) -> Reply<proto::TypedAckResponse>
    where
        F: FnOnce(&Db) -> kvd::Result<()> + Send + 'static,
    {
        let ((), header) = self.call(f).await?;
        Ok(Response::new(proto::TypedAckResponse { header }))
    }

    /// A pop count: 0 means 1; at most max_batch_ops.
    fn pop_count(&self, count: u32) -> Result<usize, Status> {
        let n = (count as usize).max(1);
        self.shared.limits.batch_len("count", n)?;
        Ok(n)
    }

    /// The keys of a set operation: 1 to max_batch_ops valid keys.
    fn set_keys(&self, keys: &[Vec<u8>]) -> Result<(), Status> {
        if keys.is_empty() {
            return Err(invalid("keys: at least one is required"));
        }
        self.shared.limits.batch_len("keys", keys.len())?;
        for (i, k) in keys.iter().enumerate() {
            self.shared.limits.key(&|| format!("keys[{i}]"), k)?;
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl Types for TypesService {
    async fn incr_by(&self, req: Request<proto::IncrByRequest>) -> Reply<proto::TypedIntResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.int(move |db| db.incr_by(&r.key, r.delta)).await
    }

    async fn decr_by(&self, req: Request<proto::IncrByRequest>) -> Reply<proto::TypedIntResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.int(move |db| db.decr_by(&r.key, r.delta)).await
    }

    async fn get_int(&self, req: Request<proto::TypedKeyRequest>) -> Reply<proto::GetIntResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        let (value, header) = self.call(move |db| db.get_int(&r.key)).await?;
        Ok(Response::new(proto::GetIntResponse { header, found: value.is_some(), value: value.unwrap_or(0) }))
    }

    async fn l_push(&self, req: Request<proto::PushRequest>) -> Reply<proto::TypedCountResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.elements("values", &r.values)?;
        self.count(move |db| db.lpush(&r.key, &r.values)).await
    }

    async fn r_push(&self, req: Request<proto::PushRequest>) -> Reply<proto::TypedCountResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.elements("values", &r.values)?;
        self.count(move |db| db.rpush(&r.key, &r.values)).await
    }

    async fn l_pop(&self, req: Request<proto::PopRequest>) -> Reply<proto::TypedValuesResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        let n = self.pop_count(r.count)?;
        self.values("popped elements", move |db| db.lpop(&r.key, n)).await
    }

    async fn r_pop(&self, req: Request<proto::PopRequest>) -> Reply<proto::TypedValuesResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        let n = self.pop_count(r.count)?;
        self.values("popped elements", move |db| db.rpop(&r.key, n)).await
    }

    async fn l_range(&self, req: Request<proto::ListRangeRequest>) -> Reply<proto::TypedValuesResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.values("the range", move |db| db.lrange(&r.key, r.start, r.stop)).await
    }

    async fn l_len(&self, req: Request<proto::TypedKeyRequest>) -> Reply<proto::TypedCountResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.count(move |db| db.llen(&r.key)).await
    }

    async fn l_index(&self, req: Request<proto::LIndexRequest>) -> Reply<proto::TypedValueResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.optional(move |db| db.lindex(&r.key, r.index)).await
    }

    async fn l_set(&self, req: Request<proto::LSetRequest>) -> Reply<proto::TypedAckResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.element("value", &r.value)?;
        self.ack(move |db| db.lset(&r.key, r.index, &r.value)).await
    }

    async fn l_trim(&self, req: Request<proto::ListRangeRequest>) -> Reply<proto::TypedAckResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.ack(move |db| db.ltrim(&r.key, r.start, r.stop)).await
    }

    async fn s_add(&self, req: Request<proto::MembersRequest>) -> Reply<proto::TypedCountResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.elements("members", &r.members)?;
        self.count(move |db| db.sadd(&r.key, &r.members)).await
    }

    async fn s_rem(&self, req: Request<proto::MembersRequest>) -> Reply<proto::TypedCountResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.elements("members", &r.members)?;
        self.count(move |db| db.srem(&r.key, &r.members)).await
    }

    async fn s_is_member(&self, req: Request<proto::SIsMemberRequest>) -> Reply<proto::TypedBoolResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.element("member", &r.member)?;
        self.boolean(move |db| db.sismember(&r.key, &r.member)).await
    }

    async fn s_members(&self, req: Request<proto::TypedKeyRequest>) -> Reply<proto::TypedValuesResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.values("the set", move |db| db.smembers(&r.key)).await
    }

    async fn s_card(&self, req: Request<proto::TypedKeyRequest>) -> Reply<proto::TypedCountResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.count(move |db| db.scard(&r.key)).await
    }

    async fn s_inter(&self, req: Request<proto::SetAlgebraRequest>) -> Reply<proto::TypedValuesResponse> {
        let r = req.into_inner();
        self.set_keys(&r.keys)?;
        self.values("the intersection", move |db| db.sinter(&r.keys)).await
    }

    async fn s_union(&self, req: Request<proto::SetAlgebraRequest>) -> Reply<proto::TypedValuesResponse> {
        let r = req.into_inner();
        self.set_keys(&r.keys)?;
        self.values("the union", move |db| db.sunion(&r.keys)).await
    }

    async fn s_diff(&self, req: Request<proto::SetAlgebraRequest>) -> Reply<proto::TypedValuesResponse> {
        let r = req.into_inner();
        self.set_keys(&r.keys)?;
        self.values("the difference", move |db| db.sdiff(&r.keys)).await
    }

    async fn s_inter_store(&self, req: Request<proto::SetStoreRequest>) -> Reply<proto::TypedCountResponse> {
        let r = req.into_inner();
        self.key("dest", &r.dest)?;
        self.set_keys(&r.keys)?;
        self.count(move |db| db.sinterstore(&r.dest, &r.keys)).await
    }

    async fn s_union_store(&self, req: Request<proto::SetStoreRequest>) -> Reply<proto::TypedCountResponse> {
        let r = req.into_inner();
        self.key("dest", &r.dest)?;
        self.set_keys(&r.keys)?;
        self.count(move |db| db.sunionstore(&r.dest, &r.keys)).await
    }

    async fn s_diff_store(&self, req: Request<proto::SetStoreRequest>) -> Reply<proto::TypedCountResponse> {
        let r = req.into_inner();
        self.key("dest", &r.dest)?;
        self.set_keys(&r.keys)?;
        self.count(move |db| db.sdiffstore(&r.dest, &r.keys)).await
    }

    async fn h_set(&self, req: Request<proto::HSetRequest>) -> Reply<proto::TypedCountResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        if r.fields.is_empty() {
            return Err(invalid("fields: at least one is required"));
        }
        self.shared.limits.batch_len("fields", r.fields.len())?;
        for (i, f) in r.fields.iter().enumerate() {
            self.element(&format!("fields[{i}].field"), &f.field)?;
            self.element(&format!("fields[{i}].value"), &f.value)?;
        }
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = r.fields.into_iter().map(|f| (f.field, f.value)).collect();
        self.count(move |db| db.hset(&r.key, &pairs)).await
    }

    async fn h_get(&self, req: Request<proto::HFieldRequest>) -> Reply<proto::TypedValueResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.element("field", &r.field)?;
        self.optional(move |db| db.hget(&r.key, &r.field)).await
    }

    async fn h_del(&self, req: Request<proto::HDelRequest>) -> Reply<proto::TypedCountResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.elements("fields", &r.fields)?;
        self.count(move |db| db.hdel(&r.key, &r.fields)).await
    }

    async fn h_get_all(&self, req: Request<proto::TypedKeyRequest>) -> Reply<proto::HGetAllResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        let resp = self
            .shared
            .run(move |s| {
                let pairs = s.db.hgetall(&r.key).map_err(engine)?;
                let bytes = pairs.iter().map(|(f, v)| f.len() + v.len() + 8).sum();
                s.limits.fits_response(&|| format!("the hash ({} fields)", pairs.len()), bytes)?;
                let fields = pairs.into_iter().map(|(field, value)| FieldValue { field, value }).collect();
                Ok(proto::HGetAllResponse { header: header(s.db.latest_seqno()), fields })
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn h_exists(&self, req: Request<proto::HFieldRequest>) -> Reply<proto::TypedBoolResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.element("field", &r.field)?;
        self.boolean(move |db| db.hexists(&r.key, &r.field)).await
    }

    async fn h_len(&self, req: Request<proto::TypedKeyRequest>) -> Reply<proto::TypedCountResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.count(move |db| db.hlen(&r.key)).await
    }

    async fn h_incr_by(&self, req: Request<proto::HIncrByRequest>) -> Reply<proto::TypedIntResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.element("field", &r.field)?;
        self.int(move |db| db.hincrby(&r.key, &r.field, r.delta)).await
    }

    async fn type_of(&self, req: Request<proto::TypedKeyRequest>) -> Reply<proto::TypeOfResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        let (t, header) = self.call(move |db| db.type_of(&r.key)).await?;
        let t = match t {
            None => proto::ValueType::None,
            Some(ValueType::String) => proto::ValueType::String,
            Some(ValueType::List) => proto::ValueType::List,
            Some(ValueType::Set) => proto::ValueType::Set,
            Some(ValueType::Hash) => proto::ValueType::Hash,
            Some(other) => return Err(status(ErrorKind::Io, format!("type {other:?} has no protocol name yet"))),
        };
        Ok(Response::new(proto::TypeOfResponse { header, r#type: t as i32 }))
    }

    async fn del(&self, req: Request<proto::TypedKeyRequest>) -> Reply<proto::TypedBoolResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.boolean(move |db| db.del(&r.key)).await
    }

    async fn expire(&self, req: Request<proto::TypedExpireRequest>) -> Reply<proto::TypedBoolResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        let ttl = self
            .shared
            .limits
            .ttl(&|| "ttl_ms".into(), r.ttl_ms)?
            .ok_or_else(|| invalid("ttl_ms: must be at least 1; to remove an expiry use Persist"))?;
        self.boolean(move |db| db.expire_type(&r.key, ttl)).await
    }

    async fn persist(&self, req: Request<proto::TypedKeyRequest>) -> Reply<proto::TypedBoolResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        self.boolean(move |db| db.persist_type(&r.key)).await
    }

    async fn ttl(&self, req: Request<proto::TypedKeyRequest>) -> Reply<proto::TypedTtlResponse> {
        let r = req.into_inner();
        self.key("key", &r.key)?;
        let (ttl, header) = self
            .call(move |db| match db.ttl_type(&r.key) {
                Ok(ttl) => Ok(Some(ttl)),
                Err(kvd::Error::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            })
            .await?;
        Ok(Response::new(match ttl {
            None => proto::TypedTtlResponse { header, found: false, ttl_ms: 0 },
            Some(ttl) => proto::TypedTtlResponse { header, found: true, ttl_ms: ttl.map_or(0, ceil_ms) },
        }))
    }
}
