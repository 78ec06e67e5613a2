//! Documents: JSON objects under `namespace/id`, written together with their index entries.
//!
//! A document write is a transaction: it reads the namespace's catalog (validated at commit),
//! the old document, and for each unique slot it would take, that slot; then it commits the
//! document, the removal of the old entries and the new entries as one batch. A concurrent
//! change of any of these makes the commit fail with a conflict and the write re-run, so
//! index and documents move together, and a unique violation is found before anything is
//! written.

use serde_json::Value;

use super::catalog::{self, Catalog, IndexDef};
use super::entry::{entry_doc_id, entry_for, show_values, Entry};
use super::keys::{doc_key, split_doc_key};
use crate::{Db, Error, Result, Transaction};

pub(crate) fn parse_doc(key: &[u8], bytes: &[u8]) -> Result<Value> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => {
            Err(Error::InvalidArgument(format!("value at {:?} is not a JSON object", String::from_utf8_lossy(key))))
        }
        Err(e) => Err(Error::InvalidArgument(format!(
            "value at {:?} is not a JSON document: {e}",
            String::from_utf8_lossy(key)
        ))),
    }
}

impl Db {
    /// Stores the JSON object `doc` at `key` (`namespace/id`) and updates every index of the
    /// namespace in the same atomic batch; retries on conflict. Fails with
    /// [`Error::UniqueViolation`] or a type mismatch ([`Error::InvalidArgument`]) having
    /// written nothing.
    ///
    /// ```
    /// use kvd::index::{FieldType, IndexSpec};
    /// use serde_json::json;
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = kvd::Db::open(dir.path(), kvd::Options::default()).unwrap();
    /// db.create_index(IndexSpec::new("users", "by_email").field("email", FieldType::String).unique()).unwrap();
    /// db.put_doc("users/1", &json!({"email": "ada@example.com", "age": 36})).unwrap();
    /// let dup = db.put_doc("users/2", &json!({"email": "ada@example.com"}));
    /// assert!(matches!(dup, Err(kvd::Error::UniqueViolation { .. })));
    /// assert_eq!(db.get_doc("users/2").unwrap(), None);
    /// ```
    pub fn put_doc(&self, key: &str, doc: &Value) -> Result<()> {
        self.run_transaction(|txn| txn.put_doc(key, doc))
    }

    /// Removes the document at `key` and its index entries atomically; returns whether it
    /// existed.
    pub fn delete_doc(&self, key: &str) -> Result<bool> {
        self.run_transaction(|txn| txn.delete_doc(key))
    }

    /// The document at `key`, or `None`.
    pub fn get_doc(&self, key: &str) -> Result<Option<Value>> {
        split_doc_key(key)?;
        self.get(key.as_bytes())?.map(|b| parse_doc(key.as_bytes(), &b)).transpose()
    }
}

impl Transaction<'_> {
    /// Buffers storing the JSON object `doc` at `key` with its index entries (see
    /// [`Db::put_doc`]); commit applies both or neither. Unique slots it takes are validated
    /// at commit, so a concurrent writer of the same value makes one of the two conflict.
    pub fn put_doc(&mut self, key: &str, doc: &Value) -> Result<()> {
        let k = split_doc_key(key)?;
        if !doc.is_object() {
            return Err(Error::InvalidArgument(format!("document {key:?} must be a JSON object, not {doc}")));
        }
        let cat = catalog::read_for_update(self, k.namespace)?;
        let old = self.get(key.as_bytes())?.map(|b| parse_doc(key.as_bytes(), &b)).transpose()?;
        let mut writes = Vec::new();
        for def in &cat.indexes {
            let new = entry_for(def, k.id, doc, true)?;
            let old = old.as_ref().map(|o| entry_for(def, k.id, o, false)).transpose()?;
            if old.as_ref() == Some(&new) {
                continue;
            }
            if new.is_unique_slot() {
                if let Some(holder) = self.get_for_update(&new.key)? {
                    let holder = entry_doc_id(&new.key, &holder, def.fields.len())?;
                    if holder != k.id.as_bytes() {
                        return Err(Error::UniqueViolation {
                            index: def.qualified_name(),
                            value: show_values(def, doc),
                            existing: String::from_utf8_lossy(&doc_key(k.namespace, &holder)).into_owned(),
                        });
                    }
                }
            }
            if let Some(old) = old.filter(|o| o.key != new.key) {
                if owns_entry(self, def, &old, k.id)? {
                    writes.push((old.key, None));
                }
            }
            writes.push((new.key, Some(new.value)));
        }
        for (key, value) in writes {
            match value {
                Some(v) => self.put(&key, &v)?,
                None => self.delete(&key)?,
            }
        }
        let bytes = serde_json::to_vec(doc).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        self.put(key.as_bytes(), &bytes)
    }

    /// Buffers removing the document at `key` and its index entries; returns whether it
    /// existed (as this transaction sees it).
    pub fn delete_doc(&mut self, key: &str) -> Result<bool> {
        let k = split_doc_key(key)?;
        let cat = catalog::read_for_update(self, k.namespace)?;
        let Some(old) = self.get(key.as_bytes())? else {
            return Ok(false);
        };
        let old = parse_doc(key.as_bytes(), &old)?;
        remove_entries(self, &cat, k.id, &old)?;
        self.delete(key.as_bytes())?;
        Ok(true)
    }

    /// The document at `key` as this transaction sees it.
    pub fn get_doc(&self, key: &str) -> Result<Option<Value>> {
        split_doc_key(key)?;
        self.get(key.as_bytes())?.map(|b| parse_doc(key.as_bytes(), &b)).transpose()
    }
}

fn remove_entries(txn: &mut Transaction<'_>, cat: &Catalog, id: &str, old: &Value) -> Result<()> {
    for def in &cat.indexes {
        let e = entry_for(def, id, old, false)?;
        if owns_entry(txn, def, &e, id)? {
            txn.delete(&e.key)?;
        }
    }
    Ok(())
}

/// True unless `e` is a unique slot held by another document. While a unique index is still
/// being built, a slot may hold a later writer's document whose value the old version of
/// this one shared; removing the old version must not remove that entry.
fn owns_entry(txn: &Transaction<'_>, def: &IndexDef, e: &Entry, id: &str) -> Result<bool> {
    if !e.is_unique_slot() {
        return Ok(true);
    }
    match txn.get_for_update(&e.key)? {
        Some(holder) => Ok(entry_doc_id(&e.key, &holder, def.fields.len())? == id.as_bytes()),
        None => Ok(false),
    }
}
