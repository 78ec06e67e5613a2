//! The documents of a key range, whichever form they are stored in: JSON objects at their
//! keys, and hashes (metadata and elements elsewhere in the key space) at the same keys.
//!
//! [`DocScan`] merges the two in key order. A key holding both (a plain value written over a
//! hash with the plain API) is the plain value's, as every typed read sees it.

use std::cmp::Ordering;
use std::iter::Peekable;

use serde_json::Value;

use super::doc::parse_doc;
use crate::db::ExpiringScan;
use crate::model::hash_doc::{HashDoc, HashDocs};
use crate::{Db, Result};
use kvd_base::SeqNo;

/// How a document is stored.
pub(crate) enum Stored {
    /// Compact JSON text at the document key, and its expiry (set through the plain API).
    Json(Vec<u8>, Option<u64>),
    /// A hash at the document key.
    Hash(HashDoc),
}

/// One document of a scan.
pub(crate) struct StoredDoc {
    /// The document key (`namespace/id`).
    pub key: Vec<u8>,
    pub stored: Stored,
}

impl StoredDoc {
    /// The document as a JSON object; a stored value that is not one is an error.
    pub fn value(&self) -> Result<Value> {
        match &self.stored {
            Stored::Json(bytes, _) => parse_doc(&self.key, bytes),
            Stored::Hash(h) => Ok(h.to_value()),
        }
    }

    /// When the document expires (ms since the epoch): its index entries expire with it.
    pub fn expires_at_millis(&self) -> Option<u64> {
        match &self.stored {
            Stored::Json(_, at) => *at,
            Stored::Hash(h) => h.expires_at_millis,
        }
    }
}

/// The documents with keys in `[lower, upper)` at sequence number `seq` (held by a live
/// snapshot), ascending or descending.
pub(crate) struct DocScan<'db> {
    plain: Peekable<ExpiringScan>,
    hashes: Peekable<HashDocs<'db>>,
    reverse: bool,
}

impl<'db> DocScan<'db> {
    /// Documents in `[lower, upper)` as of `seq`.
    pub fn new(db: &'db Db, lower: &[u8], upper: &[u8], reverse: bool, seq: SeqNo) -> Self {
        DocScan {
            plain: db.scan_at(Some(lower), Some(upper), reverse, seq).with_expiry().peekable(),
            hashes: HashDocs::new(db, lower, upper, reverse, seq).peekable(),
            reverse,
        }
    }

    /// Which source holds the next document in scan order (errors first).
    fn next_from_plain(&mut self) -> Option<bool> {
        match (self.plain.peek(), self.hashes.peek()) {
            (None, None) => None,
            (Some(_), None) | (Some(Err(_)), _) => Some(true),
            (None, Some(_)) | (_, Some(Err(_))) => Some(false),
            (Some(Ok((pk, _, _))), Some(Ok(h))) => {
                let ord = pk.as_slice().cmp(&h.key);
                let ord = if self.reverse { ord.reverse() } else { ord };
                if ord == Ordering::Equal {
                    // The plain value shadows the hash under the same key.
                    self.hashes.next();
                }
                Some(ord != Ordering::Greater)
            }
        }
    }
}

impl Iterator for DocScan<'_> {
    type Item = Result<StoredDoc>;

    fn next(&mut self) -> Option<Result<StoredDoc>> {
        if self.next_from_plain()? {
            self.plain.next().map(|r| r.map(|(key, value, at)| StoredDoc { key, stored: Stored::Json(value, at) }))
        } else {
            self.hashes.next().map(|r| r.map(|h| StoredDoc { key: h.key.clone(), stored: Stored::Hash(h) }))
        }
    }
}
