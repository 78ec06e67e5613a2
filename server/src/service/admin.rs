//! The `kvd.v1.Admin` service: statistics, flush and server information.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{engine, Shared};
use crate::convert::{self, header};
use crate::proto;
use crate::proto::admin_server::Admin;

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
        let resp = self.shared.run(|s| Ok(convert::stats(&s.db.stats(), s.snapshots.len()))).await?;
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
}
