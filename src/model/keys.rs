//! Where typed values live in the key space (see `docs/format/types.md`).
//!
//! Every internal key starts with `\x00`, a byte the typed API refuses as the first byte of a
//! user key, so a typed key never collides with these:
//!
//! ```text
//! metadata:  0x00 'm' | K
//! element:   0x00 'e' | len(K) u32 BE | K | version u64 BE | sub-key
//! ```
//!
//! The element prefix carries `len(K)` so that the elements of `K` never interleave with those
//! of a key that merely starts with `K`. Integers in keys are big-endian (unlike values, which
//! are little-endian) because their byte order must be their numeric order. A list slot is an
//! `i64` with its sign bit flipped, so slots sort numerically and both ends can grow.

use crate::{Error, Result};

/// First byte of every key the typed layer owns.
pub const RESERVED_PREFIX: u8 = 0x00;
const META_TAG: u8 = b'm';
const ELEM_TAG: u8 = b'e';

/// Refuses user keys the typed API cannot own: empty ones and ones in the reserved space.
pub(crate) fn check_user_key(key: &[u8]) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidArgument("key must not be empty".into()));
    }
    if key[0] == RESERVED_PREFIX {
        return Err(Error::InvalidArgument(
            "keys starting with byte 0x00 are reserved for typed-value internals".into(),
        ));
    }
    Ok(())
}

/// The metadata key of user key `key`.
pub(crate) fn meta_key(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 2);
    k.extend_from_slice(&[RESERVED_PREFIX, META_TAG]);
    k.extend_from_slice(key);
    k
}

/// The start of the whole element key space.
pub(crate) fn element_space() -> Vec<u8> {
    vec![RESERVED_PREFIX, ELEM_TAG]
}

/// The prefix shared by every element of `key` at `version`.
pub(crate) fn element_prefix(key: &[u8], version: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 14);
    k.extend_from_slice(&[RESERVED_PREFIX, ELEM_TAG]);
    k.extend_from_slice(&(key.len() as u32).to_be_bytes());
    k.extend_from_slice(key);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// The key of element `sub` of `key` at `version`.
pub(crate) fn element_key(key: &[u8], version: u64, sub: &[u8]) -> Vec<u8> {
    let mut k = element_prefix(key, version);
    k.extend_from_slice(sub);
    k
}

/// The order-preserving encoding of list slot `slot`.
pub(crate) fn slot_bytes(slot: i64) -> [u8; 8] {
    ((slot as u64) ^ (1 << 63)).to_be_bytes()
}

/// The key of list slot `slot` of `key` at `version`.
pub(crate) fn slot_key(key: &[u8], version: u64, slot: i64) -> Vec<u8> {
    element_key(key, version, &slot_bytes(slot))
}

/// Splits an element key into `(user key, version, sub-key)`; `None` if it is not one.
pub(crate) fn parse_element_key(k: &[u8]) -> Option<(&[u8], u64, &[u8])> {
    let rest = k.strip_prefix(&[RESERVED_PREFIX, ELEM_TAG][..])?;
    let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let user = rest.get(4..4 + len)?;
    let version = u64::from_be_bytes(rest.get(4 + len..12 + len)?.try_into().ok()?);
    Some((user, version, &rest[12 + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_sort_numerically() {
        let slots = [i64::MIN, -1_000_000, -2, -1, 0, 1, 2, 1_000_000, i64::MAX];
        for w in slots.windows(2) {
            assert!(slot_bytes(w[0]) < slot_bytes(w[1]), "{} vs {}", w[0], w[1]);
        }
    }

    #[test]
    fn element_keys_group_by_exact_user_key() {
        let a = element_key(b"ab", 7, b"x");
        let b = element_key(b"abc", 7, b"x");
        assert!(!b.starts_with(&element_prefix(b"ab", 7)));
        assert_eq!(parse_element_key(&a), Some((&b"ab"[..], 7, &b"x"[..])));
        assert_eq!(parse_element_key(&b), Some((&b"abc"[..], 7, &b"x"[..])));
        assert_eq!(parse_element_key(b"\x00e\x00"), None);
        assert_eq!(parse_element_key(&meta_key(b"ab")), None);
    }

    #[test]
    fn reserved_keys_are_refused() {
        assert!(check_user_key(b"").is_err());
        assert!(check_user_key(b"\x00m").is_err());
        assert!(check_user_key(b"k\x00").is_ok());
    }
}
