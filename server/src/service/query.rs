//! The `kvd.v1.Query` service: SQL queries (streamed, `query_stream.rs`), plans, index
//! management (`indexes.rs`) and documents (`docs.rs`). Handlers validate on the executor
//! and run engine work on the blocking pool.

use std::sync::Arc;

use kvd::query::{Access, Plan, QueryOptions};
use tonic::{Request, Response, Status};

use super::query_stream::{self, QueryCall, QueryStream};
use super::{docs, engine, indexes, validate, Shared};
use crate::convert::header;
use crate::layer::Deadline;
use crate::proto::query_server::Query;
use crate::proto::{self, explain_response};

/// Implements `kvd.v1.Query` over the engine.
pub(crate) struct QueryService {
    shared: Arc<Shared>,
}

impl QueryService {
    pub(crate) fn new(shared: Arc<Shared>) -> QueryService {
        QueryService { shared }
    }
}

/// A plan as an ExplainResponse.
fn explained(plan: &Plan, seq: u64) -> proto::ExplainResponse {
    let mut r = proto::ExplainResponse {
        header: header(seq),
        plan: plan.to_string(),
        sort: plan.sort,
        index_only: plan.index_only,
        ..Default::default()
    };
    match &plan.access {
        Access::FullScan { reverse } => {
            r.access = explain_response::Access::FullScan as i32;
            r.reverse = *reverse;
        }
        Access::IndexScan { index, reverse, bounds, .. } => {
            r.access = explain_response::Access::IndexScan as i32;
            r.index = index.qualified_name();
            r.index_fields = index.fields.iter().map(|f| f.path.clone()).collect();
            r.bounds = bounds.clone();
            r.reverse = *reverse;
        }
    }
    r
}

#[tonic::async_trait]
impl Query for QueryService {
    type QueryStream = QueryStream;

    async fn query(&self, req: Request<proto::QueryRequest>) -> Result<Response<QueryStream>, Status> {
        let deadline = req.extensions().get::<Deadline>().map(|d| d.0);
        let call = QueryCall::parse(req.into_inner(), deadline)?;
        Ok(Response::new(query_stream::start(&self.shared, call).await?))
    }

    async fn explain(&self, req: Request<proto::ExplainRequest>) -> Result<Response<proto::ExplainResponse>, Status> {
        let req = req.into_inner();
        validate::sql(&req.sql)?;
        let resp = self
            .shared
            .run(move |s| {
                let seq = s.db.latest_seqno();
                let opts = QueryOptions { force_full_scan: req.force_full_scan, ..Default::default() };
                let plan = s.db.explain_with(&req.sql, &opts).map_err(engine)?;
                Ok(explained(&plan, seq))
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn create_index(
        &self,
        req: Request<proto::CreateIndexRequest>,
    ) -> Result<Response<proto::CreateIndexResponse>, Status> {
        let spec = indexes::spec(req.into_inner())?;
        Ok(Response::new(self.shared.run(move |s| indexes::create_index(s, spec)).await?))
    }

    async fn drop_index(
        &self,
        req: Request<proto::DropIndexRequest>,
    ) -> Result<Response<proto::DropIndexResponse>, Status> {
        let req = req.into_inner();
        validate::required("namespace", &req.namespace)?;
        validate::required("name", &req.name)?;
        Ok(Response::new(self.shared.run(move |s| indexes::drop_index(s, req)).await?))
    }

    async fn list_indexes(
        &self,
        req: Request<proto::ListIndexesRequest>,
    ) -> Result<Response<proto::ListIndexesResponse>, Status> {
        let req = req.into_inner();
        Ok(Response::new(self.shared.run(move |s| indexes::list_indexes(s, req)).await?))
    }

    async fn index_status(
        &self,
        req: Request<proto::IndexStatusRequest>,
    ) -> Result<Response<proto::IndexStatusResponse>, Status> {
        let req = req.into_inner();
        validate::required("namespace", &req.namespace)?;
        validate::required("name", &req.name)?;
        Ok(Response::new(self.shared.run(move |s| indexes::index_status(s, req)).await?))
    }

    async fn put_doc(&self, req: Request<proto::PutDocRequest>) -> Result<Response<proto::PutDocResponse>, Status> {
        let req = req.into_inner();
        self.shared.limits.doc(&String::new, &req.key, &req.json)?;
        Ok(Response::new(self.shared.run(move |s| docs::put(s, req)).await?))
    }

    async fn get_doc(&self, req: Request<proto::GetDocRequest>) -> Result<Response<proto::GetDocResponse>, Status> {
        let req = req.into_inner();
        self.shared.limits.key(&|| "key".into(), req.key.as_bytes())?;
        Ok(Response::new(self.shared.run(move |s| docs::get(s, req)).await?))
    }

    async fn delete_doc(
        &self,
        req: Request<proto::DeleteDocRequest>,
    ) -> Result<Response<proto::DeleteDocResponse>, Status> {
        let req = req.into_inner();
        self.shared.limits.key(&|| "key".into(), req.key.as_bytes())?;
        Ok(Response::new(self.shared.run(move |s| docs::delete(s, req)).await?))
    }

    async fn write_docs(
        &self,
        req: Request<proto::WriteDocsRequest>,
    ) -> Result<Response<proto::WriteDocsResponse>, Status> {
        let ops = req.into_inner().ops;
        docs::check_ops(&self.shared, &ops)?;
        Ok(Response::new(self.shared.run(move |s| docs::write(s, ops)).await?))
    }
}
