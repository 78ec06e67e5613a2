//! Moving a document's index entries from its old version to its new one.
//!
//! Both writers of documents use this: transactions (`put_doc`, `delete_doc`) and the typed
//! operations on hashes stored at document keys (`hset`, `hdel`, `hincrby`, `del`, expiry
//! changes). Each gives an [`EntryWriter`]: reads through it are validated at commit, so the
//! entries written always match the document that commits.

use serde_json::Value;

use super::catalog::{Catalog, IndexDef};
use super::entry::{entry_doc_id, entry_for, show_values, Entry};
use super::keys::doc_key;
use crate::{Error, Result};

/// Where a document write's index changes go.
pub(crate) trait EntryWriter {
    /// Reads `key` at the writer's snapshot; the commit fails if it changes meanwhile.
    fn read_for_update(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Queues writing an entry (with whatever expiry the document has).
    fn put_entry(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<()>;
    /// Queues removing an entry.
    fn delete_entry(&mut self, key: Vec<u8>) -> Result<()>;
}

/// Queues the index changes of document `id` of namespace `ns` going from `old` to `new`
/// (`None`: absent) for every index in `cat`. Entries that stay the same are left alone unless
/// `rewrite` (the document's expiry changed, and its entries share it). A new value taken in a
/// unique index by another document is [`Error::UniqueViolation`], before anything is queued.
pub(crate) fn update_entries(
    w: &mut impl EntryWriter,
    cat: &Catalog,
    ns: &str,
    id: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    rewrite: bool,
) -> Result<()> {
    let mut writes = Vec::new();
    for def in &cat.indexes {
        let new_entry = new.map(|d| entry_for(def, id, d, true)).transpose()?;
        let old_entry = old.map(|d| entry_for(def, id, d, false)).transpose()?;
        if !rewrite && old_entry == new_entry {
            continue;
        }
        if let (Some(e), Some(doc)) = (new_entry.as_ref().filter(|e| e.is_unique_slot()), new) {
            if let Some(holder) = w.read_for_update(&e.key)? {
                let holder = entry_doc_id(&e.key, &holder, def.fields.len())?;
                if holder != id.as_bytes() {
                    return Err(Error::UniqueViolation {
                        index: def.qualified_name(),
                        value: show_values(def, doc),
                        existing: String::from_utf8_lossy(&doc_key(ns, &holder)).into_owned(),
                    });
                }
            }
        }
        if let Some(e) = old_entry.filter(|o| new_entry.as_ref().is_none_or(|n| n.key != o.key)) {
            if owns_entry(w, def, &e, id)? {
                writes.push((e.key, None));
            }
        }
        if let Some(e) = new_entry {
            writes.push((e.key, Some(e.value)));
        }
    }
    for (key, value) in writes {
        match value {
            Some(v) => w.put_entry(key, v)?,
            None => w.delete_entry(key)?,
        }
    }
    Ok(())
}

/// True unless `e` is a unique slot held by another document. While a unique index is still
/// being built, a slot may hold a later writer's document whose value the old version of
/// this one shared; removing the old version must not remove that entry.
fn owns_entry(w: &mut impl EntryWriter, def: &IndexDef, e: &Entry, id: &str) -> Result<bool> {
    if !e.is_unique_slot() {
        return Ok(true);
    }
    match w.read_for_update(&e.key)? {
        Some(holder) => Ok(entry_doc_id(&e.key, &holder, def.fields.len())? == id.as_bytes()),
        None => Ok(false),
    }
}
