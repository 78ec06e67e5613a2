//! Documents: JSON objects (or hashes) under `namespace/id`, written together with their
//! index entries.
//!
//! A document write is a transaction: it reads the namespace's catalog (validated at commit),
//! the old document, and for each unique slot it would take, that slot; then it commits the
//! document, the removal of the old entries and the new entries as one batch. A concurrent
//! change of any of these makes the commit fail with a conflict and the write re-run, so
//! index and documents move together, and a unique violation is found before anything is
//! written.

use serde_json::Value;

use super::catalog::{self, Catalog};
use super::keys::split_doc_key;
use super::maintain::{update_entries, EntryWriter};
use crate::model::hash_doc::{read_hash_doc, txn_hash};
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

    /// The document at `key`, or `None`: a JSON object, or a hash read as one (its fields as
    /// members; values that spell JSON numbers are numbers, the rest strings).
    pub fn get_doc(&self, key: &str) -> Result<Option<Value>> {
        split_doc_key(key)?;
        // Both forms at one snapshot: a concurrent replacement of one by the other is seen
        // either before or after, never as neither.
        let snap = self.snapshot();
        let ro = crate::ReadOptions { snapshot: Some(&snap), ..Default::default() };
        if let Some(b) = self.get_opt(key.as_bytes(), &ro)? {
            return parse_doc(key.as_bytes(), &b).map(Some);
        }
        Ok(read_hash_doc(self, key.as_bytes(), snap.seq())?.map(|h| h.to_value()))
    }
}

impl Transaction<'_> {
    /// Buffers storing the JSON object `doc` at `key` with its index entries (see
    /// [`Db::put_doc`]); commit applies both or neither. Unique slots it takes are validated
    /// at commit, so a concurrent writer of the same value makes one of the two conflict. A
    /// hash stored at `key` is replaced (its entries removed); a list or set there is
    /// [`Error::WrongType`].
    pub fn put_doc(&mut self, key: &str, doc: &Value) -> Result<()> {
        let k = split_doc_key(key)?;
        if !doc.is_object() {
            return Err(Error::InvalidArgument(format!("document {key:?} must be a JSON object, not {doc}")));
        }
        let cat = catalog::read_for_update(self, k.namespace)?;
        let old = old_doc(self, key, &cat)?;
        // Entries of a hash or of a document with a TTL carry its expiry; the new document
        // has none, so even unchanged entries are written again.
        let rewrite = old.hash_meta.is_some() || old.had_expiry;
        update_entries(self, &cat, k.namespace, k.id, old.doc.as_ref(), Some(doc), rewrite)?;
        if let Some(mk) = old.hash_meta {
            self.delete(&mk)?;
        }
        let bytes = serde_json::to_vec(doc).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        self.put(key.as_bytes(), &bytes)
    }

    /// Buffers removing the document at `key` (a JSON object or a hash) and its index
    /// entries; returns whether it existed (as this transaction sees it).
    pub fn delete_doc(&mut self, key: &str) -> Result<bool> {
        let k = split_doc_key(key)?;
        let cat = catalog::read_for_update(self, k.namespace)?;
        let old = old_doc(self, key, &cat)?;
        let Some(doc) = old.doc else { return Ok(false) };
        update_entries(self, &cat, k.namespace, k.id, Some(&doc), None, false)?;
        match old.hash_meta {
            Some(mk) => self.delete(&mk)?,
            None => self.delete(key.as_bytes())?,
        }
        Ok(true)
    }

    /// The document at `key` as this transaction sees it: a JSON object, or a hash's fields
    /// as one (see [`Db::get_doc`]).
    pub fn get_doc(&self, key: &str) -> Result<Option<Value>> {
        split_doc_key(key)?;
        if let Some(b) = self.get(key.as_bytes())? {
            return parse_doc(key.as_bytes(), &b).map(Some);
        }
        Ok(txn_hash(self, key.as_bytes(), None)?.map(|h| h.doc))
    }
}

impl EntryWriter for Transaction<'_> {
    fn read_for_update(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_for_update(key)
    }

    fn put_entry(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<()> {
        self.put(&key, &value)
    }

    fn delete_entry(&mut self, key: Vec<u8>) -> Result<()> {
        self.delete(&key)
    }
}

/// What a document key holds before a write, as far as its index entries need to know.
struct OldDoc {
    /// The document (of a hash: only the fields the indexes name), `None` if absent.
    doc: Option<Value>,
    /// The metadata key when the document is a hash, which a write replacing it deletes.
    hash_meta: Option<Vec<u8>>,
    /// The JSON document has a TTL (given through the plain API), which its entries share.
    had_expiry: bool,
}

fn old_doc(txn: &Transaction<'_>, key: &str, cat: &Catalog) -> Result<OldDoc> {
    if let Some((b, expiry)) = txn.get_with_expiry(key.as_bytes())? {
        let doc = Some(parse_doc(key.as_bytes(), &b)?);
        return Ok(OldDoc { doc, hash_meta: None, had_expiry: expiry.is_some() });
    }
    let fields = cat.hash_fields();
    Ok(match txn_hash(txn, key.as_bytes(), Some(&fields))? {
        Some(h) => OldDoc { doc: Some(h.doc), hash_meta: Some(h.meta_key), had_expiry: false },
        None => OldDoc { doc: None, hash_meta: None, had_expiry: false },
    })
}
