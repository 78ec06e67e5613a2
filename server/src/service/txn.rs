//! The `kvd.v1.Txn` service: interactive transactions over [`TxnRegistry`](super::txns) and
//! the one-shot compare-then-else call ([`OneShot`]).

use std::sync::Arc;

use kvd::{Isolation, Transaction, TxnOptions};
use tonic::{Request, Response, Status};

use super::compare::OneShot;
use super::validate::KeyRange;
use super::{engine, Cancel, Shared};
use crate::convert::header;
use crate::proto::txn_server::Txn;
use crate::proto::{self, KeyValue};
use crate::status::{exhausted, invalid, status, ErrorKind};

/// Bytes of keys and values one transaction may buffer (overwrites counted again).
pub(crate) const MAX_TXN_BUFFER_BYTES: usize = 64 << 20;
/// Entries a transactional scan returns when the request names no limit.
const DEFAULT_SCAN_LIMIT: usize = 1000;
/// Most entries one transactional scan returns.
const MAX_SCAN_LIMIT: usize = 10_000;

/// Implements `kvd.v1.Txn` over the engine.
pub(crate) struct TxnService {
    shared: Arc<Shared>,
}

impl TxnService {
    pub(crate) fn new(shared: Arc<Shared>) -> TxnService {
        TxnService { shared }
    }
}

/// Runs `f` on the open transaction `id`, serialised with every other call on it.
fn with_txn<R>(s: &Shared, id: u64, f: impl FnOnce(&mut Transaction<'_>) -> Result<R, Status>) -> Result<R, Status> {
    let open = s.txns.get(id)?;
    let mut cell = open.cell.lock();
    cell.with_dependent_mut(|_, slot| match slot {
        Some(txn) => f(txn),
        None => Err(status(ErrorKind::NotFound, format!("transaction {id} already committed or rolled back"))),
    })
}

/// Counts a buffered write of `bytes` against the transaction's limits.
fn charge(s: &Shared, id: u64, bytes: usize) -> Result<(), Status> {
    let open = s.txns.get(id)?;
    let mut b = open.buffered.lock();
    if b.0 >= s.limits.max_batch_ops {
        return Err(exhausted(format!(
            "transaction {id} already buffered {} writes (max_batch_ops); commit it and start another",
            b.0
        )));
    }
    if b.1 + bytes > MAX_TXN_BUFFER_BYTES {
        return Err(exhausted(format!(
            "transaction {id} would buffer more than {MAX_TXN_BUFFER_BYTES} bytes; commit it and start another"
        )));
    }
    *b = (b.0 + 1, b.1 + bytes);
    Ok(())
}

#[tonic::async_trait]
impl Txn for TxnService {
    async fn begin(&self, req: Request<proto::BeginRequest>) -> Result<Response<proto::BeginResponse>, Status> {
        let req = req.into_inner();
        let isolation = match proto::Isolation::try_from(req.isolation) {
            Ok(proto::Isolation::Snapshot) => Isolation::Snapshot,
            Ok(proto::Isolation::Serializable) => Isolation::Serializable,
            Err(_) => return Err(invalid(format!("isolation: unknown value {}", req.isolation))),
        };
        let timeout = self.shared.txns.timeout_for(req.timeout_ms)?;
        let opts = TxnOptions { isolation, timeout, sync: req.sync };
        let (id, seq) = self.shared.run(move |s| s.txns.begin(s.db.clone(), opts)).await?;
        Ok(Response::new(proto::BeginResponse {
            header: header(seq),
            txn_id: id,
            timeout_ms: timeout.as_millis() as u64,
        }))
    }

    async fn get(&self, req: Request<proto::TxnGetRequest>) -> Result<Response<proto::TxnGetResponse>, Status> {
        let req = req.into_inner();
        self.shared.limits.key(&|| "key".into(), &req.key)?;
        let resp = self
            .shared
            .run(move |s| {
                with_txn(s, req.txn_id, |txn| {
                    let value = if req.for_update { txn.get_for_update(&req.key) } else { txn.get(&req.key) }
                        .map_err(engine)?;
                    Ok(proto::TxnGetResponse {
                        header: header(txn.read_seq()),
                        found: value.is_some(),
                        value: value.unwrap_or_default(),
                    })
                })
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn put(&self, req: Request<proto::TxnPutRequest>) -> Result<Response<proto::TxnPutResponse>, Status> {
        let req = req.into_inner();
        let limits = &self.shared.limits;
        limits.key(&|| "key".into(), &req.key)?;
        limits.value(&|| "value".into(), &req.value)?;
        let ttl = limits.ttl(&|| "ttl_ms".into(), req.ttl_ms)?;
        let seq = self
            .shared
            .run(move |s| {
                charge(s, req.txn_id, req.key.len() + req.value.len())?;
                with_txn(s, req.txn_id, |txn| {
                    match ttl {
                        Some(ttl) => txn.put_with_ttl(&req.key, &req.value, ttl),
                        None => txn.put(&req.key, &req.value),
                    }
                    .map_err(engine)?;
                    Ok(txn.read_seq())
                })
            })
            .await?;
        Ok(Response::new(proto::TxnPutResponse { header: header(seq) }))
    }

    async fn delete(
        &self,
        req: Request<proto::TxnDeleteRequest>,
    ) -> Result<Response<proto::TxnDeleteResponse>, Status> {
        let req = req.into_inner();
        self.shared.limits.key(&|| "key".into(), &req.key)?;
        let seq = self
            .shared
            .run(move |s| {
                charge(s, req.txn_id, req.key.len())?;
                with_txn(s, req.txn_id, |txn| {
                    txn.delete(&req.key).map_err(engine)?;
                    Ok(txn.read_seq())
                })
            })
            .await?;
        Ok(Response::new(proto::TxnDeleteResponse { header: header(seq) }))
    }

    async fn scan(&self, req: Request<proto::TxnScanRequest>) -> Result<Response<proto::TxnScanResponse>, Status> {
        let req = req.into_inner();
        let range = KeyRange::parse(req.start, req.end, req.prefix)?;
        let limit = match req.limit as usize {
            0 => DEFAULT_SCAN_LIMIT,
            n => n.min(MAX_SCAN_LIMIT),
        };
        let (id, reverse, keys_only) = (req.txn_id, req.reverse, req.keys_only);
        let resp = self
            .shared
            .run(move |s| {
                with_txn(s, id, |txn| {
                    let entries =
                        txn.scan_opt(range.lower.as_deref(), range.upper.as_deref(), reverse).map_err(engine)?;
                    let mut kvs = Vec::new();
                    let mut bytes = 0usize;
                    let mut more = false;
                    for entry in entries {
                        let (key, value) = entry.map_err(engine)?;
                        if kvs.len() == limit {
                            more = true;
                            break;
                        }
                        let value = if keys_only { Vec::new() } else { value };
                        bytes += key.len() + value.len() + 16;
                        s.limits.fits_response(&|| format!("the first {} entries", kvs.len() + 1), bytes)?;
                        kvs.push(KeyValue { key, value });
                    }
                    Ok(proto::TxnScanResponse { header: header(txn.read_seq()), kvs, more })
                })
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn commit(&self, req: Request<proto::CommitRequest>) -> Result<Response<proto::CommitResponse>, Status> {
        let id = req.into_inner().txn_id;
        let seq = self
            .shared
            .run(move |s| {
                let open = s.txns.take(id)?;
                let mut cell = open.cell.lock();
                let txn = cell.with_dependent_mut(|_, slot| slot.take().map(Transaction::commit));
                match txn {
                    Some(committed) => committed.map_err(engine),
                    None => {
                        Err(status(ErrorKind::NotFound, format!("transaction {id} already committed or rolled back")))
                    }
                }
            })
            .await?;
        Ok(Response::new(proto::CommitResponse { header: header(seq) }))
    }

    async fn rollback(
        &self,
        req: Request<proto::RollbackRequest>,
    ) -> Result<Response<proto::RollbackResponse>, Status> {
        let id = req.into_inner().txn_id;
        let seq = self
            .shared
            .run(move |s| {
                let open = s.txns.take(id)?;
                let mut cell = open.cell.lock();
                cell.with_dependent_mut(|_, slot| slot.take().map(Transaction::rollback));
                Ok(s.db.latest_seqno())
            })
            .await?;
        Ok(Response::new(proto::RollbackResponse { header: header(seq) }))
    }

    async fn txn(&self, req: Request<proto::TxnRequest>) -> Result<Response<proto::TxnResponse>, Status> {
        let one_shot = OneShot::parse(req.into_inner(), &self.shared.limits)?;
        let (cancel, _guard) = Cancel::new();
        let resp = self.shared.run(move |s| one_shot.run(s, &cancel)).await?;
        Ok(Response::new(resp))
    }
}
