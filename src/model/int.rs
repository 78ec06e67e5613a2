//! Integers: a plain value holding the decimal string of an `i64`, as in Redis, so `get`
//! returns `"42"` and a string written with `put` that parses as an integer can be
//! incremented. There is no integer metadata: a plain value is the string type.

use super::op::{atomic, read, wrong_type, Found};
use crate::{BatchOp, Db, Error, Result, ValueType};

/// Parses an integer value the way Redis does: an optional `-` and decimal digits, at most
/// 20 bytes, fitting `i64`.
pub(crate) fn parse_int(key: &[u8], v: &[u8]) -> Result<i64> {
    let s = std::str::from_utf8(v).ok().filter(|s| s.len() <= 20 && !s.starts_with('+'));
    s.and_then(|s| s.parse::<i64>().ok()).ok_or_else(|| {
        Error::InvalidArgument(format!("value at key {:?} is not an integer", String::from_utf8_lossy(key)))
    })
}

/// `a + b`, or [`Error::InvalidArgument`] on overflow.
pub(crate) fn add(a: i64, b: i64) -> Result<i64> {
    a.checked_add(b).ok_or_else(|| Error::InvalidArgument(format!("increment of {a} by {b} would overflow i64")))
}

impl Db {
    /// Atomically adds `delta` to the integer at `key` (a missing key counts as 0) and
    /// returns the result, which is stored as its decimal string with the key's TTL kept.
    /// Exact under any concurrency: concurrent increments never lose one another.
    ///
    /// [`Error::InvalidArgument`] if the value is not an integer or the result overflows
    /// `i64`; [`Error::WrongType`] if `key` holds a collection. Nothing changes on error.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = kvd::Db::open(dir.path(), kvd::Options::default()).unwrap();
    /// assert_eq!(db.incr_by(b"hits", 5).unwrap(), 5);
    /// assert_eq!(db.decr_by(b"hits", 2).unwrap(), 3);
    /// assert_eq!(db.get(b"hits").unwrap().as_deref(), Some(&b"3"[..]));
    /// assert!(db.incr_by(b"hits", i64::MAX).is_err());
    /// ```
    pub fn incr_by(&self, key: &[u8], delta: i64) -> Result<i64> {
        atomic(self, Some(key), |op| {
            let (current, expiry) = match op.find(key)? {
                Found::Plain(v) => (parse_int(key, &v.value)?, v.expires_at_millis),
                Found::Nothing => (0, None),
                Found::Collection(m) => return Err(wrong_type(key, m.kind.value_type(), ValueType::String)),
            };
            let next = add(current, delta)?;
            let value = next.to_string().into_bytes();
            op.push(match expiry {
                Some(at) => BatchOp::PutWithExpiry { key: key.to_vec(), value, expires_at_millis: at },
                None => BatchOp::Put { key: key.to_vec(), value },
            });
            Ok(next)
        })
    }

    /// Atomically subtracts `delta`; otherwise as [`Db::incr_by`].
    pub fn decr_by(&self, key: &[u8], delta: i64) -> Result<i64> {
        let neg = delta.checked_neg().ok_or_else(|| Error::InvalidArgument(format!("cannot negate {delta}")))?;
        self.incr_by(key, neg)
    }

    /// The integer at `key`, `None` if missing. [`Error::InvalidArgument`] if the value is
    /// not an integer, [`Error::WrongType`] if `key` holds a collection.
    pub fn get_int(&self, key: &[u8]) -> Result<Option<i64>> {
        read(self, |op| match op.find(key)? {
            Found::Plain(v) => parse_int(key, &v.value).map(Some),
            Found::Nothing => Ok(None),
            Found::Collection(m) => Err(wrong_type(key, m.kind.value_type(), ValueType::String)),
        })
    }
}
