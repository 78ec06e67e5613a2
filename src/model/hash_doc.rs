//! Hashes read as documents, for indexes and queries (`docs/query.md`, "Hashes").
//!
//! A hash stored at a document key (`namespace/id`) is a document of its namespace: each
//! field is a member of a flat JSON object. Hash values are bytes, so each is given the JSON
//! type its text spells: a value that is exactly how JSON writes a number (`42`, `-7`, `1.5`,
//! as [`Db::hincrby`](crate::Db::hincrby) stores them) is that number; anything else is a
//! string (invalid UTF-8 in it replaced by U+FFFD). Fields whose names are not UTF-8 are not
//! members. The same rule serves full
//! scans, index entries and filters, so every plan sees the same document.

use serde_json::{Map, Number, Value};

use super::keys::{element_prefix, meta_key, RESERVED_PREFIX};
use super::meta::{Kind, Meta};
use super::op::wrong_type;
use super::ValueType;
use crate::index::keys::split_doc_key;
use crate::{prefix_successor, Db, Result, Scan, Transaction};
use kvd_base::SeqNo;

/// The JSON value of a hash field's bytes: a number when the text is one written the way
/// JSON writes it, otherwise a string.
pub(crate) fn field_value(bytes: &[u8]) -> Value {
    let text = String::from_utf8_lossy(bytes);
    let looks_numeric = text.starts_with(|c: char| c == '-' || c.is_ascii_digit());
    if looks_numeric {
        if let Ok(n) = text.parse::<Number>() {
            if n.to_string() == text {
                return Value::Number(n);
            }
        }
    }
    Value::String(text.into_owned())
}

/// The document of a hash: its fields as a JSON object. A field whose name is not UTF-8 is
/// no member (JSON names are text, and a lossy conversion could make two fields one).
pub(crate) fn hash_json<'a>(fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Value {
    let map: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(f, v)| std::str::from_utf8(f).ok().map(|name| (name.to_string(), field_value(v))))
        .collect();
    Value::Object(map)
}

/// A hash as a document: where it is and what it holds at one sequence number.
#[derive(Debug, Clone)]
pub(crate) struct HashDoc {
    /// The user key (`namespace/id`).
    pub key: Vec<u8>,
    /// The generation its elements carry.
    pub version: u64,
    /// When the whole hash expires (ms since the epoch); its index entries expire with it.
    pub expires_at_millis: Option<u64>,
    /// `(field, value)`, fields ascending.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl HashDoc {
    /// The document.
    pub fn to_value(&self) -> Value {
        hash_json(self.fields.iter().map(|(f, v)| (f.as_slice(), v.as_slice())))
    }

    /// The key range holding the hash's elements, for preconditions: a write to any field
    /// lands in it.
    pub fn element_range(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        let prefix = element_prefix(&self.key, self.version);
        let end = prefix_successor(&prefix);
        (prefix, end)
    }
}

/// `[start, end)` of the metadata keys of the user keys in `[lower, upper)`.
pub(crate) fn meta_range(lower: &[u8], upper: &[u8]) -> (Vec<u8>, Vec<u8>) {
    (meta_key(lower), meta_key(upper))
}

fn read_fields(db: &Db, key: &[u8], version: u64, seq: SeqNo) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let prefix = element_prefix(key, version);
    let upper = prefix_successor(&prefix);
    db.scan_at(Some(&prefix), upper.as_deref(), false, seq)
        .map(|r| r.map(|(k, v)| (k[prefix.len()..].to_vec(), v)))
        .collect()
}

/// The hash at `key` as of `seq` (which a live snapshot must hold), `None` if the key holds
/// no hash (nothing, or another collection type). Plain values are not looked at.
pub(crate) fn read_hash_doc(db: &Db, key: &[u8], seq: SeqNo) -> Result<Option<HashDoc>> {
    if key.first() == Some(&RESERVED_PREFIX) {
        return Ok(None);
    }
    let Some(v) = db.get_versioned(&meta_key(key), Some(seq))? else { return Ok(None) };
    let meta = Meta::decode(key, &v.value, v.expires_at_millis)?;
    if meta.kind != Kind::Hash {
        return Ok(None);
    }
    let fields = read_fields(db, key, meta.version, seq)?;
    Ok(Some(HashDoc { key: key.to_vec(), version: meta.version, expires_at_millis: meta.expires_at_millis, fields }))
}

/// A hash as a transaction sees it: its metadata key (to delete it) and fields of it.
pub(crate) struct TxnHash {
    pub meta_key: Vec<u8>,
    pub doc: Value,
}

/// The hash at `key` as `txn` sees it, with `fields` of it (all when `None`), each read for
/// update so that a concurrent change of one conflicts at commit. `None` if the key holds
/// no collection; [`Error::WrongType`] for a list or set, which is no document.
pub(crate) fn txn_hash(txn: &Transaction<'_>, key: &[u8], fields: Option<&[String]>) -> Result<Option<TxnHash>> {
    let mk = meta_key(key);
    let Some(bytes) = txn.get_for_update(&mk)? else { return Ok(None) };
    let meta = Meta::decode(key, &bytes, None)?;
    if meta.kind != Kind::Hash {
        return Err(wrong_type(key, meta.kind.value_type(), ValueType::Hash));
    }
    let prefix = element_prefix(key, meta.version);
    let doc = match fields {
        Some(names) => {
            let mut got = Vec::new();
            for name in names {
                let mut ek = prefix.clone();
                ek.extend_from_slice(name.as_bytes());
                if let Some(v) = txn.get_for_update(&ek)? {
                    got.push((name.clone().into_bytes(), v));
                }
            }
            hash_json(got.iter().map(|(f, v)| (f.as_slice(), v.as_slice())))
        }
        None => {
            let mut got = Vec::new();
            for item in txn.prefix_scan(&prefix)? {
                let (k, v) = item?;
                got.push((k[prefix.len()..].to_vec(), v));
            }
            hash_json(got.iter().map(|(f, v)| (f.as_slice(), v.as_slice())))
        }
    };
    Ok(Some(TxnHash { meta_key: mk, doc }))
}

/// The hashes whose user keys lie in `[lower, upper)`, in key order (descending when
/// `reverse`), read at `seq`; other collection types are skipped.
pub(crate) struct HashDocs<'db> {
    db: &'db Db,
    seq: SeqNo,
    metas: Scan,
}

impl<'db> HashDocs<'db> {
    /// Hashes in `[lower, upper)` as of `seq`, which a live snapshot must hold.
    pub fn new(db: &'db Db, lower: &[u8], upper: &[u8], reverse: bool, seq: SeqNo) -> Self {
        let (lo, hi) = meta_range(lower, upper);
        HashDocs { db, seq, metas: db.scan_at(Some(&lo), Some(&hi), reverse, seq) }
    }
}

impl Iterator for HashDocs<'_> {
    type Item = Result<HashDoc>;

    fn next(&mut self) -> Option<Result<HashDoc>> {
        loop {
            let (mk, value) = match self.metas.next()? {
                Ok(kv) => kv,
                Err(e) => return Some(Err(e)),
            };
            let key = &mk[2..];
            // Only document keys are documents: typed writes maintain no index entries for
            // others (not UTF-8, or an empty id), so scans and builds must not see them.
            if std::str::from_utf8(key).ok().and_then(|k| split_doc_key(k).ok()).is_none() {
                continue;
            }
            match Meta::decode(key, &value, None) {
                Ok(m) if m.kind == Kind::Hash => {}
                Ok(_) => continue,
                Err(e) => return Some(Err(e)),
            }
            // The scan does not carry expiry; the point read does, and index entries need it.
            // A hash that expired since the scan read its metadata is skipped (in this loop:
            // many hashes can share one expiry instant).
            match read_hash_doc(self.db, key, self.seq) {
                Ok(Some(h)) => return Some(Ok(h)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
