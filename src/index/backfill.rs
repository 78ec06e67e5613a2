//! Online index builds: fill in a `building` index from the existing documents while writes
//! go on, then mark it `ready`.
//!
//! Writers maintain a building index from the moment its catalog record commits (they read
//! the catalog and validate it at commit). The builder covers the documents written before:
//! it reads a chunk of the namespace (JSON documents and hashes, in key order) at a fresh
//! snapshot, and commits the chunk's entries together with its progress record only if
//! nothing in the chunk's key range, the hashes' metadata range, the fields of the hashes
//! it read (and no unique slot it fills) changed since that snapshot. A chunk that lost such a race is re-read at a
//! new snapshot, smaller (down to one document), so a hot range cannot starve the build.
//! Each committed chunk is thus exactly the entries of the documents as they are at commit,
//! and later changes are the writers' to maintain. The progress record (last document id
//! covered, documents scanned) commits with the chunk, so a build interrupted by a crash
//! resumes where it stopped ([`Db::resume_index_builds`](crate::Db::resume_index_builds)).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::catalog::{self, Catalog, IndexDef, IndexState};
use super::entry::{entry_doc_id, entry_for, show_values};
use super::keys::{catalog_key, doc_key, from_hex, namespace_range, progress_key, to_hex};
use super::stored::{DocScan, Stored};
use crate::model::hash_doc::meta_range;
use crate::txn::Backoff;
use crate::{BatchOp, Db, Error, Precondition, ReadOptions, Result, WriteBatch, WriteOptions};

const FIRST_CHUNK: usize = 256;
const MAX_CHUNK: usize = 4096;

/// A build's persisted progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Progress {
    /// The last document id covered, hex; none before the first chunk.
    pub cursor: Option<String>,
    /// Documents scanned so far.
    pub scanned: u64,
}

impl Progress {
    pub(crate) fn decode(bytes: Option<&[u8]>) -> Result<Progress> {
        bytes.map_or(Ok(Progress::default()), |b| {
            serde_json::from_slice(b).map_err(|e| Error::corruption("index build progress", 0, e.to_string()))
        })
    }
}

/// Builds running in this process, so a resume does not start a second builder.
static RUNNING: Mutex<Vec<(PathBuf, u64)>> = Mutex::new(Vec::new());

struct RunningGuard(PathBuf, u64);

impl RunningGuard {
    fn claim(db: &Db, id: u64) -> Option<RunningGuard> {
        let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
        let me = (db.path().to_path_buf(), id);
        if running.contains(&me) {
            return None;
        }
        running.push(me.clone());
        Some(RunningGuard(me.0, me.1))
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
        running.retain(|(p, i)| !(p == &self.0 && *i == self.1));
    }
}

/// Fills index `id` of `ns` and marks it ready; returns its final definition. Fails if it is
/// dropped meanwhile, or if a document breaks its type or uniqueness (then nothing of the
/// build is undone here: the caller drops the index). `None` if another thread builds it.
pub(crate) fn build(db: &Db, ns: &str, id: u64) -> Result<Option<IndexDef>> {
    let Some(_guard) = RunningGuard::claim(db, id) else { return Ok(None) };
    let mut chunk = FIRST_CHUNK;
    let mut backoff = Backoff::new();
    loop {
        match step(db, ns, id, chunk)? {
            Step::Done(def) => return Ok(Some(def)),
            Step::Advanced => chunk = (chunk * 2).min(MAX_CHUNK),
            Step::Conflicted => {
                chunk = (chunk / 2).max(1);
                backoff.wait();
            }
        }
    }
}

enum Step {
    Done(IndexDef),
    Advanced,
    Conflicted,
}

fn step(db: &Db, ns: &str, id: u64, chunk: usize) -> Result<Step> {
    let snap = db.snapshot();
    let ro = ReadOptions { snapshot: Some(&snap), ..Default::default() };
    let cat = Catalog::decode(ns, db.get_opt(&catalog_key(ns), &ro)?.as_deref())?;
    let Some(def) = cat.indexes.iter().find(|d| d.id == id).cloned() else {
        return Err(Error::NotFound(format!("index {id} of namespace {ns:?} was dropped while it was being built")));
    };
    if def.state == IndexState::Ready {
        return Ok(Step::Done(def));
    }
    let mut progress = Progress::decode(db.get_opt(&progress_key(id), &ro)?.as_deref())?;
    let (ns_lo, ns_hi) = namespace_range(ns);
    let lower = match &progress.cursor {
        Some(c) => {
            let mut k = doc_key(ns, &from_hex(c)?);
            k.push(0);
            k
        }
        None => ns_lo,
    };
    let mut batch = WriteBatch::new();
    let mut keys = vec![catalog_key(ns), progress_key(id)];
    let mut slots: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut last = None;
    let mut ranges = Vec::new();
    for item in DocScan::new(db, &lower, &ns_hi, false, snap.seq()).take(chunk) {
        let stored = item?;
        let doc = stored.value()?;
        let key = stored.key.as_slice();
        let doc_id = &key[ns.len() + 1..];
        let id_str = std::str::from_utf8(doc_id)
            .map_err(|_| Error::InvalidArgument(format!("document key {key:?} is not UTF-8")))?;
        let e = entry_for(&def, id_str, &doc, true)?;
        if e.is_unique_slot() {
            let holder = match slots.get(&e.key) {
                Some(h) => Some(h.clone()),
                None => db.get_opt(&e.key, &ro)?.map(|v| entry_doc_id(&e.key, &v, def.fields.len())).transpose()?,
            };
            if let Some(h) = holder.filter(|h| h != doc_id) {
                return Err(Error::UniqueViolation {
                    index: def.qualified_name(),
                    value: show_values(&def, &doc),
                    existing: String::from_utf8_lossy(&doc_key(ns, &h)).into_owned(),
                });
            }
            slots.insert(e.key.clone(), doc_id.to_vec());
            keys.push(e.key.clone());
        }
        match stored.expires_at_millis() {
            Some(at) => batch.push(BatchOp::PutWithExpiry { key: e.key, value: e.value, expires_at_millis: at }),
            None => batch.put(e.key, e.value),
        };
        if let Stored::Hash(h) = &stored.stored {
            // A change to any field of the hash must fail this chunk.
            ranges.push(h.element_range());
        }
        progress.scanned += 1;
        last = Some(stored.key);
    }
    let Some(last) = last else {
        return mark_ready(db, ns, id).map(Step::Done);
    };
    progress.cursor = Some(to_hex(&last[ns.len() + 1..]));
    batch.put(progress_key(id), serde_json::to_vec(&progress).expect("progress serialises"));
    let mut upper = last;
    upper.push(0);
    // Documents are JSON values in the chunk's key range and hashes: their metadata in the
    // matching metadata range (a hash created or deleted there), their fields above.
    let (meta_lo, meta_hi) = meta_range(&lower, &upper);
    ranges.push((meta_lo, Some(meta_hi)));
    ranges.push((lower, Some(upper)));
    let pre = Precondition { read_seq: snap.seq(), keys, ranges };
    match db.write_if(batch, pre, WriteOptions::default()) {
        Ok(_) => Ok(Step::Advanced),
        Err(Error::Conflict(_)) => Ok(Step::Conflicted),
        Err(e) => Err(e),
    }
}

fn mark_ready(db: &Db, ns: &str, id: u64) -> Result<IndexDef> {
    db.run_transaction(|txn| {
        let mut cat = catalog::read_for_update(txn, ns)?;
        let Some(def) = cat.indexes.iter_mut().find(|d| d.id == id) else {
            return Err(Error::NotFound(format!(
                "index {id} of namespace {ns:?} was dropped while it was being built"
            )));
        };
        def.state = IndexState::Ready;
        let def = def.clone();
        catalog::write(txn, ns, &cat)?;
        Ok(def)
    })
}
