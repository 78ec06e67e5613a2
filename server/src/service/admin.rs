//! The `kvd.v1.Admin` service: statistics, flush, server information, range compaction,
//! checkpoints and the history floor.

use std::sync::Arc;
use std::time::Instant;

use tonic::{Request, Response, Status};

use super::validate::KeyRange;
use super::{checkpoint, engine, Shared};
use crate::convert::{self, header};
use crate::proto;
use crate::proto::admin_server::Admin;
use crate::status::invalid;

/// Attempts to set the history floor at the latest seqno while writes keep moving it.
const SET_FLOOR_ATTEMPTS: usize = 16;

/// Implements `kvd.v1.Admin` over the engine.
pub(crate) struct AdminService {
    shared: Arc<Shared>,
}

impl AdminService {
    pub(crate) fn new(shared: Arc<Shared>) -> AdminService {
        AdminService { shared }
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn stats(&self, _req: Request<proto::StatsRequest>) -> Result<Response<proto::StatsResponse>, Status> {
        let resp = self
            .shared
            .run(|s| {
                let mut r = convert::stats(&s.db.stats(), s.snapshots.len());
                r.history_floor = s.db.history_floor();
                r.open_transactions = s.txns.len() as u64;
                r.open_connections = (s.config.max_connections - s.connections.available_permits()) as u64;
                Ok(r)
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn flush(&self, _req: Request<proto::FlushRequest>) -> Result<Response<proto::FlushResponse>, Status> {
        let seq = self
            .shared
            .run(|s| {
                s.db.flush().map_err(engine)?;
                Ok(s.db.latest_seqno())
            })
            .await?;
        Ok(Response::new(proto::FlushResponse { header: header(seq) }))
    }

    async fn server_info(
        &self,
        _req: Request<proto::ServerInfoRequest>,
    ) -> Result<Response<proto::ServerInfoResponse>, Status> {
        let s = &self.shared;
        Ok(Response::new(proto::ServerInfoResponse {
            header: header(s.db.latest_seqno()),
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_ms: s.started.elapsed().as_millis() as u64,
            started_at_unix_ms: s.started_unix_ms,
            data_dir: s.config.data_dir.display().to_string(),
            listen_addr: s.local_addr.to_string(),
            sync_policy: s.config.sync.to_string(),
            config_json: s.config.to_json(),
            pid: std::process::id(),
        }))
    }

    async fn compact_range(
        &self,
        req: Request<proto::CompactRangeRequest>,
    ) -> Result<Response<proto::CompactRangeResponse>, Status> {
        let req = req.into_inner();
        let range = KeyRange::parse(req.start, req.end, req.prefix)?;
        let (seq, ms) = self
            .shared
            .run(move |s| {
                let started = Instant::now();
                // The engine's end bound is inclusive; compacting the exclusive end key too is
                // harmless.
                s.db.compact_range(range.lower.as_deref(), range.upper.as_deref()).map_err(engine)?;
                Ok((s.db.latest_seqno(), started.elapsed().as_millis() as u64))
            })
            .await?;
        Ok(Response::new(proto::CompactRangeResponse { header: header(seq), duration_ms: ms }))
    }

    async fn checkpoint(
        &self,
        req: Request<proto::CheckpointRequest>,
    ) -> Result<Response<proto::CheckpointResponse>, Status> {
        let dir = req.into_inner().dir;
        let resp = self.shared.run(move |s| checkpoint::write(s, dir)).await?;
        Ok(Response::new(resp))
    }

    async fn set_history_floor(
        &self,
        req: Request<proto::SetHistoryFloorRequest>,
    ) -> Result<Response<proto::SetHistoryFloorResponse>, Status> {
        let req = req.into_inner();
        if req.clear && req.seqno != 0 {
            return Err(invalid("seqno: must be 0 when clear is set"));
        }
        let (seq, floor) = self
            .shared
            .run(move |s| {
                if req.clear {
                    s.db.clear_history_floor().map_err(engine)?;
                } else if req.seqno != 0 {
                    s.db.set_history_floor(req.seqno).map_err(engine)?;
                } else {
                    // "At the latest": a write landing between reading the latest seqno and
                    // setting the floor makes that seqno too old when no history is kept yet.
                    let mut tries = 0;
                    while let Err(e) = s.db.set_history_floor(s.db.latest_seqno()) {
                        tries += 1;
                        if tries == SET_FLOOR_ATTEMPTS || !matches!(e, kvd::Error::InvalidArgument(_)) {
                            return Err(engine(e));
                        }
                    }
                }
                Ok((s.db.latest_seqno(), s.db.history_floor()))
            })
            .await?;
        Ok(Response::new(proto::SetHistoryFloorResponse { header: header(seq), history_floor: floor }))
    }
}
