//! Sets: one element key per member (empty value), the member being the key's suffix, so
//! members come back in byte order and membership is one point read.

use std::collections::BTreeSet;

use super::keys::{element_key, element_prefix};
use super::meta::{Kind, Meta};
use super::op::{atomic, new_version, read, remove_elements, Op};
use crate::{prefix_successor, Db, Result};

/// Members of the set described by `meta`, ascending.
pub(crate) fn members(op: &Op<'_>, key: &[u8], meta: &Meta) -> Result<BTreeSet<Vec<u8>>> {
    let prefix = element_prefix(key, meta.version);
    let upper = prefix_successor(&prefix).unwrap_or_default();
    op.scan(&prefix, &upper, false).map(|r| r.map(|(k, _)| k[prefix.len()..].to_vec())).collect()
}

#[derive(Clone, Copy)]
enum Algebra {
    Inter,
    Union,
    Diff,
}

/// The result of `algebra` over the sets at `keys`, all read at `op`'s snapshot. A missing
/// key is an empty set; another type is [`crate::Error::WrongType`].
fn combine<K: AsRef<[u8]>>(op: &mut Op<'_>, keys: &[K], algebra: Algebra) -> Result<BTreeSet<Vec<u8>>> {
    let mut sets = Vec::with_capacity(keys.len());
    for k in keys {
        sets.push((k.as_ref(), op.collection(k.as_ref(), Kind::Set)?));
    }
    if let Algebra::Union = algebra {
        return union(op, &sets);
    }
    let Some(((first_key, Some(first)), rest)) = sets.split_first() else { return Ok(BTreeSet::new()) };
    let mut acc = members(op, first_key, first)?;
    for (k, meta) in rest {
        match (algebra, meta) {
            (Algebra::Inter, None) => return Ok(BTreeSet::new()),
            (Algebra::Inter, Some(m)) => acc = probe(op, k, m, acc, true)?,
            (Algebra::Diff, Some(m)) => acc = probe(op, k, m, acc, false)?,
            _ => {}
        }
    }
    Ok(acc)
}

fn union(op: &Op<'_>, sets: &[(&[u8], Option<Meta>)]) -> Result<BTreeSet<Vec<u8>>> {
    let mut acc = BTreeSet::new();
    for (k, m) in sets {
        if let Some(m) = m {
            acc.extend(members(op, k, m)?);
        }
    }
    Ok(acc)
}

/// Keeps the members of `acc` that are (`keep_present`) or are not in the set `meta`: by
/// point reads when `acc` is the smaller side, else by one scan.
fn probe(
    op: &Op<'_>,
    key: &[u8],
    meta: &Meta,
    acc: BTreeSet<Vec<u8>>,
    keep_present: bool,
) -> Result<BTreeSet<Vec<u8>>> {
    if (acc.len() as u64) < meta.count / 8 {
        let mut out = BTreeSet::new();
        for m in acc {
            if op.peek(&element_key(key, meta.version, &m))?.is_some() == keep_present {
                out.insert(m);
            }
        }
        return Ok(out);
    }
    let other = members(op, key, meta)?;
    Ok(acc.into_iter().filter(|m| other.contains(m) == keep_present).collect())
}

/// Stores `result` as the set `dest` (replacing a set there; another type is
/// [`crate::Error::WrongType`]), in `op`'s batch. Returns its size.
fn store(op: &mut Op<'_>, dest: &[u8], result: BTreeSet<Vec<u8>>) -> Result<u64> {
    let (old, _) = op.collection_or_new(dest, Kind::Set)?;
    let mut meta = Meta::new(Kind::Set, new_version(op.seq()));
    for m in &result {
        op.put(element_key(dest, meta.version, m), Vec::new());
    }
    meta.count = result.len() as u64;
    if meta.count > 0 || old.count > 0 {
        op.write_meta(dest, &meta);
    }
    Ok(meta.count)
}

fn combine_store<K: AsRef<[u8]>>(db: &Db, dest: &[u8], keys: &[K], algebra: Algebra) -> Result<u64> {
    atomic(db, Some(dest), |op| {
        let result = combine(op, keys, algebra)?;
        store(op, dest, result)
    })
}

impl Db {
    /// Adds `members` to the set `key`, creating it if the key is empty. Returns how many were
    /// not members before. O(log n) per member. [`crate::Error::WrongType`] if `key` holds
    /// another type; [`crate::Error::InvalidArgument`] for an empty or reserved key.
    pub fn sadd<M: AsRef<[u8]>>(&self, key: &[u8], members: &[M]) -> Result<u64> {
        atomic(self, Some(key), |op| {
            let (mut meta, existed) = op.collection_or_new(key, Kind::Set)?;
            let mut added = 0;
            for m in members.iter().map(AsRef::as_ref).collect::<BTreeSet<_>>() {
                let ek = element_key(key, meta.version, m);
                if existed && op.get(&ek)?.is_some() {
                    continue;
                }
                op.put(ek, Vec::new());
                added += 1;
            }
            if added > 0 {
                meta.count += added;
                op.write_meta(key, &meta);
            }
            Ok(added)
        })
    }

    /// Removes `members` from the set `key`; returns how many were members. A set left empty
    /// is deleted. A missing key removes nothing; another type is [`crate::Error::WrongType`].
    pub fn srem<M: AsRef<[u8]>>(&self, key: &[u8], members: &[M]) -> Result<u64> {
        let members: BTreeSet<&[u8]> = members.iter().map(AsRef::as_ref).collect();
        remove_elements(self, key, Kind::Set, &members)
    }

    /// True if `member` is in the set `key` (false for a missing key).
    pub fn sismember(&self, key: &[u8], member: &[u8]) -> Result<bool> {
        read(self, |op| match op.collection(key, Kind::Set)? {
            Some(meta) => Ok(op.peek(&element_key(key, meta.version, member))?.is_some()),
            None => Ok(false),
        })
    }

    /// Every member of the set `key` in ascending byte order, read at one snapshot.
    pub fn smembers(&self, key: &[u8]) -> Result<Vec<Vec<u8>>> {
        read(self, |op| match op.collection(key, Kind::Set)? {
            Some(meta) => Ok(members(op, key, &meta)?.into_iter().collect()),
            None => Ok(Vec::new()),
        })
    }

    /// The number of members of the set `key` (0 for a missing key). O(1).
    pub fn scard(&self, key: &[u8]) -> Result<u64> {
        read(self, |op| Ok(op.collection(key, Kind::Set)?.map_or(0, |m| m.count)))
    }

    /// Members in every set at `keys` (a missing key is an empty set), ascending, all read at
    /// one snapshot. [`crate::Error::WrongType`] if any key holds another type.
    pub fn sinter<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Vec<u8>>> {
        read(self, |op| Ok(combine(op, keys, Algebra::Inter)?.into_iter().collect()))
    }

    /// Members in any set at `keys`, ascending, read at one snapshot.
    pub fn sunion<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Vec<u8>>> {
        read(self, |op| Ok(combine(op, keys, Algebra::Union)?.into_iter().collect()))
    }

    /// Members of the first set that are in none of the others, ascending, read at one
    /// snapshot.
    pub fn sdiff<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Vec<u8>>> {
        read(self, |op| Ok(combine(op, keys, Algebra::Diff)?.into_iter().collect()))
    }

    /// Stores [`Db::sinter`] of `keys` as the set `dest` in one atomic step (the result is
    /// the intersection as of the commit), replacing any set there; an empty result deletes
    /// `dest`. Returns the new size. `dest` holding another type is
    /// [`crate::Error::WrongType`] (unlike Redis, which overwrites any type) and changes
    /// nothing. `dest` may be one of `keys`.
    pub fn sinterstore<K: AsRef<[u8]>>(&self, dest: &[u8], keys: &[K]) -> Result<u64> {
        combine_store(self, dest, keys, Algebra::Inter)
    }

    /// Stores [`Db::sunion`] of `keys` as the set `dest`; otherwise as [`Db::sinterstore`].
    pub fn sunionstore<K: AsRef<[u8]>>(&self, dest: &[u8], keys: &[K]) -> Result<u64> {
        combine_store(self, dest, keys, Algebra::Union)
    }

    /// Stores [`Db::sdiff`] of `keys` as the set `dest`; otherwise as [`Db::sinterstore`].
    pub fn sdiffstore<K: AsRef<[u8]>>(&self, dest: &[u8], keys: &[K]) -> Result<u64> {
        combine_store(self, dest, keys, Algebra::Diff)
    }
}
