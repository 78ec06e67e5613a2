//! Index management for the `kvd.v1.Query` service: requests to engine calls, and index
//! definitions to `IndexInfo` messages. Each function runs on the blocking pool.

use kvd::index::{FieldType, IndexField, IndexSpec, IndexState, IndexStatus};
use tonic::Status;

use super::{engine, validate, Shared};
use crate::convert::header;
use crate::proto;
use crate::status::invalid;

/// The engine's spec of a CreateIndex request; the engine checks the names and paths.
pub(crate) fn spec(req: proto::CreateIndexRequest) -> Result<IndexSpec, Status> {
    validate::required("namespace", &req.namespace)?;
    validate::required("name", &req.name)?;
    if req.fields.is_empty() {
        return Err(invalid("fields: at least one field is required"));
    }
    let mut fields = Vec::with_capacity(req.fields.len());
    for (i, f) in req.fields.into_iter().enumerate() {
        let field_type = match proto::FieldType::try_from(f.r#type) {
            Ok(proto::FieldType::Any) => FieldType::Any,
            Ok(proto::FieldType::Int) => FieldType::Int,
            Ok(proto::FieldType::Float) => FieldType::Float,
            Ok(proto::FieldType::String) => FieldType::String,
            Ok(proto::FieldType::Bool) => FieldType::Bool,
            Err(_) => return Err(invalid(format!("fields[{i}].type: unknown field type {}", f.r#type))),
        };
        fields.push(IndexField { path: f.path, field_type });
    }
    Ok(IndexSpec { namespace: req.namespace, name: req.name, fields, unique: req.unique, covering: req.covering })
}

/// An index and its progress as a message.
pub(crate) fn info(status: IndexStatus) -> proto::IndexInfo {
    let def = status.def;
    let fields = def
        .fields
        .into_iter()
        .map(|f| proto::IndexField { path: f.path, r#type: crate::convert::field_type(f.field_type) as i32 })
        .collect();
    let state = match def.state {
        IndexState::Building => proto::IndexState::Building,
        IndexState::Ready => proto::IndexState::Ready,
    };
    proto::IndexInfo {
        id: def.id,
        namespace: def.namespace,
        name: def.name,
        fields,
        unique: def.unique,
        covering: def.covering,
        state: state as i32,
        docs_scanned: status.docs_scanned,
    }
}

/// Creates and builds the index; returns once it is ready.
pub(crate) fn create_index(s: &Shared, spec: IndexSpec) -> Result<proto::CreateIndexResponse, Status> {
    let def = s.db.create_index(spec).map_err(engine)?;
    let status = s.db.index_status(&def.namespace, &def.name).map_err(engine)?;
    Ok(proto::CreateIndexResponse { header: header(s.db.latest_seqno()), index: Some(info(status)) })
}

/// Drops the index.
pub(crate) fn drop_index(s: &Shared, req: proto::DropIndexRequest) -> Result<proto::DropIndexResponse, Status> {
    s.db.drop_index(&req.namespace, &req.name).map_err(engine)?;
    Ok(proto::DropIndexResponse { header: header(s.db.latest_seqno()) })
}

/// The indexes of one namespace (or all) with their progress. An index dropped between
/// listing and reading its progress is left out.
pub(crate) fn list_indexes(s: &Shared, req: proto::ListIndexesRequest) -> Result<proto::ListIndexesResponse, Status> {
    let seq = s.db.latest_seqno();
    let ns = (!req.namespace.is_empty()).then_some(req.namespace.as_str());
    let mut indexes = Vec::new();
    for def in s.db.list_indexes(ns).map_err(engine)? {
        match s.db.index_status(&def.namespace, &def.name) {
            Ok(status) => indexes.push(info(status)),
            Err(kvd::Error::NotFound(_)) => {}
            Err(e) => return Err(engine(e)),
        }
    }
    Ok(proto::ListIndexesResponse { header: header(seq), indexes })
}

/// One index's definition and progress.
pub(crate) fn index_status(s: &Shared, req: proto::IndexStatusRequest) -> Result<proto::IndexStatusResponse, Status> {
    let seq = s.db.latest_seqno();
    let status = s.db.index_status(&req.namespace, &req.name).map_err(engine)?;
    Ok(proto::IndexStatusResponse { header: header(seq), index: Some(info(status)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_carry_every_field_and_refuse_unknown_types() {
        let req = proto::CreateIndexRequest {
            namespace: "users".into(),
            name: "by_city_age".into(),
            fields: vec![
                proto::IndexField { path: "city".into(), r#type: proto::FieldType::String as i32 },
                proto::IndexField { path: "age".into(), r#type: proto::FieldType::Int as i32 },
            ],
            unique: true,
            covering: false,
        };
        let spec = spec(req.clone()).unwrap();
        let want = IndexSpec::new("users", "by_city_age")
            .field("city", FieldType::String)
            .field("age", FieldType::Int)
            .unique();
        assert_eq!(spec, want);
        let mut bad = req.clone();
        bad.fields[1].r#type = 42;
        assert!(super::spec(bad).unwrap_err().message().starts_with("fields[1].type"));
        let mut none = req;
        none.fields.clear();
        assert!(super::spec(none).is_err());
    }
}
