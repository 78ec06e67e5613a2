//! A transaction's buffered writes, ordered by key, last write to a key wins.

use std::collections::btree_map::{self, BTreeMap};
use std::ops::Bound;
use std::time::Duration;

use crate::{BatchOp, WriteBatch};

/// One buffered write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Buffered {
    Put(Vec<u8>),
    PutWithTtl(Vec<u8>, Duration),
    Delete,
}

impl Buffered {
    /// The value a read inside the transaction sees; `None` for a delete.
    pub(crate) fn value(&self) -> Option<&[u8]> {
        match self {
            Buffered::Put(v) | Buffered::PutWithTtl(v, _) => Some(v),
            Buffered::Delete => None,
        }
    }
}

/// Writes not yet committed.
#[derive(Debug, Default)]
pub(crate) struct WriteBuffer {
    map: BTreeMap<Vec<u8>, Buffered>,
}

impl WriteBuffer {
    pub(crate) fn insert(&mut self, key: &[u8], w: Buffered) {
        self.map.insert(key.to_vec(), w);
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<&Buffered> {
        self.map.get(key)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.map.keys()
    }

    /// Buffered writes with `lower <= key < upper`, ascending.
    pub(crate) fn range(&self, lower: Option<&[u8]>, upper: Option<&[u8]>) -> btree_map::Range<'_, Vec<u8>, Buffered> {
        let lo = lower.map_or(Bound::Unbounded, Bound::Included);
        let hi = upper.map_or(Bound::Unbounded, Bound::Excluded);
        if let (Bound::Included(l), Bound::Excluded(h)) = (lo, hi) {
            if l >= h {
                return self.map.range::<[u8], _>((Bound::Included(h), Bound::Excluded(h)));
            }
        }
        self.map.range::<[u8], _>((lo, hi))
    }

    /// The batch that applies every buffered write.
    pub(crate) fn to_batch(&self) -> WriteBatch {
        let mut b = WriteBatch::new();
        for (k, w) in &self.map {
            b.push(match w {
                Buffered::Put(v) => BatchOp::Put { key: k.clone(), value: v.clone() },
                Buffered::PutWithTtl(v, ttl) => BatchOp::PutWithTtl { key: k.clone(), value: v.clone(), ttl: *ttl },
                Buffered::Delete => BatchOp::Delete { key: k.clone() },
            });
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_bounds() {
        let mut w = WriteBuffer::default();
        for k in [&b"a"[..], b"b", b"c"] {
            w.insert(k, Buffered::Put(k.to_vec()));
        }
        w.insert(b"b", Buffered::Delete);
        let keys = |lo: Option<&[u8]>, hi: Option<&[u8]>| w.range(lo, hi).map(|(k, _)| k.clone()).collect::<Vec<_>>();
        assert_eq!(keys(None, None).len(), 3);
        assert_eq!(keys(Some(b"b"), Some(b"c")), vec![b"b".to_vec()]);
        assert!(keys(Some(b"c"), Some(b"a")).is_empty());
        assert!(keys(Some(b"b"), Some(b"b")).is_empty());
        assert_eq!(w.get(b"b").and_then(Buffered::value), None);
        assert_eq!(w.to_batch().len(), 3);
    }
}
