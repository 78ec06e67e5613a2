//! The `kvd.v1.KV` service: point reads and writes, batches, range deletes, scans,
//! server-side snapshots, and TTLs.

use std::sync::Arc;

use kvd::{ReadOptions, WriteBatch, WriteOptions};
use tonic::{Request, Response, Status};

use super::conditional::{self, Check, Persisted};
use super::scan::{self, ScanStream};
use super::validate::KeyRange;
use super::{engine, Cancel, Shared};
use crate::convert::{header, show_key};
use crate::layer::Deadline;
use crate::proto::kv_server::Kv;
use crate::proto::{self, write_op};
use crate::status::{exhausted, invalid};

/// Operations between checks for a cancelled call in long loops.
pub(crate) const CANCEL_CHECK_EVERY: usize = 256;

/// Implements `kvd.v1.KV` over the engine.
pub(crate) struct KvService {
    shared: Arc<Shared>,
}

impl KvService {
    pub(crate) fn new(shared: Arc<Shared>) -> KvService {
        KvService { shared }
    }
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn get(&self, req: Request<proto::GetRequest>) -> Result<Response<proto::GetResponse>, Status> {
        let req = req.into_inner();
        self.shared.limits.key(&|| "key".into(), &req.key)?;
        // Most point reads are answered by memtables and the block cache, with no I/O: those
        // run right here, sparing the hand-off to the blocking pool and back (on two cores
        // that hand-off is a third of a small get's latency). A read that needs a file goes
        // to the pool.
        self.shared.check_serving()?;
        let at = self.shared.point_read(req.snapshot_id, req.seqno)?;
        let cached = self.shared.inline(|s| s.db.get_versioned_if_cached(&req.key, Some(at.seq())).map_err(engine))?;
        let got = match cached {
            Some(got) => got,
            None => {
                let key = req.key.clone();
                let seq = at.seq();
                self.shared.run(move |s| s.db.get_versioned(&key, Some(seq)).map_err(engine)).await?
            }
        };
        if let Some(v) = &got {
            self.shared.limits.fits_response(&|| format!("value of key {}", show_key(&req.key)), v.value.len())?;
        }
        let resp = match got {
            Some(v) => proto::GetResponse { header: header(at.seq()), found: true, value: v.value, version: v.seqno },
            None => proto::GetResponse { header: header(at.seq()), ..Default::default() },
        };
        Ok(Response::new(resp))
    }

    async fn batch_get(
        &self,
        req: Request<proto::BatchGetRequest>,
    ) -> Result<Response<proto::BatchGetResponse>, Status> {
        let req = req.into_inner();
        let limits = &self.shared.limits;
        limits.batch_len("keys", req.keys.len())?;
        for (i, k) in req.keys.iter().enumerate() {
            limits.key(&|| format!("keys[{i}]"), k)?;
        }
        let (cancel, _guard) = Cancel::new();
        let resp = self
            .shared
            .run(move |s| {
                let at = s.read_point(req.snapshot_id, req.seqno)?;
                let mut results = Vec::with_capacity(req.keys.len());
                let mut bytes = 0usize;
                for (i, key) in req.keys.iter().enumerate() {
                    if i.is_multiple_of(CANCEL_CHECK_EVERY) {
                        cancel.check()?;
                    }
                    let got = s.db.get_versioned(key, Some(at.seq())).map_err(engine)?;
                    bytes += 16 + got.as_ref().map_or(0, |v| v.value.len());
                    s.limits.fits_response(&|| format!("the values of the first {} keys", i + 1), bytes)?;
                    results.push(match got {
                        Some(v) => proto::GetResult { found: true, value: v.value, version: v.seqno },
                        None => proto::GetResult::default(),
                    });
                }
                Ok(proto::BatchGetResponse { header: header(at.seq()), results })
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn put(&self, req: Request<proto::PutRequest>) -> Result<Response<proto::PutResponse>, Status> {
        let req = req.into_inner();
        let limits = &self.shared.limits;
        limits.key(&|| "key".into(), &req.key)?;
        limits.value(&|| "value".into(), &req.value)?;
        let ttl = limits.ttl(&|| "ttl_ms".into(), req.ttl_ms)?;
        let check = Check::parse(req.precondition, &self.shared)?;
        let opts = WriteOptions { sync: req.sync };
        let key = req.key;
        let mut batch = WriteBatch::new();
        match ttl {
            Some(ttl) => batch.put_with_ttl(key.clone(), req.value, ttl),
            None => batch.put(key.clone(), req.value),
        };
        let resp = match check {
            Some(check) => self.shared.run(move |s| conditional::put_if(s, &key, batch, &check, opts)).await?,
            None => {
                let seq = self.shared.commit(batch, opts.sync).await?;
                proto::PutResponse { header: header(seq), applied: true, version: seq }
            }
        };
        Ok(Response::new(resp))
    }

    async fn delete(&self, req: Request<proto::DeleteRequest>) -> Result<Response<proto::DeleteResponse>, Status> {
        let req = req.into_inner();
        self.shared.limits.key(&|| "key".into(), &req.key)?;
        let mut batch = WriteBatch::new();
        batch.delete(req.key);
        let seq = self.shared.commit(batch, req.sync).await?;
        Ok(Response::new(proto::DeleteResponse { header: header(seq) }))
    }

    async fn delete_range(
        &self,
        req: Request<proto::DeleteRangeRequest>,
    ) -> Result<Response<proto::DeleteRangeResponse>, Status> {
        let req = req.into_inner();
        let range = KeyRange::parse(req.start, req.end, req.prefix)?;
        if range.is_unbounded() {
            return Err(invalid(
                "range: start, end and prefix are all empty; to delete every key send start = \"\\x00\"",
            ));
        }
        let opts = WriteOptions { sync: req.sync };
        let (cancel, _guard) = Cancel::new();
        let (seq, deleted) = self
            .shared
            .run(move |s| {
                let snap = s.db.snapshot();
                let ro = ReadOptions {
                    snapshot: Some(&snap),
                    lower_bound: range.lower,
                    upper_bound: range.upper,
                    ..Default::default()
                };
                let mut it = s.db.iter(&ro);
                it.seek_to_first();
                let mut batch = WriteBatch::new();
                while it.valid() {
                    if batch.len().is_multiple_of(CANCEL_CHECK_EVERY) {
                        cancel.check()?;
                    }
                    if batch.len() == s.limits.max_batch_ops {
                        return Err(exhausted(format!(
                            "range holds more than max_batch_ops ({}) live keys; nothing was deleted: split the range",
                            s.limits.max_batch_ops
                        )));
                    }
                    batch.delete(it.key().to_vec());
                    it.next();
                }
                it.status().map_err(engine)?;
                let n = batch.len() as u64;
                if n == 0 {
                    return Ok((snap.seq(), 0));
                }
                Ok((s.db.write_opt(batch, opts).map_err(engine)?, n))
            })
            .await?;
        Ok(Response::new(proto::DeleteRangeResponse { header: header(seq), deleted }))
    }

    async fn write(&self, req: Request<proto::WriteRequest>) -> Result<Response<proto::WriteResponse>, Status> {
        let req = req.into_inner();
        let limits = &self.shared.limits;
        if req.ops.is_empty() {
            return Err(invalid("ops: a write needs at least one operation"));
        }
        limits.batch_len("ops", req.ops.len())?;
        let mut batch = WriteBatch::new();
        for (i, op) in req.ops.into_iter().enumerate() {
            match op.op {
                Some(write_op::Op::Put(p)) => {
                    limits.key(&|| format!("ops[{i}].put.key"), &p.key)?;
                    limits.value(&|| format!("ops[{i}].put.value"), &p.value)?;
                    match limits.ttl(&|| format!("ops[{i}].put.ttl_ms"), p.ttl_ms)? {
                        Some(ttl) => batch.put_with_ttl(p.key, p.value, ttl),
                        None => batch.put(p.key, p.value),
                    };
                }
                Some(write_op::Op::Delete(d)) => {
                    limits.key(&|| format!("ops[{i}].delete.key"), &d.key)?;
                    batch.delete(d.key);
                }
                None => return Err(invalid(format!("ops[{i}]: no operation is set"))),
            }
        }
        let seq = self.shared.commit(batch, req.sync).await?;
        Ok(Response::new(proto::WriteResponse { header: header(seq) }))
    }

    type ScanStream = ScanStream;

    async fn scan(&self, req: Request<proto::ScanRequest>) -> Result<Response<ScanStream>, Status> {
        let deadline = req.extensions().get::<Deadline>().map(|d| d.0);
        let req = req.into_inner();
        let plan = scan::ScanPlan::parse(&req, deadline)?;
        let stream = scan::start(&self.shared, plan, req.snapshot_id, req.seqno)?;
        Ok(Response::new(stream))
    }

    async fn create_snapshot(
        &self,
        req: Request<proto::CreateSnapshotRequest>,
    ) -> Result<Response<proto::CreateSnapshotResponse>, Status> {
        self.shared.check_serving()?;
        let lease = self.shared.snapshots.lease_for(req.get_ref().lease_ms)?;
        let snap = self.shared.db.snapshot();
        let seq = snap.seq();
        let id = self.shared.snapshots.insert(snap, lease)?;
        Ok(Response::new(proto::CreateSnapshotResponse {
            header: header(seq),
            snapshot_id: id,
            lease_ms: lease.as_millis() as u64,
        }))
    }

    async fn release_snapshot(
        &self,
        req: Request<proto::ReleaseSnapshotRequest>,
    ) -> Result<Response<proto::ReleaseSnapshotResponse>, Status> {
        self.shared.check_serving()?;
        self.shared.snapshots.release(req.get_ref().snapshot_id)?;
        Ok(Response::new(proto::ReleaseSnapshotResponse { header: header(self.shared.db.latest_seqno()) }))
    }

    async fn ttl(&self, req: Request<proto::TtlRequest>) -> Result<Response<proto::TtlResponse>, Status> {
        let req = req.into_inner();
        self.shared.limits.key(&|| "key".into(), &req.key)?;
        let resp = self
            .shared
            .run(move |s| {
                let seq = s.db.latest_seqno();
                let got = s.db.get_versioned(&req.key, Some(seq)).map_err(engine)?;
                Ok(match got {
                    None => proto::TtlResponse { header: header(seq), ..Default::default() },
                    Some(v) => proto::TtlResponse {
                        header: header(seq),
                        found: true,
                        ttl_ms: v.expires_at_millis.map_or(0, conditional::remaining_ms),
                        expires_at_unix_ms: v.expires_at_millis.unwrap_or(0),
                        version: v.seqno,
                    },
                })
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn expire(&self, req: Request<proto::ExpireRequest>) -> Result<Response<proto::ExpireResponse>, Status> {
        let req = req.into_inner();
        self.shared.limits.key(&|| "key".into(), &req.key)?;
        let ttl = self
            .shared
            .limits
            .ttl(&|| "ttl_ms".into(), req.ttl_ms)?
            .ok_or_else(|| invalid("ttl_ms: must be at least 1; to remove an expiry use Persist"))?;
        let opts = WriteOptions { sync: req.sync };
        let (found, seq) = self.shared.run(move |s| conditional::expire(s, &req.key, ttl, opts)).await?;
        Ok(Response::new(proto::ExpireResponse { header: header(seq), found, version: if found { seq } else { 0 } }))
    }

    async fn persist(&self, req: Request<proto::PersistRequest>) -> Result<Response<proto::PersistResponse>, Status> {
        let req = req.into_inner();
        self.shared.limits.key(&|| "key".into(), &req.key)?;
        let opts = WriteOptions { sync: req.sync };
        let (what, seq) = self.shared.run(move |s| conditional::persist(s, &req.key, opts)).await?;
        let (found, removed, version) = match what {
            Persisted::Missing => (false, false, 0),
            Persisted::NoExpiry(v) => (true, false, v),
            Persisted::Removed => (true, true, seq),
        };
        Ok(Response::new(proto::PersistResponse { header: header(seq), found, removed, version }))
    }
}
