//! The `kvd.v1.KV` service: point reads and writes, batches, range deletes, scans and
//! server-side snapshots.

use std::sync::Arc;

use kvd::{Precondition, ReadOptions, WriteBatch, WriteOptions};
use tonic::{Request, Response, Status};

use super::scan::{self, ScanStream};
use super::validate::KeyRange;
use super::{engine, Cancel, Shared};
use crate::convert::{header, show_key};
use crate::layer::Deadline;
use crate::proto::kv_server::Kv;
use crate::proto::{self, precondition, write_op};
use crate::status::{exhausted, invalid, status, ErrorKind};

/// Operations between checks for a cancelled call in long loops.
const CANCEL_CHECK_EVERY: usize = 256;
/// Attempts of a conditional put whose key keeps changing between its check and its commit.
const CONDITIONAL_PUT_ATTEMPTS: usize = 8;

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
        let resp = self
            .shared
            .run(move |s| {
                let snap = s.read_view(req.snapshot_id)?;
                let ro = ReadOptions { snapshot: Some(&snap), ..Default::default() };
                let value = s.db.get_opt(&req.key, &ro).map_err(engine)?;
                if let Some(v) = &value {
                    s.limits.fits_response(&|| format!("value of key {}", show_key(&req.key)), v.len())?;
                }
                Ok(proto::GetResponse {
                    header: header(snap.seq()),
                    found: value.is_some(),
                    value: value.unwrap_or_default(),
                })
            })
            .await?;
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
                let snap = s.read_view(req.snapshot_id)?;
                let ro = ReadOptions { snapshot: Some(&snap), ..Default::default() };
                let mut results = Vec::with_capacity(req.keys.len());
                let mut bytes = 0usize;
                for (i, key) in req.keys.iter().enumerate() {
                    if i.is_multiple_of(CANCEL_CHECK_EVERY) {
                        cancel.check()?;
                    }
                    let value = s.db.get_opt(key, &ro).map_err(engine)?;
                    bytes += 8 + value.as_ref().map_or(0, Vec::len);
                    s.limits.fits_response(&|| format!("the values of the first {} keys", i + 1), bytes)?;
                    results.push(proto::GetResult { found: value.is_some(), value: value.unwrap_or_default() });
                }
                Ok(proto::BatchGetResponse { header: header(snap.seq()), results })
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
        let if_absent = match req.precondition {
            None => false,
            Some(proto::Precondition { check: Some(precondition::Check::NotExists(_)) }) => true,
            Some(proto::Precondition { check: None }) => return Err(invalid("precondition: no check is set")),
        };
        let opts = WriteOptions { sync: req.sync };
        let resp = self
            .shared
            .run(move |s| {
                let key = req.key;
                let mut batch = WriteBatch::new();
                match ttl {
                    Some(ttl) => batch.put_with_ttl(key.clone(), req.value, ttl),
                    None => batch.put(key.clone(), req.value),
                };
                if if_absent {
                    put_if_absent(s, &key, batch, opts)
                } else {
                    let seq = s.db.write_opt(batch, opts).map_err(engine)?;
                    Ok(proto::PutResponse { header: header(seq), applied: true })
                }
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn delete(&self, req: Request<proto::DeleteRequest>) -> Result<Response<proto::DeleteResponse>, Status> {
        let req = req.into_inner();
        self.shared.limits.key(&|| "key".into(), &req.key)?;
        let opts = WriteOptions { sync: req.sync };
        let seq = self
            .shared
            .run(move |s| {
                let mut batch = WriteBatch::new();
                batch.delete(req.key);
                s.db.write_opt(batch, opts).map_err(engine)
            })
            .await?;
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
        let opts = WriteOptions { sync: req.sync };
        let seq = self.shared.run(move |s| s.db.write_opt(batch, opts).map_err(engine)).await?;
        Ok(Response::new(proto::WriteResponse { header: header(seq) }))
    }

    type ScanStream = ScanStream;

    async fn scan(&self, req: Request<proto::ScanRequest>) -> Result<Response<ScanStream>, Status> {
        let deadline = req.extensions().get::<Deadline>().map(|d| d.0);
        let req = req.into_inner();
        let plan = scan::ScanPlan::parse(&req, deadline)?;
        let stream = scan::start(&self.shared, plan, req.snapshot_id)?;
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
}

/// Writes `batch` (a put of `key`) only if `key` holds no live value, atomically: the check
/// reads at a snapshot and the write commits through `write_if`, which the engine's commit
/// leader rejects if anything wrote `key` after that snapshot. On such a conflict the check
/// runs again; a key that keeps flipping between present and absent gives up with `ABORTED`.
fn put_if_absent(s: &Shared, key: &[u8], batch: WriteBatch, opts: WriteOptions) -> Result<proto::PutResponse, Status> {
    for _ in 0..CONDITIONAL_PUT_ATTEMPTS {
        let snap = s.db.snapshot();
        let ro = ReadOptions { snapshot: Some(&snap), ..Default::default() };
        if s.db.get_opt(key, &ro).map_err(engine)?.is_some() {
            return Ok(proto::PutResponse { header: header(snap.seq()), applied: false });
        }
        let pre = Precondition { read_seq: snap.seq(), keys: vec![key.to_vec()], ranges: Vec::new() };
        match s.db.write_if(batch.clone(), pre, opts) {
            Ok(seq) => return Ok(proto::PutResponse { header: header(seq), applied: true }),
            Err(kvd::Error::Conflict(_)) => continue,
            Err(e) => return Err(engine(e)),
        }
    }
    Err(status(
        ErrorKind::Conflict,
        format!(
            "key {} changed between check and write {CONDITIONAL_PUT_ATTEMPTS} times in a row; nothing was written",
            show_key(key)
        ),
    ))
}
