//! The reference model: a `BTreeMap` holding exactly what a kvd database should return.
//!
//! Operations are applied to a [`Model`] and to the database alike; every read of the
//! database is then compared with the same read of the model. A snapshot of the database is
//! modelled by a clone of the model taken at the same moment.

use std::collections::BTreeMap;
use std::ops::Bound;

use kvd::{BatchOp, WriteBatch};

/// The expected state of a database: live keys and their values (tombstones are removals).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Model {
    /// An empty model.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.map.insert(key.to_vec(), value.to_vec());
    }

    /// Removes `key`.
    pub fn delete(&mut self, key: &[u8]) {
        self.map.remove(key);
    }

    /// Applies every op of `batch` in order, as the database does (later ops on the same key
    /// win). TTL ops are treated as plain puts: callers use TTLs far in the future.
    pub fn apply(&mut self, batch: &WriteBatch) {
        for op in batch.ops() {
            match op {
                BatchOp::Put { key, value }
                | BatchOp::PutWithTtl { key, value, .. }
                | BatchOp::PutWithExpiry { key, value, .. } => self.put(key, value),
                BatchOp::Delete { key } => self.delete(key),
            }
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.map.get(key).cloned()
    }

    /// Entries with `lower <= key < upper`, descending when `reverse`. An empty range (lower
    /// not below upper) yields nothing, as the database's bounded iterator does.
    pub fn scan(&self, lower: Option<&[u8]>, upper: Option<&[u8]>, reverse: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
        if let (Some(l), Some(u)) = (lower, upper) {
            if l >= u {
                return Vec::new();
            }
        }
        let lo = lower.map_or(Bound::Unbounded, |l| Bound::Included(l.to_vec()));
        let hi = upper.map_or(Bound::Unbounded, |u| Bound::Excluded(u.to_vec()));
        let it = self.map.range((lo, hi)).map(|(k, v)| (k.clone(), v.clone()));
        if reverse {
            it.rev().collect()
        } else {
            it.collect()
        }
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no key is live.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every live entry, ascending.
    pub fn entries(&self) -> impl Iterator<Item = (&Vec<u8>, &Vec<u8>)> {
        self.map.iter()
    }
}

/// Collects a database scan, turning the first error into a panic message that names the
/// failing read (tests compare full results, so an error is always a failure).
pub fn collect_scan(scan: kvd::Scan, what: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    scan.collect::<Result<Vec<_>, _>>().unwrap_or_else(|e| panic!("{what}: scan failed: {e}"))
}

/// Renders a key for assertion messages: printable ASCII as is, anything else escaped.
pub fn show(key: &[u8]) -> String {
    key.escape_ascii().to_string()
}
