//! Documents, secondary indexes and SQL queries through the client (`kvd.v1.Query`).
//!
//! Index definitions and rows come back as the engine's own types ([`IndexStatus`],
//! [`kvd::query::Row`]), so code can move between the embedded engine and a server.

use std::time::{Duration, Instant};

use kvd::index::{FieldType, IndexDef, IndexField, IndexSpec, IndexState, IndexStatus};
use serde_json::Value;
use tonic::Request;

use super::{seqno, KvdClient, QueryStream, Result, Served};
use crate::proto::{self, doc_op};

/// What a [`KvdClient::query`] runs.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    /// The SQL text (`SELECT ...` or `EXPLAIN SELECT ...`).
    pub sql: String,
    /// At most this many rows, then a continuation token if more remain (`0`: every row).
    pub page_size: u32,
    /// Resume after the page that returned this token (same `sql`).
    pub continuation: Option<String>,
    /// Ignore indexes and scan the namespace.
    pub force_full_scan: bool,
    /// Rows per streamed message (`0`: the server's default).
    pub chunk_size: u32,
    /// Deadline for the whole query (`None`: no deadline).
    pub timeout: Option<Duration>,
}

impl QueryOptions {
    /// Runs `sql` with the defaults: every row, planner's choice, no deadline.
    pub fn new(sql: impl Into<String>) -> QueryOptions {
        QueryOptions { sql: sql.into(), ..Default::default() }
    }

    /// Pages of at most `n` rows.
    pub fn page_size(mut self, n: u32) -> QueryOptions {
        self.page_size = n;
        self
    }

    /// Resumes after the page that returned `token`.
    pub fn continuation(mut self, token: impl Into<String>) -> QueryOptions {
        self.continuation = Some(token.into());
        self
    }

    /// Ignores indexes.
    pub fn force_full_scan(mut self) -> QueryOptions {
        self.force_full_scan = true;
        self
    }

    fn into_request(self) -> Request<proto::QueryRequest> {
        let mut req = Request::new(proto::QueryRequest {
            sql: self.sql,
            page_size: self.page_size,
            continuation: self.continuation.unwrap_or_default(),
            force_full_scan: self.force_full_scan,
            chunk_size: self.chunk_size,
        });
        if let Some(t) = self.timeout {
            req.set_timeout(t);
        }
        req
    }
}

/// Document puts and deletes for [`KvdClient::write_docs`], applied as one transaction.
#[derive(Debug, Clone, Default)]
pub struct DocBatch {
    ops: Vec<proto::DocOp>,
}

impl DocBatch {
    /// An empty batch.
    pub fn new() -> DocBatch {
        DocBatch::default()
    }

    /// Adds storing `doc` (a JSON object) at `key` (`namespace/id`).
    pub fn put(&mut self, key: impl Into<String>, doc: &Value) -> &mut DocBatch {
        let put = proto::PutDocRequest { key: key.into(), json: doc.to_string() };
        self.ops.push(proto::DocOp { op: Some(doc_op::Op::Put(put)) });
        self
    }

    /// Adds removing the document at `key`.
    pub fn delete(&mut self, key: impl Into<String>) -> &mut DocBatch {
        self.ops.push(proto::DocOp { op: Some(doc_op::Op::Delete(key.into())) });
        self
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// An index message as the engine's type. Values a newer server may add read as the
/// closest known ones: an unknown field type as `any`, an unknown state as building.
fn index_status(i: proto::IndexInfo) -> IndexStatus {
    let fields = i
        .fields
        .into_iter()
        .map(|f| IndexField {
            path: f.path,
            field_type: match proto::FieldType::try_from(f.r#type) {
                Ok(proto::FieldType::Int) => FieldType::Int,
                Ok(proto::FieldType::Float) => FieldType::Float,
                Ok(proto::FieldType::String) => FieldType::String,
                Ok(proto::FieldType::Bool) => FieldType::Bool,
                Ok(proto::FieldType::Any) | Err(_) => FieldType::Any,
            },
        })
        .collect();
    let state = if i.state == proto::IndexState::Ready as i32 { IndexState::Ready } else { IndexState::Building };
    let def = IndexDef {
        id: i.id,
        namespace: i.namespace,
        name: i.name,
        fields,
        unique: i.unique,
        covering: i.covering,
        state,
    };
    IndexStatus { def, docs_scanned: i.docs_scanned }
}

impl KvdClient {
    /// Starts a query; returns once its first chunk arrived (so a bad query fails here) and
    /// the rest streams in as [`QueryStream`] is read.
    pub async fn query(&self, opts: QueryOptions) -> Result<QueryStream> {
        let deadline = opts.timeout.map(|t| Instant::now() + t);
        let inner = self.query.clone().query(opts.into_request()).await?.into_inner();
        QueryStream::start(inner, deadline).await
    }

    /// The plan `sql` would run (see `ExplainResponse`).
    pub async fn explain(&self, sql: impl Into<String>) -> Result<proto::ExplainResponse> {
        self.explain_opt(sql, false).await
    }

    /// The plan `sql` would run, optionally as if there were no indexes.
    pub async fn explain_opt(&self, sql: impl Into<String>, force_full_scan: bool) -> Result<proto::ExplainResponse> {
        let req = proto::ExplainRequest { sql: sql.into(), force_full_scan };
        Ok(self.query.clone().explain(self.request(req)).await?.into_inner())
    }

    /// Creates an index and waits until its online build made it ready. The build of a
    /// large namespace takes a while: give the client a
    /// [`ClientOptions::request_timeout`](super::ClientOptions::request_timeout) long
    /// enough (a timed-out call does not stop the build on the server).
    pub async fn create_index(&self, spec: &IndexSpec) -> Result<IndexStatus> {
        let fields = spec
            .fields
            .iter()
            .map(|f| proto::IndexField {
                path: f.path.clone(),
                r#type: crate::convert::field_type(f.field_type) as i32,
            })
            .collect();
        let req = proto::CreateIndexRequest {
            namespace: spec.namespace.clone(),
            name: spec.name.clone(),
            fields,
            unique: spec.unique,
            covering: spec.covering,
        };
        let r = self.query.clone().create_index(self.request(req)).await?.into_inner();
        Ok(index_status(r.index.unwrap_or_default()))
    }

    /// Drops an index; [`ClientError::NotFound`](super::ClientError::NotFound) if absent.
    pub async fn drop_index(&self, namespace: &str, name: &str) -> Result<()> {
        let req = proto::DropIndexRequest { namespace: namespace.into(), name: name.into() };
        self.query.clone().drop_index(self.request(req)).await?;
        Ok(())
    }

    /// The indexes of `namespace` (of every namespace when `None`) with their progress.
    pub async fn list_indexes(&self, namespace: Option<&str>) -> Result<Vec<IndexStatus>> {
        let req = proto::ListIndexesRequest { namespace: namespace.unwrap_or_default().into() };
        let r = self.query.clone().list_indexes(self.request(req)).await?.into_inner();
        Ok(r.indexes.into_iter().map(index_status).collect())
    }

    /// One index's definition, state and build progress.
    pub async fn index_status(&self, namespace: &str, name: &str) -> Result<IndexStatus> {
        let req = proto::IndexStatusRequest { namespace: namespace.into(), name: name.into() };
        let r = self.query.clone().index_status(self.request(req)).await?.into_inner();
        Ok(index_status(r.index.unwrap_or_default()))
    }

    /// Stores the JSON object `doc` at `key` (`namespace/id`) with its index entries;
    /// returns a sequence number at which the write is visible.
    pub async fn put_doc(&self, key: impl Into<String>, doc: &Value) -> Result<u64> {
        let req = proto::PutDocRequest { key: key.into(), json: doc.to_string() };
        Ok(seqno(&self.query.clone().put_doc(self.request(req)).await?.into_inner().header))
    }

    /// The document at `key`, or `None`.
    pub async fn get_doc(&self, key: impl Into<String>) -> Result<Option<Value>> {
        let req = proto::GetDocRequest { key: key.into() };
        let r = self.query.clone().get_doc(self.request(req)).await?.into_inner();
        if !r.found {
            return Ok(None);
        }
        serde_json::from_str(&r.json)
            .map(Some)
            .map_err(|e| super::ClientError::Internal(format!("the server sent a document that is not JSON: {e}")))
    }

    /// Removes the document at `key` with its index entries; true if it existed.
    pub async fn delete_doc(&self, key: impl Into<String>) -> Result<bool> {
        let req = proto::DeleteDocRequest { key: key.into() };
        Ok(self.query.clone().delete_doc(self.request(req)).await?.into_inner().found)
    }

    /// Applies `batch` as one transaction; `value` is the number of documents deleted.
    pub async fn write_docs(&self, batch: &DocBatch) -> Result<Served<u64>> {
        let req = proto::WriteDocsRequest { ops: batch.ops.clone() };
        let r = self.query.clone().write_docs(self.request(req)).await?.into_inner();
        Ok(Served { value: r.deleted, seqno: seqno(&r.header) })
    }
}
