//! Lists: elements in consecutive slots `head .. head + count` of one generation, so both ends
//! grow in O(log n) and an index is one point read.

use super::keys::slot_key;
use super::meta::{Kind, Meta};
use super::op::{atomic, read, Op};
use crate::{Db, Error, Result};

/// Which end of a list.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Front,
    Back,
}

/// Redis's index rule: negative indexes count from the end (-1 is the last element).
fn absolute(index: i64, len: u64) -> Option<u64> {
    let len = i64::try_from(len).ok()?;
    let i = if index < 0 { index.checked_add(len)? } else { index };
    (0..len).contains(&i).then_some(i as u64)
}

/// The inclusive range `[start, stop]` of Redis's LRANGE/LTRIM, clamped; `None` if empty.
fn clamp_range(start: i64, stop: i64, len: u64) -> Option<(u64, u64)> {
    let len = i64::try_from(len).ok()?;
    let start = if start < 0 { start.saturating_add(len).max(0) } else { start };
    let stop = if stop < 0 { stop.saturating_add(len) } else { stop.min(len - 1) };
    (start <= stop && start < len).then_some((start as u64, stop as u64))
}

fn slot(meta: &Meta, i: u64) -> Result<i64> {
    i64::try_from(i).ok().and_then(|i| meta.head.checked_add(i)).ok_or_else(|| overflow("slot"))
}

fn overflow(what: &str) -> Error {
    Error::InvalidArgument(format!("list {what} would overflow"))
}

/// Elements at positions `[from, to)` of the list, in order (reversed when `reverse`).
fn read_range(op: &Op<'_>, key: &[u8], meta: &Meta, from: u64, to: u64, reverse: bool) -> Result<Vec<Vec<u8>>> {
    let lo = slot_key(key, meta.version, slot(meta, from)?);
    let hi = slot_key(key, meta.version, slot(meta, to)?);
    let out = op.scan(&lo, &hi, reverse).map(|r| r.map(|(_, v)| v)).collect::<Result<Vec<_>>>()?;
    if out.len() as u64 != to - from {
        return Err(Error::corruption(
            format!("list {:?}", String::from_utf8_lossy(key)),
            0,
            format!("expected {} elements, found {}", to - from, out.len()),
        ));
    }
    Ok(out)
}

fn push<V: AsRef<[u8]>>(db: &Db, key: &[u8], values: &[V], end: End) -> Result<u64> {
    atomic(db, Some(key), |op| {
        let (mut meta, _) = op.collection_or_new(key, Kind::List)?;
        for v in values {
            let at = match end {
                End::Front => {
                    meta.head = meta.head.checked_sub(1).ok_or_else(|| overflow("head"))?;
                    meta.head
                }
                End::Back => slot(&meta, meta.count)?,
            };
            op.put(slot_key(key, meta.version, at), v.as_ref().to_vec());
            meta.count += 1;
        }
        if !values.is_empty() {
            op.write_meta(key, &meta);
        }
        Ok(meta.count)
    })
}

fn pop(db: &Db, key: &[u8], count: usize, end: End) -> Result<Vec<Vec<u8>>> {
    atomic(db, Some(key), |op| {
        let Some(mut meta) = op.collection(key, Kind::List)? else { return Ok(Vec::new()) };
        let n = meta.count.min(count as u64);
        if n == 0 {
            return Ok(Vec::new());
        }
        let (from, to) = match end {
            End::Front => (0, n),
            End::Back => (meta.count - n, meta.count),
        };
        let values = read_range(op, key, &meta, from, to, end == End::Back)?;
        for i in from..to {
            op.delete(slot_key(key, meta.version, slot(&meta, i)?));
        }
        if end == End::Front {
            meta.head = slot(&meta, n)?;
        }
        meta.count -= n;
        op.write_meta(key, &meta);
        Ok(values)
    })
}

impl Db {
    /// Inserts `values` at the head of the list `key`, one after the other (so the last value
    /// ends up first, as Redis's LPUSH), creating the list if the key is empty. Returns the new
    /// length. O(log n) per value, independent of the list's length. [`Error::WrongType`] if
    /// `key` holds another type; [`Error::InvalidArgument`] for an empty or reserved key.
    pub fn lpush<V: AsRef<[u8]>>(&self, key: &[u8], values: &[V]) -> Result<u64> {
        push(self, key, values, End::Front)
    }

    /// Appends `values` at the tail of the list `key`, in order, creating the list if needed.
    /// Returns the new length. Errors as [`Db::lpush`].
    pub fn rpush<V: AsRef<[u8]>>(&self, key: &[u8], values: &[V]) -> Result<u64> {
        push(self, key, values, End::Back)
    }

    /// Removes and returns up to `count` elements from the head, first element first. A list
    /// left empty is deleted. Empty for a missing key; [`Error::WrongType`] for another type.
    pub fn lpop(&self, key: &[u8], count: usize) -> Result<Vec<Vec<u8>>> {
        pop(self, key, count, End::Front)
    }

    /// Removes and returns up to `count` elements from the tail, last element first.
    /// Otherwise as [`Db::lpop`].
    pub fn rpop(&self, key: &[u8], count: usize) -> Result<Vec<Vec<u8>>> {
        pop(self, key, count, End::Back)
    }

    /// The elements at positions `start ..= stop` (negative positions count from the end, -1
    /// being the last; out-of-range bounds are clamped, as Redis's LRANGE). Empty for a
    /// missing key; [`Error::WrongType`] for another type. One snapshot read.
    pub fn lrange(&self, key: &[u8], start: i64, stop: i64) -> Result<Vec<Vec<u8>>> {
        read(self, |op| {
            let Some(meta) = op.collection(key, Kind::List)? else { return Ok(Vec::new()) };
            match clamp_range(start, stop, meta.count) {
                Some((s, e)) => read_range(op, key, &meta, s, e + 1, false),
                None => Ok(Vec::new()),
            }
        })
    }

    /// The length of the list (0 for a missing key); [`Error::WrongType`] for another type.
    pub fn llen(&self, key: &[u8]) -> Result<u64> {
        read(self, |op| Ok(op.collection(key, Kind::List)?.map_or(0, |m| m.count)))
    }

    /// The element at `index` (negative counts from the end), `None` when out of range or the
    /// key is missing; [`Error::WrongType`] for another type. One point read.
    pub fn lindex(&self, key: &[u8], index: i64) -> Result<Option<Vec<u8>>> {
        read(self, |op| {
            let Some(meta) = op.collection(key, Kind::List)? else { return Ok(None) };
            let Some(i) = absolute(index, meta.count) else { return Ok(None) };
            op.peek(&slot_key(key, meta.version, slot(&meta, i)?))
        })
    }

    /// Replaces the element at `index` (negative counts from the end). [`Error::NotFound`] for
    /// a missing key, [`Error::InvalidArgument`] for an index out of range,
    /// [`Error::WrongType`] for another type.
    pub fn lset(&self, key: &[u8], index: i64, value: &[u8]) -> Result<()> {
        atomic(self, Some(key), |op| {
            let meta = op
                .collection(key, Kind::List)?
                .ok_or_else(|| Error::NotFound(format!("no list at key {:?}", String::from_utf8_lossy(key))))?;
            let i = absolute(index, meta.count).ok_or_else(|| {
                Error::InvalidArgument(format!("index {index} out of range for length {}", meta.count))
            })?;
            op.put(slot_key(key, meta.version, slot(&meta, i)?), value.to_vec());
            Ok(())
        })
    }

    /// Keeps only the elements at positions `start ..= stop` (Redis's LTRIM rules); an empty
    /// result deletes the list in O(1), otherwise each removed element costs one delete.
    /// A missing key is a no-op; [`Error::WrongType`] for another type.
    pub fn ltrim(&self, key: &[u8], start: i64, stop: i64) -> Result<()> {
        atomic(self, Some(key), |op| {
            let Some(mut meta) = op.collection(key, Kind::List)? else { return Ok(()) };
            let Some((s, e)) = clamp_range(start, stop, meta.count) else {
                meta.count = 0;
                op.write_meta(key, &meta);
                return Ok(());
            };
            if s == 0 && e + 1 == meta.count {
                return Ok(());
            }
            for i in (0..s).chain(e + 1..meta.count) {
                op.delete(slot_key(key, meta.version, slot(&meta, i)?));
            }
            meta.head = slot(&meta, s)?;
            meta.count = e - s + 1;
            op.write_meta(key, &meta);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_index_rules() {
        assert_eq!(absolute(-1, 3), Some(2));
        assert_eq!(absolute(-4, 3), None);
        assert_eq!(absolute(3, 3), None);
        assert_eq!(absolute(i64::MIN, 3), None);
        assert_eq!(clamp_range(0, -1, 3), Some((0, 2)));
        assert_eq!(clamp_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(clamp_range(2, 1, 3), None);
        assert_eq!(clamp_range(5, 10, 3), None);
        assert_eq!(clamp_range(0, -4, 3), None);
        assert_eq!(clamp_range(0, 0, 0), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
    }
}
