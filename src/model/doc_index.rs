//! Keeping the indexes of a namespace in step with typed writes to its document keys.
//!
//! A hash stored at `namespace/id` is a document of that namespace ([`super::hash_doc`]), so
//! `hset`, `hdel`, `hincrby`, `del` and expiry changes update its index entries in the same
//! atomic batch, like [`Db::put_doc`](crate::Db::put_doc) does for JSON documents. The
//! operation watches the catalog record (a racing `create_index` makes it re-run and see the
//! new index), the old values of the indexed fields (so the entries removed are the ones
//! that exist) and any unique slot it takes. Entries of a hash with a TTL carry the same
//! absolute expiry as its metadata, so they vanish together; readers that find an entry
//! whose document just expired re-read the entry and skip it.

use std::time::Duration;

use serde_json::{Map, Value};

use super::hash_doc::{field_value, hash_json};
use super::keys::{element_key, element_prefix};
use super::meta::Meta;
use super::op::Op;
use crate::index::keys::{catalog_key, split_doc_key};
use crate::index::{update_entries, Catalog, EntryWriter};
use crate::{prefix_successor, BatchOp, Error, Result};

/// The expiry index entries are written with: the document's.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EntryExpiry {
    /// None.
    Never,
    /// At this absolute time (ms since the epoch), kept from the metadata.
    At(u64),
    /// This long after the commit (the write path turns it into the same absolute time for
    /// every write of the batch, the metadata's included).
    After(Duration),
}

impl EntryExpiry {
    /// The expiry stored on `meta`.
    pub(crate) fn of(meta: &Meta) -> EntryExpiry {
        meta.expires_at_millis.map_or(EntryExpiry::Never, EntryExpiry::At)
    }

    /// The write of `value` at `key` with this expiry.
    pub(crate) fn put(self, key: Vec<u8>, value: Vec<u8>) -> BatchOp {
        match self {
            EntryExpiry::Never => BatchOp::Put { key, value },
            EntryExpiry::At(at) => BatchOp::PutWithExpiry { key, value, expires_at_millis: at },
            EntryExpiry::After(ttl) => BatchOp::PutWithTtl { key, value, ttl },
        }
    }
}

/// What the key held before the operation.
pub(crate) enum Before<'a> {
    /// Nothing.
    Nothing,
    /// A plain value (a JSON document if it parses as an object).
    Plain(&'a [u8]),
    /// A hash.
    Hash(&'a Meta),
}

/// What a typed operation does to the document at its key.
pub(crate) struct DocChange<'a> {
    pub before: Before<'a>,
    /// Fields set, `(name, value)`.
    pub set: &'a [(&'a [u8], &'a [u8])],
    /// Fields removed.
    pub removed: &'a [&'a [u8]],
    /// False when the key holds nothing afterwards.
    pub exists_after: bool,
    /// The expiry afterwards.
    pub expiry: EntryExpiry,
    /// The expiry changed, so unchanged entries are written again with it.
    pub expiry_changed: bool,
}

impl DocChange<'_> {
    /// A change of fields of a hash that keeps its expiry.
    pub(crate) fn fields<'a>(
        before: Option<&'a Meta>,
        set: &'a [(&'a [u8], &'a [u8])],
        removed: &'a [&'a [u8]],
        exists_after: bool,
    ) -> DocChange<'a> {
        DocChange {
            before: before.map_or(Before::Nothing, Before::Hash),
            set,
            removed,
            exists_after,
            expiry: before.map_or(EntryExpiry::Never, EntryExpiry::of),
            expiry_changed: false,
        }
    }
}

struct OpEntries<'o, 'db> {
    op: &'o mut Op<'db>,
    expiry: EntryExpiry,
}

impl EntryWriter for OpEntries<'_, '_> {
    fn read_for_update(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.op.get(key)
    }

    fn put_entry(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<()> {
        self.op.push(self.expiry.put(key, value));
        Ok(())
    }

    fn delete_entry(&mut self, key: Vec<u8>) -> Result<()> {
        self.op.delete(key);
        Ok(())
    }
}

/// Queues the index changes `change` makes to the document at `key`, if `key` is a document
/// key of a namespace with indexes; otherwise reads and writes nothing more.
pub(crate) fn reindex(op: &mut Op<'_>, key: &[u8], change: DocChange<'_>) -> Result<()> {
    let Some(dk) = std::str::from_utf8(key).ok().and_then(|k| split_doc_key(k).ok()) else { return Ok(()) };
    let cat = Catalog::decode(dk.namespace, op.get(&catalog_key(dk.namespace))?.as_deref())?;
    if cat.indexes.is_empty() {
        return Ok(());
    }
    // A covering entry holds the whole new document; other entries need the indexed fields.
    let whole = change.exists_after && cat.indexes.iter().any(|d| d.covering);
    let old = match change.before {
        Before::Nothing => None,
        Before::Plain(bytes) => match serde_json::from_slice::<Value>(bytes) {
            Ok(v) if v.is_object() => Some(v),
            _ => None,
        },
        Before::Hash(meta) if whole => Some(read_whole(op, key, meta)?),
        Before::Hash(meta) => Some(read_fields(op, key, meta, &cat.hash_fields())?),
    };
    if matches!(change.before, Before::Plain(_)) && old.is_some() && change.exists_after {
        return Err(Error::InvalidArgument(format!(
            "document {:?} is in a namespace with indexes and cannot be given a TTL (its index entries \
             would outlive it); store it as a hash to let it expire",
            format!("{}/{}", dk.namespace, dk.id)
        )));
    }
    let new = change.exists_after.then(|| {
        let mut m = match &old {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        // As `hash_json`: fields whose names are not UTF-8 are no members.
        for (f, v) in change.set {
            if let Ok(name) = std::str::from_utf8(f) {
                m.insert(name.to_string(), field_value(v));
            }
        }
        for f in change.removed {
            if let Ok(name) = std::str::from_utf8(f) {
                m.remove(name);
            }
        }
        Value::Object(m)
    });
    let mut w = OpEntries { op, expiry: change.expiry };
    update_entries(&mut w, &cat, dk.namespace, dk.id, old.as_ref(), new.as_ref(), change.expiry_changed)
}

/// The named fields of the hash (watched one by one).
fn read_fields(op: &mut Op<'_>, key: &[u8], meta: &Meta, names: &[String]) -> Result<Value> {
    let mut got = Vec::new();
    for name in names {
        if let Some(v) = op.get(&element_key(key, meta.version, name.as_bytes()))? {
            got.push((name.as_bytes().to_vec(), v));
        }
    }
    Ok(hash_json(got.iter().map(|(f, v)| (f.as_slice(), v.as_slice()))))
}

/// Every field of the hash (the whole element range watched).
fn read_whole(op: &mut Op<'_>, key: &[u8], meta: &Meta) -> Result<Value> {
    let prefix = element_prefix(key, meta.version);
    let end = prefix_successor(&prefix);
    let mut got = Vec::new();
    for item in op.scan(&prefix, end.as_deref().unwrap_or_default(), false) {
        let (k, v) = item?;
        got.push((k[prefix.len()..].to_vec(), v));
    }
    op.watch_range((prefix, end));
    Ok(hash_json(got.iter().map(|(f, v)| (f.as_slice(), v.as_slice()))))
}
