//! Hashes: one element key per field (the field is the key's suffix, the value its value).

use std::collections::{BTreeMap, BTreeSet};

use super::doc_index::{reindex, DocChange};
use super::int::{add, parse_int};
use super::keys::{element_key, element_prefix};
use super::meta::Kind;
use super::op::{atomic, read, remove_elements};
use crate::{prefix_successor, Db, Result};

impl Db {
    /// Sets each `(field, value)` of `pairs` in the hash `key` (a field given twice takes its
    /// last value), creating the hash if the key is empty. Returns how many fields are new.
    /// O(log n) per field. [`crate::Error::WrongType`] if `key` holds another type.
    pub fn hset<F: AsRef<[u8]>, V: AsRef<[u8]>>(&self, key: &[u8], pairs: &[(F, V)]) -> Result<u64> {
        let pairs: BTreeMap<&[u8], &[u8]> = pairs.iter().map(|(f, v)| (f.as_ref(), v.as_ref())).collect();
        atomic(self, Some(key), |op| {
            let (mut meta, existed) = op.collection_or_new(key, Kind::Hash)?;
            let set: Vec<(&[u8], &[u8])> = pairs.iter().map(|(f, v)| (*f, *v)).collect();
            reindex(op, key, DocChange::fields(existed.then_some(&meta), &set, &[], true))?;
            let mut added = 0;
            for (f, v) in &pairs {
                let ek = element_key(key, meta.version, f);
                if !existed || op.get(&ek)?.is_none() {
                    added += 1;
                }
                op.put(ek, v.to_vec());
            }
            if added > 0 {
                meta.count += added;
                op.write_meta(key, &meta);
            }
            Ok(added)
        })
    }

    /// The value of `field` in the hash `key`; `None` if either is missing.
    pub fn hget(&self, key: &[u8], field: &[u8]) -> Result<Option<Vec<u8>>> {
        read(self, |op| match op.collection(key, Kind::Hash)? {
            Some(meta) => op.peek(&element_key(key, meta.version, field)),
            None => Ok(None),
        })
    }

    /// Removes `fields` from the hash `key`; returns how many existed. A hash left empty is
    /// deleted.
    pub fn hdel<F: AsRef<[u8]>>(&self, key: &[u8], fields: &[F]) -> Result<u64> {
        let fields: BTreeSet<&[u8]> = fields.iter().map(AsRef::as_ref).collect();
        remove_elements(self, key, Kind::Hash, &fields)
    }

    /// Every `(field, value)` of the hash `key`, fields ascending, read at one snapshot.
    pub fn hgetall(&self, key: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        read(self, |op| {
            let Some(meta) = op.collection(key, Kind::Hash)? else { return Ok(Vec::new()) };
            let prefix = element_prefix(key, meta.version);
            let upper = prefix_successor(&prefix).unwrap_or_default();
            op.scan(&prefix, &upper, false).map(|r| r.map(|(k, v)| (k[prefix.len()..].to_vec(), v))).collect()
        })
    }

    /// True if the hash `key` has `field`.
    pub fn hexists(&self, key: &[u8], field: &[u8]) -> Result<bool> {
        Ok(self.hget(key, field)?.is_some())
    }

    /// The number of fields of the hash `key` (0 for a missing key). O(1).
    pub fn hlen(&self, key: &[u8]) -> Result<u64> {
        read(self, |op| Ok(op.collection(key, Kind::Hash)?.map_or(0, |m| m.count)))
    }

    /// Adds `delta` to the integer in `field` of the hash `key` (a missing field or hash
    /// counts as 0) and returns the result, stored as its decimal string.
    /// [`crate::Error::InvalidArgument`] if the field holds no integer or the result
    /// overflows `i64`; nothing changes then.
    pub fn hincrby(&self, key: &[u8], field: &[u8], delta: i64) -> Result<i64> {
        atomic(self, Some(key), |op| {
            let (mut meta, existed) = op.collection_or_new(key, Kind::Hash)?;
            let ek = element_key(key, meta.version, field);
            let current = if existed { op.get(&ek)? } else { None };
            let next = add(current.as_deref().map(|v| parse_int(key, v)).transpose()?.unwrap_or(0), delta)?;
            let text = next.to_string().into_bytes();
            reindex(op, key, DocChange::fields(existed.then_some(&meta), &[(field, &text)], &[], true))?;
            op.put(ek, text);
            if current.is_none() {
                meta.count += 1;
                op.write_meta(key, &meta);
            }
            Ok(next)
        })
    }
}
