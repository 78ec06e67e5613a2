//! Operations on a key of any type: its type, delete, and whole-key TTL.

use std::time::Duration;

use super::doc_index::{reindex, Before, DocChange, EntryExpiry};
use super::keys::{check_user_key, meta_key};
use super::meta::Kind;
use super::op::{atomic, read, Found};
use crate::{Db, Error, Result, ValueType};

impl Db {
    /// The type of the value at `key`, `None` if it is missing or expired. A plain value is
    /// [`ValueType::String`] (integers included).
    pub fn type_of(&self, key: &[u8]) -> Result<Option<ValueType>> {
        read(self, |op| {
            Ok(match op.find(key)? {
                Found::Nothing => None,
                Found::Plain(_) => Some(ValueType::String),
                Found::Collection(m) => Some(m.kind.value_type()),
            })
        })
    }

    /// Deletes the value at `key` whatever its type; returns false if there was none. O(1) for
    /// collections of any size: the metadata goes, and with it the generation its elements
    /// belong to (they become invisible at once and are reclaimed by
    /// [`Db::purge_stale_elements`]).
    pub fn del(&self, key: &[u8]) -> Result<bool> {
        atomic(self, Some(key), |op| {
            let found = op.find(key)?;
            let before = match &found {
                Found::Nothing => return Ok(false),
                Found::Plain(v) => Before::Plain(&v.value),
                Found::Collection(m) if m.kind == Kind::Hash => Before::Hash(m),
                Found::Collection(_) => Before::Nothing,
            };
            let gone = DocChange {
                before,
                set: &[],
                removed: &[],
                exists_after: false,
                expiry: EntryExpiry::Never,
                expiry_changed: false,
            };
            reindex(op, key, gone)?;
            // A plain value may shadow a collection (written through the plain API): both go.
            op.delete(key.to_vec());
            op.delete(meta_key(key));
            Ok(true)
        })
    }

    /// Makes the whole value at `key` (a plain value or an entire collection) expire `ttl`
    /// from now, keeping it otherwise unchanged. Returns false if the key is missing. An
    /// expired collection is invisible at once, as if deleted.
    /// A hash at a document key takes its index entries along (they expire with it); a JSON
    /// document in a namespace with indexes cannot expire ([`Error::InvalidArgument`]).
    pub fn expire_type(&self, key: &[u8], ttl: Duration) -> Result<bool> {
        self.rewrite_expiry(key, EntryExpiry::After(ttl))
    }

    /// Removes the expiry of the value at `key` of any type. Returns false if it is missing.
    pub fn persist_type(&self, key: &[u8]) -> Result<bool> {
        self.rewrite_expiry(key, EntryExpiry::Never)
    }

    /// Remaining time to live of the value at `key` of any type: `Ok(None)` when it has no
    /// expiry, [`Error::NotFound`] when it is missing or expired.
    pub fn ttl_type(&self, key: &[u8]) -> Result<Option<Duration>> {
        check_user_key(key)?;
        let stored = if self.get_versioned(key, None)?.is_some() { key.to_vec() } else { meta_key(key) };
        self.ttl(&stored).map_err(|e| match e {
            Error::NotFound(_) => Error::NotFound(format!("key {:?}", String::from_utf8_lossy(key))),
            e => e,
        })
    }

    fn rewrite_expiry(&self, key: &[u8], expiry: EntryExpiry) -> Result<bool> {
        atomic(self, Some(key), |op| {
            let found = op.find(key)?;
            let before = match &found {
                Found::Nothing => return Ok(false),
                // Entries of JSON documents never expire: only a new expiry needs them checked.
                Found::Plain(v) if !matches!(expiry, EntryExpiry::Never) => Some(Before::Plain(&v.value)),
                Found::Plain(_) => None,
                Found::Collection(m) if m.kind == Kind::Hash => Some(Before::Hash(m)),
                Found::Collection(_) => None,
            };
            if let Some(before) = before {
                let change =
                    DocChange { before, set: &[], removed: &[], exists_after: true, expiry, expiry_changed: true };
                reindex(op, key, change)?;
            }
            match found {
                Found::Nothing => {}
                Found::Plain(v) => op.push(expiry.put(key.to_vec(), v.value)),
                Found::Collection(m) => op.push(expiry.put(meta_key(key), m.encode())),
            }
            Ok(true)
        })
    }
}
