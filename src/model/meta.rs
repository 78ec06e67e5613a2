//! The metadata record of a collection (see `docs/format/types.md`).
//!
//! ```text
//! format version u8 (1) | type u8 (1 list, 2 set, 3 hash) | version u64 LE | count u64 LE | head i64 LE
//! ```
//!
//! `version` names the generation of the collection: its elements carry it in their keys, so
//! deleting the metadata (or letting it expire) orphans every element at once, and a new
//! collection under the same key gets a fresh version its predecessor's elements cannot match.
//! `head` is the slot of a list's first element (its elements fill `head .. head + count`);
//! sets and hashes store 0.

use kvd_base::coding::{put_u64, Decoder};

use super::ValueType;
use crate::{Error, Result};

/// Version of the metadata encoding; a reader refuses any other as corruption.
pub const TYPES_FORMAT_VERSION: u8 = 1;

/// A decoded metadata record plus the expiry stored with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    pub kind: Kind,
    pub version: u64,
    pub count: u64,
    pub head: i64,
    /// Absolute expiry (ms since the epoch) of the whole collection, kept across updates.
    pub expires_at_millis: Option<u64>,
}

impl Meta {
    /// A new, empty collection of `kind` whose generation is `version`.
    pub(crate) fn new(kind: Kind, version: u64) -> Meta {
        Meta { kind, version, count: 0, head: 0, expires_at_millis: None }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(26);
        v.push(TYPES_FORMAT_VERSION);
        v.push(self.kind as u8);
        put_u64(&mut v, self.version);
        put_u64(&mut v, self.count);
        put_u64(&mut v, self.head as u64);
        v
    }

    /// Decodes the metadata stored under `key`'s metadata key; damage is a corruption error.
    pub(crate) fn decode(key: &[u8], bytes: &[u8], expires_at_millis: Option<u64>) -> Result<Meta> {
        let file = || format!("metadata of typed key {:?}", String::from_utf8_lossy(key));
        let bad = |e: kvd_base::coding::DecodeError| Error::from(e.in_file(file(), 0));
        let mut d = Decoder::new(bytes);
        let format = d.u8("types format version").map_err(bad)?;
        if format != TYPES_FORMAT_VERSION {
            return Err(Error::corruption(file(), 0, format!("unknown types format version {format}")));
        }
        let tag = d.u8("type tag").map_err(bad)?;
        let kind = match tag {
            1 => Kind::List,
            2 => Kind::Set,
            3 => Kind::Hash,
            _ => return Err(Error::corruption(file(), 1, format!("unknown type tag {tag}"))),
        };
        let version = d.u64("version").map_err(bad)?;
        let count = d.u64("count").map_err(bad)?;
        let head = d.u64("head").map_err(bad)? as i64;
        if !d.is_empty() {
            return Err(Error::corruption(file(), d.position() as u64, "trailing bytes after metadata"));
        }
        Ok(Meta { kind, version, count, head, expires_at_millis })
    }
}

/// The collection types, with their tags in the metadata record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    List = 1,
    Set = 2,
    Hash = 3,
}

impl Kind {
    pub(crate) fn value_type(self) -> ValueType {
        match self {
            Kind::List => ValueType::List,
            Kind::Set => ValueType::Set,
            Kind::Hash => ValueType::Hash,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_damage() {
        let m = Meta { kind: Kind::List, version: 42, count: 3, head: -7, expires_at_millis: Some(9) };
        let bytes = m.encode();
        assert_eq!(bytes.len(), 26);
        assert_eq!(Meta::decode(b"k", &bytes, Some(9)).unwrap(), m);
        for cut in 0..bytes.len() {
            assert!(Meta::decode(b"k", &bytes[..cut], None).unwrap_err().is_corruption());
        }
        let mut bad = bytes.clone();
        bad[1] = 9;
        assert!(Meta::decode(b"k", &bad, None).unwrap_err().is_corruption());
        bad = bytes;
        bad[0] = 2;
        assert!(Meta::decode(b"k", &bad, None).unwrap_err().is_corruption());
    }
}
