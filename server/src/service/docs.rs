//! Document reads and writes for the `kvd.v1.Query` service, through the engine's document
//! API so that every write maintains the namespace's indexes in the same atomic batch.
//! Requests are size-checked on the executor; JSON is parsed here, on the blocking pool.

use kvd::Error;
use serde_json::Value;
use tonic::Status;

use super::{engine, Shared};
use crate::convert::header;
use crate::proto::{self, doc_op};
use crate::status::{invalid, status, ErrorKind};

/// Size checks of a WriteDocs request, before any engine work.
pub(crate) fn check_ops(s: &Shared, ops: &[proto::DocOp]) -> Result<(), Status> {
    if ops.is_empty() {
        return Err(invalid("ops: at least one operation is required"));
    }
    s.limits.batch_len("ops", ops.len())?;
    for (i, op) in ops.iter().enumerate() {
        match &op.op {
            Some(doc_op::Op::Put(p)) => s.limits.doc(&|| format!("ops[{i}].put."), &p.key, &p.json)?,
            Some(doc_op::Op::Delete(k)) => s.limits.key(&|| format!("ops[{i}].delete"), k.as_bytes())?,
            None => return Err(invalid(format!("ops[{i}]: exactly one of put or delete must be set"))),
        }
    }
    Ok(())
}

/// Parses a document's JSON text (the engine checks it is an object).
fn parse(field: &dyn Fn() -> String, json: &str) -> Result<Value, Status> {
    serde_json::from_str(json).map_err(|e| invalid(format!("{}: not JSON text: {e}", field())))
}

/// Stores one document with its index entries.
pub(crate) fn put(s: &Shared, req: proto::PutDocRequest) -> Result<proto::PutDocResponse, Status> {
    let doc = parse(&|| "json".into(), &req.json)?;
    s.db.put_doc(&req.key, &doc).map_err(engine)?;
    Ok(proto::PutDocResponse { header: header(s.db.latest_seqno()) })
}

/// Reads one document.
pub(crate) fn get(s: &Shared, req: proto::GetDocRequest) -> Result<proto::GetDocResponse, Status> {
    let doc = s.db.get_doc(&req.key).map_err(engine)?;
    let seq = s.db.latest_seqno();
    Ok(match doc {
        Some(doc) => {
            let json = doc.to_string();
            s.limits.fits_response(&|| format!("document {:?}", req.key), json.len())?;
            proto::GetDocResponse { header: header(seq), found: true, json }
        }
        None => proto::GetDocResponse { header: header(seq), found: false, json: String::new() },
    })
}

/// Removes one document with its index entries.
pub(crate) fn delete(s: &Shared, req: proto::DeleteDocRequest) -> Result<proto::DeleteDocResponse, Status> {
    let found = s.db.delete_doc(&req.key).map_err(engine)?;
    Ok(proto::DeleteDocResponse { header: header(s.db.latest_seqno()), found })
}

/// One parsed operation of a WriteDocs.
enum Op {
    Put(String, Value),
    Delete(String),
}

/// Applies the operations as one transaction (retried on conflict). An error an operation
/// caused names it (`ops[3]: ...`).
pub(crate) fn write(s: &Shared, ops: Vec<proto::DocOp>) -> Result<proto::WriteDocsResponse, Status> {
    let mut parsed = Vec::with_capacity(ops.len());
    for (i, op) in ops.into_iter().enumerate() {
        parsed.push(match op.op {
            Some(doc_op::Op::Put(p)) => Op::Put(p.key, parse(&|| format!("ops[{i}].put.json"), &p.json)?),
            Some(doc_op::Op::Delete(k)) => Op::Delete(k),
            None => return Err(invalid(format!("ops[{i}]: exactly one of put or delete must be set"))),
        });
    }
    let mut at = 0;
    let result = s.db.run_transaction(|txn| {
        let mut deleted = 0u64;
        for (i, op) in parsed.iter().enumerate() {
            at = i;
            match op {
                Op::Put(key, doc) => txn.put_doc(key, doc)?,
                Op::Delete(key) => deleted += u64::from(txn.delete_doc(key)?),
            }
        }
        Ok(deleted)
    });
    match result {
        Ok(deleted) => Ok(proto::WriteDocsResponse { header: header(s.db.latest_seqno()), deleted }),
        // Errors about one document name it; conflicts and I/O errors are the batch's.
        Err(e @ (Error::InvalidArgument(_) | Error::UniqueViolation { .. } | Error::NotFound(_))) => {
            Err(status(ErrorKind::of(&e), format!("ops[{at}]: {e}")))
        }
        Err(e) => Err(engine(e)),
    }
}
