//! Documents and secondary indexes, as methods on [`Db`](crate::Db) and
//! [`Transaction`](crate::Transaction).
//!
//! A document is a JSON object stored (as compact JSON text) at `namespace/id`; the namespace
//! is what a query names as its table. An index of a namespace maps the order-preserving
//! encoding of one or more fields ([`encoding`]) plus the document id to nothing, so an
//! equality prefix and a range on the next field are one range scan. Layout byte by byte in
//! `docs/format/index.md`; the design brief places this under `model/`, which holds typed
//! values, so it lives beside it in `index/` (and queries in `query/`).
//!
//! Rules:
//! - **Atomic maintenance.** [`Db::put_doc`](crate::Db::put_doc) and
//!   [`Db::delete_doc`](crate::Db::delete_doc) (and their [`Transaction`](crate::Transaction)
//!   forms) write the document, remove its old entries and add its new ones in one batch;
//!   documents written with the plain key-value API are not indexed.
//! - **Every document is in every index** of its namespace: a missing or null field is
//!   indexed as null, so `IS NULL` and full index scans need no fallback.
//! - **Unique indexes** refuse a write that would give two documents equal values (unless
//!   one of them is null), with [`Error::UniqueViolation`](crate::Error::UniqueViolation),
//!   writing nothing.
//! - **Online builds.** [`Db::create_index`] records the index as building (writes maintain
//!   it from then on), backfills the existing documents in chunks at snapshots while writes
//!   continue ([`backfill`]), then marks it ready; only ready indexes serve queries.
//! - **Checkable.** [`Db::verify_indexes`] compares every index with its documents.

mod backfill;
mod catalog;
mod doc;
pub mod encoding;
mod entry;
pub mod keys;
mod maintain;
mod stored;
pub mod value;
mod verify;

pub use catalog::{Catalog, FieldType, IndexDef, IndexField, IndexSpec, IndexState, CATALOG_FORMAT_VERSION};
pub use entry::{entry_doc_id, entry_for, Entry};
pub use verify::IndexReport;

pub(crate) use doc::parse_doc;
pub(crate) use maintain::{update_entries, EntryWriter};
pub(crate) use stored::DocScan;

use backfill::Progress;
use keys::{catalog_key, catalog_prefix, entry_prefix, next_id_key, progress_key};

use crate::{prefix_successor, Db, Error, ReadOptions, Result, WriteBatch};

/// An index and how far its build has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexStatus {
    /// The definition (its state says building or ready).
    pub def: IndexDef,
    /// Documents the backfill has scanned so far (all of them once ready).
    pub docs_scanned: u64,
}

impl Db {
    /// Creates an index and builds it online: it is recorded as building (from then on every
    /// document write maintains it), the existing documents are backfilled in chunks while
    /// writes continue, and it is marked ready, which is when this returns. If a document
    /// breaks the declared types or the uniqueness, the index is dropped again and the error
    /// returned. Progress is visible meanwhile through [`Db::index_status`].
    pub fn create_index(&self, spec: IndexSpec) -> Result<IndexDef> {
        spec.validate()?;
        let ns = spec.namespace.clone();
        let def = self.run_transaction(|txn| {
            let mut cat = catalog::read_for_update(txn, &ns)?;
            if cat.get(&spec.name).is_some() {
                return Err(Error::AlreadyExists(format!("index {}.{} already exists", ns, spec.name)));
            }
            let id = match txn.get_for_update(&next_id_key())? {
                Some(b) => u64::from_le_bytes(
                    b.as_slice().try_into().map_err(|_| Error::corruption("next index id", 0, "not 8 bytes"))?,
                ),
                None => 1,
            };
            txn.put(&next_id_key(), &(id + 1).to_le_bytes())?;
            let def = IndexDef {
                id,
                namespace: ns.clone(),
                name: spec.name.clone(),
                fields: spec.fields.clone(),
                unique: spec.unique,
                covering: spec.covering,
                state: IndexState::Building,
            };
            cat.v = CATALOG_FORMAT_VERSION;
            cat.indexes.push(def.clone());
            catalog::write(txn, &ns, &cat)?;
            Ok(def)
        })?;
        match backfill::build(self, &ns, def.id) {
            Ok(Some(ready)) => Ok(ready),
            Ok(None) => Err(Error::Conflict(format!("index {} is already being built", def.qualified_name()))),
            Err(e) => {
                if let Err(drop_err) = self.drop_index_id(&ns, def.id) {
                    tracing::warn!(error = %drop_err, index = def.id, "could not drop a failed index build");
                }
                Err(e)
            }
        }
    }

    /// Finishes every index left `building` (by a crash during `create_index`), resuming each
    /// backfill where its last committed chunk stopped. Returns the indexes it made ready.
    /// Indexes another thread is building are skipped.
    pub fn resume_index_builds(&self) -> Result<Vec<IndexDef>> {
        let mut done = Vec::new();
        for def in self.list_indexes(None)? {
            if def.state == IndexState::Building {
                if let Some(ready) = backfill::build(self, &def.namespace, def.id)? {
                    done.push(ready);
                }
            }
        }
        Ok(done)
    }

    /// Drops an index: removes it from the catalog (atomically: writes stop maintaining it
    /// and queries stop using it), then deletes its entries. [`Error::NotFound`] if absent.
    pub fn drop_index(&self, namespace: &str, name: &str) -> Result<()> {
        let id = self
            .list_indexes(Some(namespace))?
            .into_iter()
            .find(|d| d.name == name)
            .map(|d| d.id)
            .ok_or_else(|| Error::NotFound(format!("index {namespace}.{name}")))?;
        self.drop_index_id(namespace, id)
    }

    fn drop_index_id(&self, ns: &str, id: u64) -> Result<()> {
        self.run_transaction(|txn| {
            let mut cat = catalog::read_for_update(txn, ns)?;
            cat.indexes.retain(|d| d.id != id);
            catalog::write(txn, ns, &cat)?;
            txn.delete(&progress_key(id))
        })?;
        self.purge_index_entries(id)
    }

    /// Deletes every entry of index `id` in batches (used after the catalog dropped it).
    pub(crate) fn purge_index_entries(&self, id: u64) -> Result<()> {
        let prefix = entry_prefix(id);
        let end = prefix_successor(&prefix);
        loop {
            let mut batch = WriteBatch::new();
            for item in self.scan(Some(&prefix), end.as_deref()).take(1024) {
                batch.delete(item?.0);
            }
            if batch.is_empty() {
                return Ok(());
            }
            self.write(batch)?;
        }
    }

    /// Every index of `namespace` (of every namespace when `None`), building or ready, in
    /// namespace then creation order.
    pub fn list_indexes(&self, namespace: Option<&str>) -> Result<Vec<IndexDef>> {
        let snap = self.snapshot();
        list_at(self, namespace, &ReadOptions { snapshot: Some(&snap), ..Default::default() })
    }

    /// The definition and build progress of one index.
    pub fn index_status(&self, namespace: &str, name: &str) -> Result<IndexStatus> {
        let snap = self.snapshot();
        let ro = ReadOptions { snapshot: Some(&snap), ..Default::default() };
        let def = list_at(self, Some(namespace), &ro)?
            .into_iter()
            .find(|d| d.name == name)
            .ok_or_else(|| Error::NotFound(format!("index {namespace}.{name}")))?;
        let progress = Progress::decode(self.get_opt(&progress_key(def.id), &ro)?.as_deref())?;
        Ok(IndexStatus { def, docs_scanned: progress.scanned })
    }
}

/// The indexes of `namespace` (or all) as of `ro`.
pub(crate) fn list_at(db: &Db, namespace: Option<&str>, ro: &ReadOptions<'_>) -> Result<Vec<IndexDef>> {
    match namespace {
        Some(ns) => Ok(Catalog::decode(ns, db.get_opt(&catalog_key(ns), ro)?.as_deref())?.indexes),
        None => {
            let prefix = catalog_prefix();
            let end = prefix_successor(&prefix);
            let mut out = Vec::new();
            for item in db.scan_opt(Some(&prefix), end.as_deref(), false, ro.snapshot) {
                let (k, v) = item?;
                let ns = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                out.extend(Catalog::decode(&ns, Some(&v))?.indexes);
            }
            Ok(out)
        }
    }
}
